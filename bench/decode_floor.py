"""The decoding floor of the scene-inference benchmarks: GDAL (the library hypersynth links,
through its Python bindings, so the same build and codecs) reading each input once, with
the best settings measured (docs/PERFORMANCE.md): windows of whole rows of file blocks,
the file's own sample type, GDAL_NUM_THREADS=ALL_CPUS. Nothing else happens to the
values. Prints the seconds, the best of REPEAT runs.

    /usr/bin/python3 bench/decode_floor.py [--repeat 2] [--scale S] FILE...

With --scale, each file is read through a virtual raster S times finer, resampled with
cubic convolution into float32, as `super-resolve` reads its input.
"""
import argparse
import time

import numpy as np
from osgeo import gdal, gdal_array

gdal.UseExceptions()
gdal.SetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS")
gdal.SetConfigOption("GDAL_CACHEMAX", "512")  # hypersynth's cap

parser = argparse.ArgumentParser()
parser.add_argument("files", nargs="+")
parser.add_argument("--repeat", type=int, default=2)
parser.add_argument("--scale", type=int)
args = parser.parse_args()


def open_input(path):
    ds = gdal.Open(path)
    if args.scale:
        ds = gdal.Translate("", ds, format="VRT", width=ds.RasterXSize * args.scale, height=ds.RasterYSize * args.scale,
                            resampleAlg="cubic", outputType=gdal.GDT_Float32)
    return ds


best = float("inf")
for _ in range(args.repeat):
    start = time.perf_counter()
    for path in args.files:
        ds = open_input(path)
        band = ds.GetRasterBand(1)
        block_rows = band.GetBlockSize()[1]
        # One buffer for every window, as a streaming reader keeps.
        dtype = gdal_array.GDALTypeCodeToNumericTypeCode(band.DataType)
        buffer = np.empty((ds.RasterCount, block_rows, ds.RasterXSize), dtype)
        for row in range(0, ds.RasterYSize, block_rows):
            rows = min(block_rows, ds.RasterYSize - row)
            ds.ReadAsArray(0, row, ds.RasterXSize, rows, buf_obj=buffer[:, :rows] if rows == block_rows else None)
        band = ds = None
    best = min(best, time.perf_counter() - start)
print(best)
