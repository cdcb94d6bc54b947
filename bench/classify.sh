#!/usr/bin/env bash
# Benchmark: `hypersynth classify` mapping a scene against the Python way (rasterio +
# scikit-learn, bench/python_classify.py: the same features, model type and training
# pixels, predict block by block), side by side on the same machine, for each classifier.
# Scenes made of the EnMAP mosaic by bench/repeat_scene.py (224 float32 bands, DEFLATE,
# nodata where the tiles leave gaps): small 500 x 500 and large 1,000 x 1,000 pixels (4 x
# the pixels). The classifier is fitted once on a tenth of the mosaic's labelled pixels
# (`classify --cube --labels`, not timed; the Python way fits its own, not timed either);
# the timed runs map with `--classifier-file`. Prints seconds, pixels per second, the
# ratio against Python (goal >= 2 x for the SVM and the forest), the share of pixels where
# both maps agree, and hypersynth's peak memory, large over small (goal <= 1.2).
#
#   bench/classify.sh [--classifiers rbf-svm,random-forest,knn]
#
# After scripts/setup.sh; needs the shared data set (../shared/data, or
# $HYPERSYNTH_SHARED_DATA) and GDAL's Python bindings in /usr/bin/python3; installs rasterio
# into .venv when it is missing. Each way runs twice and its shorter run counts.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${HYPERSYNTH_SHARED_DATA:-$root/../shared/data}
enmap=$shared/enmap_potsdam/mosaic
[ -d "$enmap" ] || { echo "bench/classify.sh: $shared has no EnMAP mosaic (set HYPERSYNTH_SHARED_DATA)" >&2; exit 1; }
classifiers=rbf-svm,random-forest,knn
while [ $# -gt 0 ]; do
    case "$1" in
        --classifiers) classifiers=$2; shift ;;
        *) echo "bench/classify.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
batch=""
source "$root/bench/scene_bench.sh"

mosaic=$enmap/enmap_potsdam_mosaic.tif
# A tenth of the labelled pixels of each class (every tenth in row order), the training set.
"$gdal_py" - "$enmap/enmap_potsdam_mosaic_labels.tif" "$work/train.tif" <<'PY'
import sys
import numpy as np
from osgeo import gdal
src = gdal.Open(sys.argv[1])
labels = src.ReadAsArray()
train = np.zeros_like(labels)
for c in np.unique(labels[labels > 0]):
    rows, cols = np.nonzero(labels == c)
    train[rows[::10], cols[::10]] = c
out = gdal.GetDriverByName("GTiff").CreateCopy(sys.argv[2], src)
out.GetRasterBand(1).WriteArray(train)
out = None
PY
"$gdal_py" bench/repeat_scene.py "$mosaic" "$work/small.tif" 500 500
"$gdal_py" bench/repeat_scene.py "$mosaic" "$work/large.tif" 1000 1000
sync

rows=()
for kind in ${classifiers//,/ }; do
    "$bin" -q classify --cube "$mosaic" --labels "$work/train.tif" --scene "$mosaic" --classifier "$kind" --out "$work/$kind.fit.tif"
    bands=$("$py" -c "import json, sys; print(','.join(map(str, json.load(open(sys.argv[1]))['details']['scene_bands_used'])))" \
        "$work/$kind.fit.run.json")
    for name in small large; do
        product=$work/$kind.$name
        timed "$product.ours" "$product" "$bin" -q classify --classifier-file "$work/$kind.fit.classifier.json" \
            --scene "$work/$name.tif" --out "$product.tif"
        python=$(best_of_two "$py" bench/python_classify.py "$kind" "$mosaic" "$work/train.tif" "$bands" "$work/$name.tif" \
            "$product.python.tif")
        rows+=("$kind $name $(cat "$product.ours") $product.tif $product.python.tif $python")
    done
done

"$py" - "${rows[@]}" <<'PY'
import sys
import numpy as np, rasterio
print(f"{'classifier':<14} {'scene':<6} {'pixels':>8} {'hypersynth s':>12} {'Python s':>8} {'Mpx/s':>6} {'x Python':>8} "
      f"{'agree':>6} {'peak MiB':>8}")
peaks = {}
for row in sys.argv[1:]:
    kind, name, wall, rss, ours, theirs, py_wall, pixels = row.split()
    wall, py_wall, pixels = float(wall), float(py_wall), int(pixels)
    with rasterio.open(ours) as a, rasterio.open(theirs) as b:
        x, y = a.read(1), b.read(1)
    agree = float(np.mean(x[y > 0] == y[y > 0]))
    peaks.setdefault(kind, {})[name] = int(rss) / 1024
    print(f"{kind:<14} {name:<6} {pixels:>8} {wall:>12.2f} {py_wall:>8.2f} {pixels / wall / 1e6:>6.2f} {py_wall / wall:>8.2f} "
          f"{agree:>6.4f} {int(rss) / 1024:>8.0f}")
for kind, p in peaks.items():
    print(f"{kind}: peak memory, large over small (4 x the pixels) = {p['large'] / p['small']:.2f} (goal <= 1.2)")
PY
