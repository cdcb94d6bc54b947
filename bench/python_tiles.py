"""The tile grid and blending window of hypersynth's scene inference
(pipeline/src/tiling.rs), for the Python ways of the benchmarks (bench/python_fuse.py,
bench/python_super_resolve.py)."""
import math

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
