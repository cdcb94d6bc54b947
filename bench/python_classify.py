"""The Python way of `hypersynth classify`, for bench/classify.sh: scikit-learn's
StandardScaler -> PCA(30) -> classifier (SVC(C=100, gamma="scale"), RandomForestClassifier()
or KNeighborsClassifier(5)) fitted on the labelled pixels of TRAIN_CUBE under TRAIN_LABELS
(bands BANDS, 1-based, comma-separated), then SCENE mapped block by block with rasterio
(its bands BANDS, nodata where a band is nodata) to a DEFLATE-tiled GeoTIFF of class ids.
Prints the seconds of the mapping alone (the fit is not timed) and the pixels mapped.

    .venv/bin/python bench/python_classify.py KIND TRAIN_CUBE TRAIN_LABELS BANDS SCENE OUT
"""
import sys
import time

import numpy as np
import rasterio
from rasterio.windows import Window
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

kind, train_cube, train_labels, bands, scene, out = sys.argv[1:7]
bands = [int(b) for b in bands.split(",")]
classifier = {
    "rbf-svm": lambda: SVC(C=100, gamma="scale"),
    "random-forest": lambda: RandomForestClassifier(random_state=0),
    "knn": lambda: KNeighborsClassifier(5),
}[kind]()


def valid_of(src, x):
    valid = np.isfinite(x).all(axis=1)
    if src.nodata is not None:
        valid &= (x != src.nodata).all(axis=1)
    return valid


with rasterio.open(train_cube) as src, rasterio.open(train_labels) as lab:
    x = src.read(bands).reshape(len(bands), -1).T.astype(np.float64)
    y = lab.read(1).reshape(-1)
    fit = (y > 0) & valid_of(src, x)
model = make_pipeline(StandardScaler(), PCA(30), classifier).fit(x[fit], y[fit])

start = time.perf_counter()
mapped = 0
with rasterio.open(scene) as src:
    profile = dict(driver="GTiff", width=src.width, height=src.height, count=1, dtype="uint8", nodata=0, crs=src.crs,
                   transform=src.transform, tiled=True, compress="deflate", blockxsize=256, blockysize=256)
    with rasterio.open(out, "w", **profile) as dst:
        rows = max(1, (16 << 20) // (src.width * src.count))
        for top in range(0, src.height, rows):
            window = Window(0, top, src.width, min(rows, src.height - top))
            block = src.read(bands, window=window)
            x = block.reshape(len(bands), -1).T.astype(np.float64)
            valid = valid_of(src, x)
            classes = np.zeros(x.shape[0], dtype=np.uint8)
            if valid.any():
                classes[valid] = model.predict(x[valid])
            mapped += int(valid.sum())
            dst.write(classes.reshape(1, window.height, window.width), window=window)
print(f"{time.perf_counter() - start:.3f} {mapped}")
