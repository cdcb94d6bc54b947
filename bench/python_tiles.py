"""The tile grid and blending window of hypersynth's scene inference
(pipeline/src/tiling.rs), for the Python ways of the benchmarks (bench/python_fuse.py,
bench/python_super_resolve.py)."""
import math
import time

import numpy as np


def starts(n, tile, overlap):
    """First rows (or columns) of the tiles along a side of n pixels: from -overlap/2 in
    steps of tile - overlap until the tiles reach overlap/2 past the end."""
    step, margin = tile - overlap, overlap // 2
    s = [-margin]
    while s[-1] + tile < n + margin:
        s.append(s[-1] + step)
    return s


def blend_weights(tile, overlap):
    """Each tile pixel's weight: sin^2 ramps over `overlap` pixels at each border, 1 inside."""
    ramp = np.array([1.0 if overlap == 0 or min(i, tile - 1 - i) + 0.5 >= overlap
                     else math.sin(math.pi / 2 * (min(i, tile - 1 - i) + 0.5) / overlap) ** 2
                     for i in range(tile)], np.float32)
    return np.outer(ramp, ramp)


class TiledRun:
    """Tiles through an onnxruntime session BATCH at a time, each output (after `to_output`,
    per tile: channels x tile x tile) blended into whole-scene sums of `channels` x rows x
    cols with the window, where the tile has data; times run() and keeps the batch shapes
    to time run() alone afterwards."""

    def __init__(self, session, rows, cols, channels, tile, overlap, batch, to_output):
        self.session, self.rows, self.cols, self.tile, self.batch = session, rows, cols, tile, batch
        self.to_output, self.weights = to_output, blend_weights(tile, overlap)
        self.total = np.zeros((channels, rows, cols), np.float32)
        self.weight = np.zeros((rows, cols), np.float32)
        self.onnx_seconds, self.shapes, self.first_batch = 0.0, [], None
        self.pending, self.inputs = [], []

    def add(self, x, r, c, valid):
        """Queues the normalised tile `x` whose corner is at (r, c), with its pixels of data."""
        self.inputs.append(x.astype(np.float32))
        self.pending.append((r, c, valid))
        if len(self.inputs) == self.batch:
            self.flush()

    def flush(self):
        """Runs the queued tiles and blends their outputs."""
        if not self.inputs:
            return
        x = np.stack(self.inputs)
        t = time.perf_counter()
        y = self.session.run(None, {"image": x})[0]
        self.onnx_seconds += time.perf_counter() - t
        self.shapes.append(len(self.inputs))
        if self.first_batch is None:
            self.first_batch = x
        tile = self.tile
        for (r, c, valid), out in zip(self.pending, y):
            out = self.to_output(out)
            r0, c0 = max(r, 0), max(c, 0)
            r1, c1 = min(r + tile, self.rows), min(c + tile, self.cols)
            w = (self.weights * valid)[r0 - r:r1 - r, c0 - c:c1 - c]
            self.total[:, r0:r1, c0:c1] += w * out[:, r0 - r:r1 - r, c0 - c:c1 - c]
            self.weight[r0:r1, c0:c1] += w
        self.pending.clear()
        self.inputs.clear()

    def blended(self, empty):
        """The blended scene, `empty` where no tile had data."""
        self.flush()
        return np.where(self.weight > 0, self.total / np.maximum(self.weight, 1e-30), empty)

    def raw_seconds(self):
        """run() alone on batches of the shapes the job ran."""
        t = time.perf_counter()
        for n in self.shapes:
            self.session.run(None, {"image": self.first_batch[:n]})
        return time.perf_counter() - t
