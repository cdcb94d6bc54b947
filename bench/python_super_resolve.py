"""The Python way of `hypersynth super-resolve`, for bench/super_resolve.sh: rasterio reads
the low-res scene resampled SCALE times finer by GDAL's cubic convolution (the whole scene
in one `read(out_shape=..., resampling=cubic)`, in physical units, nodata in a good band
voiding a pixel), numpy cuts the same grid (tiles of TILE pixels sharing OVERLAP, starting
OVERLAP/2 before the scene, reflected at its edges) and normalises them as the model's card
says, onnxruntime runs them BATCH at a time, numpy maps the outputs back to physical values
and blends them with the same sin^2 window into whole-scene sums, and rasterio writes a
tiled DEFLATE float32 GeoTIFF of every band.

    python bench/python_super_resolve.py MODEL INPUT OUT SCALE TILE OVERLAP BATCH

Then it measures onnxruntime's run() alone on batches of the same shapes, as many as the job
ran. Prints one line: seconds end to end, seconds inside run() during the job, seconds of
run() alone, tiles run.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort
import rasterio
from rasterio.enums import Resampling

from python_tiles import TiledRun, starts

model, in_path, out_path = sys.argv[1:4]
scale_by, tile, overlap, batch = (int(v) for v in sys.argv[4:8])
start = time.perf_counter()
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
norm = json.loads(session.get_modelmeta().custom_metadata_map["hypersynth.normalisation"])
offset = np.asarray(norm["offset"], np.float32)[:, None, None]
scale = np.asarray(norm["scale"], np.float32)[:, None, None]

src = rasterio.open(in_path)
rows, cols, bands = src.height * scale_by, src.width * scale_by, src.count
stored = src.read(out_shape=(bands, rows, cols), resampling=Resampling.cubic, out_dtype="float32")
gain = np.asarray([1.0 if s is None else s for s in src.scales], np.float64)[:, None, None]
bias = np.asarray([0.0 if o is None else o for o in src.offsets], np.float64)[:, None, None]
good = np.asarray([float(src.tags(b).get("bbl", 1)) != 0 for b in range(1, bands + 1)])
scene = (stored * gain + bias).astype(np.float32)
if src.nodata is None:
    valid_scene = np.ones((rows, cols), bool)
else:
    void = stored == np.float32(src.nodata)
    valid_scene = ~void[good].any(axis=0)
    scene[void] = np.nan
del stored
scene[:, ~valid_scene] = np.nan  # no data: 0 once normalised, as in hypersynth



def cut(r, c):
    """Bands x tile x tile, reflected at the edges, and the pixels with data."""
    r0, c0 = max(r, 0), max(c, 0)
    r1, c1 = min(r + tile, rows), min(c + tile, cols)
    pad = ((0, 0), (r0 - r, r + tile - r1), (c0 - c, c + tile - c1))
    inside = np.pad(valid_scene[r0:r1, c0:c1], pad[1:], constant_values=False)
    return np.pad(scene[:, r0:r1, c0:c1], pad, mode="reflect"), inside


# Outputs back to physical values before blending, as hypersynth does.
run = TiledRun(session, rows, cols, bands, tile, overlap, batch, lambda out: out * scale + offset)
for r in starts(rows, tile, overlap):
    for c in starts(cols, tile, overlap):
        x, valid = cut(r, c)
        if not valid.any():
            continue
        x = (x - offset) / scale
        x[np.isnan(x)] = 0.0
        run.add(x, r, c, valid)

nodata = src.nodata if src.nodata is not None else -9999.0
result = run.blended(np.float32(nodata)).astype(np.float32)
transform = src.transform * src.transform.scale(1 / scale_by, 1 / scale_by)
profile = dict(driver="GTiff", width=cols, height=rows, count=bands, dtype="float32", crs=src.crs,
               transform=transform, nodata=nodata, tiled=True, compress="deflate", interleave="band")
with rasterio.open(out_path, "w", **profile) as dst:
    dst.write(result)
wall = time.perf_counter() - start

print(wall, run.onnx_seconds, run.raw_seconds(), sum(run.shapes))
