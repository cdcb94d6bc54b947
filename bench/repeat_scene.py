"""Writes copies of a small scene side by side as one large scene, for the scene-inference
benchmarks: ROWS x COLS pixels starting at (FIRST_ROW, FIRST_COL) of the repeated pattern,
on the source's grid from its corner (so that two such scenes with different starts are
co-registered but differ pixel by pixel), with the source's bands, band metadata (wavelengths, FWHM, scale), nodata value and CRS,
as a pixel-interleaved, DEFLATE-tiled GeoTIFF (the source's predictor), written strip by
strip on every core. Run with the system Python (GDAL's bindings):

    /usr/bin/python3 bench/repeat_scene.py SOURCE OUT ROWS COLS [FIRST_ROW FIRST_COL]
"""
import sys

import numpy as np
from osgeo import gdal

gdal.UseExceptions()
source_path, out_path = sys.argv[1:3]
rows, cols = int(sys.argv[3]), int(sys.argv[4])
first_row, first_col = (int(v) for v in sys.argv[5:7]) if len(sys.argv) > 5 else (0, 0)

source = gdal.Open(source_path)
pattern = source.ReadAsArray()  # bands x height x width
bands, height, width = pattern.shape
structure = source.GetMetadata("IMAGE_STRUCTURE")
options = ["TILED=YES", "COMPRESS=DEFLATE", "INTERLEAVE=PIXEL", "NUM_THREADS=ALL_CPUS", "BIGTIFF=IF_SAFER"]
if "PREDICTOR" in structure:
    options.append(f"PREDICTOR={structure['PREDICTOR']}")
out = gdal.GetDriverByName("GTiff").Create(out_path, cols, rows, bands, source.GetRasterBand(1).DataType, options)
out.SetGeoTransform(source.GetGeoTransform())
out.SetProjection(source.GetProjection())
out.SetMetadata(source.GetMetadata())
for b in range(1, bands + 1):
    src, dst = source.GetRasterBand(b), out.GetRasterBand(b)
    dst.SetMetadata(src.GetMetadata())
    dst.SetDescription(src.GetDescription())
    if src.GetNoDataValue() is not None:
        dst.SetNoDataValue(src.GetNoDataValue())
    if src.GetScale() is not None:
        dst.SetScale(src.GetScale())
    if src.GetOffset() is not None:
        dst.SetOffset(src.GetOffset())
strip = 256
col_index = (first_col + np.arange(cols)) % width
for row in range(0, rows, strip):
    n = min(strip, rows - row)
    row_index = (first_row + row + np.arange(n)) % height
    out.WriteArray(pattern[:, row_index][:, :, col_index], xoff=0, yoff=row)
out = None
