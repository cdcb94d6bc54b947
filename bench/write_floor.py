"""The writing floor of `super-resolve`'s benchmark: GDAL (the library hypersynth links,
through its Python bindings) writing a finished output alone, as a GDAL user writes a COG:
the pixels already in memory (an in-memory dataset with the output's grid, bands and
nodata), copied by the COG driver with hypersynth's settings (DEFLATE with the predictor,
256-pixel blocks, NUM_THREADS=ALL_CPUS) and the overviews GDAL makes itself by default.
Prints the seconds of the copy, the best of REPEAT runs.

    /usr/bin/python3 bench/write_floor.py [--repeat 2] COG OUT
"""
import argparse
import os
import time

from osgeo import gdal

gdal.UseExceptions()
gdal.SetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS")
gdal.SetConfigOption("GDAL_CACHEMAX", "512")  # hypersynth's cap

parser = argparse.ArgumentParser()
parser.add_argument("cog", help="the output to write again (read into memory first, not timed)")
parser.add_argument("out", help="where to write it (removed after each run)")
parser.add_argument("--repeat", type=int, default=2)
args = parser.parse_args()

src = gdal.Open(args.cog)
memory = gdal.GetDriverByName("MEM").CreateCopy("", src)
src = None
assert memory.GetRasterBand(1).GetOverviewCount() == 0, "the in-memory copy must not bring the COG's overviews"
options = ["COMPRESS=DEFLATE", "PREDICTOR=YES", "BIGTIFF=IF_SAFER", "BLOCKSIZE=256", "NUM_THREADS=ALL_CPUS"]
best = float("inf")
for _ in range(args.repeat):
    start = time.perf_counter()
    gdal.GetDriverByName("COG").CreateCopy(args.out, memory, options=options)
    best = min(best, time.perf_counter() - start)
    os.remove(args.out)
print(f"{best:.3f}")
