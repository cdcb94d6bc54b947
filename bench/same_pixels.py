"""Compares two COGs level by level for the scene-inference benchmarks' --baseline check:
every band's stored bytes of the full-resolution level, then of each overview level.
Prints one line: "byte-identical" (the whole files), "pixels identical" (every level),
or which overview levels differ; exits 1 when the full-resolution pixels, the band count or
the levels' sizes differ. Overviews may differ between builds that make them differently
(before and after `CogWriter` averaged them itself); the scene's pixels may not.

    /usr/bin/python3 bench/same_pixels.py A.tif B.tif
"""
import filecmp
import sys

from osgeo import gdal

gdal.UseExceptions()
a_path, b_path = sys.argv[1:3]
if filecmp.cmp(a_path, b_path, shallow=False):
    print("byte-identical")
    sys.exit(0)
a, b = gdal.Open(a_path), gdal.Open(b_path)


def levels(ds):
    band = ds.GetRasterBand(1)
    return [(ds.RasterXSize, ds.RasterYSize)] + [(o.XSize, o.YSize) for o in map(band.GetOverview, range(band.GetOverviewCount()))]


if a.RasterCount != b.RasterCount or levels(a) != levels(b):
    print(f"different layouts: {a.RasterCount} bands, levels {levels(a)} against {b.RasterCount}, {levels(b)}")
    sys.exit(1)
differ = []
for level in range(len(levels(a))):
    for i in range(1, a.RasterCount + 1):
        x, y = a.GetRasterBand(i), b.GetRasterBand(i)
        if level > 0:
            x, y = x.GetOverview(level - 1), y.GetOverview(level - 1)
        if x.ReadRaster() != y.ReadRaster():
            differ.append(level)
            break
if 0 in differ:
    print(f"the full-resolution pixels differ (band {i})")
    sys.exit(1)
print("pixels identical" if not differ else f"full-resolution pixels identical; overview levels {differ} differ")
