"""The Python way of `hypersynth fuse`, for bench/fuse.sh: rasterio reads the pre- and
post-event scenes tile by tile (in physical units, nodata in good bands voiding a pixel)
with the same grid (tiles of TILE pixels sharing OVERLAP,
starting OVERLAP/2 before the scene, reflected at its edges), onnxruntime runs them BATCH
at a time, numpy blends them with the same sin^2 window into whole-scene sums, and
rasterio writes the probability as a tiled DEFLATE GeoTIFF.

    python bench/python_fuse.py MODEL PRE POST OUT TILE OVERLAP BATCH

Then it measures the limit: onnxruntime's run() alone on batches of the same shapes, as
many as the job ran. Prints one line: seconds end to end, seconds inside run() during the
job, seconds of run() alone, tiles run.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort
import rasterio
from rasterio.windows import Window

from python_tiles import TiledRun, starts

model, pre_path, post_path, out_path = sys.argv[1:5]
tile, overlap, batch = (int(v) for v in sys.argv[5:8])
start = time.perf_counter()
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
norm = json.loads(meta["hypersynth.normalisation"])
mapping = json.loads(meta.get("hypersynth.output", '{"offset": [0.0], "scale": [1.0]}'))
offset = np.asarray(norm["offset"], np.float32)[:, None, None]
scale = np.asarray(norm["scale"], np.float32)[:, None, None]

pre, post = rasterio.open(pre_path), rasterio.open(post_path)
rows, cols = pre.height, pre.width


def bands_of(src):
    """Each band's scale and offset to physical values, and whether it is a good band
    (its `bbl` metadata; nodata in a bad band voids only that value, as EnMAP writes)."""
    scale = np.asarray([1.0 if s is None else s for s in src.scales], np.float64)[:, None, None]
    offset = np.asarray([0.0 if o is None else o for o in src.offsets], np.float64)[:, None, None]
    good = np.asarray([float(src.tags(b).get("bbl", 1)) != 0 for b in range(1, src.count + 1)])
    return scale, offset, good


physical_of = {id(pre): bands_of(pre), id(post): bands_of(post)}


def read_tile(src, r, c):
    """Bands x tile x tile, reflected at the edges, and the pixels with data."""
    r0, c0 = max(r, 0), max(c, 0)
    r1, c1 = min(r + tile, rows), min(c + tile, cols)
    stored = src.read(window=Window(c0, r0, c1 - c0, r1 - r0), out_dtype="float32")
    scale, offset, good = physical_of[id(src)]
    data = (stored.astype(np.float64) * scale + offset).astype(np.float32)
    if src.nodata is None:
        valid = np.ones(data.shape[1:], bool)
    else:
        void = stored == np.float32(src.nodata)
        valid = ~void[good].any(axis=0)
        data[void] = np.nan
    data[:, ~valid] = np.nan  # no data: 0 once normalised, as in hypersynth
    pad = ((0, 0), (r0 - r, r + tile - r1), (c0 - c, c + tile - c1))
    inside = np.pad(valid, pad[1:], constant_values=False)
    return np.pad(data, pad, mode="reflect"), inside


run = TiledRun(session, rows, cols, 1, tile, overlap, batch, lambda out: out)
for r in starts(rows, tile, overlap):
    for c in starts(cols, tile, overlap):
        (a, va), (b, vb) = read_tile(pre, r, c), read_tile(post, r, c)
        valid = va & vb
        if not valid.any():
            continue
        x = (np.concatenate([a, b]) - offset) / scale
        x[np.isnan(x)] = 0.0
        run.add(x, r, c, valid)

probability = run.blended(np.nan)[0]
probability = probability * mapping["scale"][0] + mapping["offset"][0]
profile = dict(driver="GTiff", width=cols, height=rows, count=1, dtype="float32", crs=pre.crs,
               transform=pre.transform, nodata=-9999.0, tiled=True, compress="deflate")
with rasterio.open(out_path, "w", **profile) as dst:
    dst.write(np.where(np.isnan(probability), -9999.0, probability).astype(np.float32), 1)
wall = time.perf_counter() - start

print(wall, run.onnx_seconds, run.raw_seconds(), sum(run.shapes))
