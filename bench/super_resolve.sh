#!/usr/bin/env bash
# Benchmark: scene inference, `hypersynth super-resolve`, against the floor of the job and
# the Python way, side by side on the same model, tiles, batch and machine (the twin of
# bench/fuse.sh). Scenes, made of the EnMAP mosaic by bench/repeat_scene.py (224 float32
# bands, DEFLATE with the floating-point predictor, nodata where the tiles leave gaps):
#   small  250 x 250 pixels, x2: 500 x 500 out;
#   large  500 x 500 pixels, x2: 1,000 x 1,000 out (4 x the pixels, 2 x the width).
# Ways:
#   hypersynth  `hypersynth super-resolve` end to end with its defaults (GDAL's cubic
#               resampling as it reads, normalise, infer, blend, write the COG and its
#               records);
#   floor       GDAL reading the input resampled x2 alone (bench/decode_floor.py --scale 2:
#               whole rows of blocks of the finer virtual raster, GDAL_NUM_THREADS=ALL_CPUS)
#               plus ONNX Runtime's run() alone on the batches the job ran;
#   floor + write  that floor plus GDAL writing the same output alone (bench/write_floor.py:
#               the finished pixels in memory, GDAL's COG driver with hypersynth's settings
#               and its own overviews), for here the output is most of the job: 224 float32
#               bands at 4 x the input's pixels;
#   Python      bench/python_super_resolve.py: rasterio + onnxruntime + numpy doing the same
#               job with the same tiling, blending and batch (its output is compared with
#               ours).
# Prints seconds, the ratios against the goals of issue 20 (hypersynth >= 0.8 x the floor and
# >= 2 x Python; 4 x the pixels <= 1.1 x the peak memory), hypersynth / (floor + write), and
# seconds per output megapixel.
#
#   bench/super_resolve.sh [--batch N] [--baseline BIN]
#       --batch     tiles per ONNX Runtime call for both ways (default: hypersynth's, 1 on
#                   the CPU)
#       --baseline  also run another hypersynth binary on the same inputs and check that
#                   every COG has the same pixels (bench/same_pixels.py, as bench/fuse.sh)
#
# After scripts/setup.sh; needs the shared data set (../shared/data, or
# $HYPERSYNTH_SHARED_DATA) and GDAL's Python bindings in /usr/bin/python3; installs rasterio
# into .venv when it is missing. About 6 minutes on 2 cores. Each way runs twice and its
# shorter run counts.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${HYPERSYNTH_SHARED_DATA:-$root/../shared/data}
enmap=$shared/enmap_potsdam/mosaic
[ -d "$enmap" ] || { echo "bench/super_resolve.sh: $shared has no EnMAP mosaic (set HYPERSYNTH_SHARED_DATA)" >&2; exit 1; }
batch="" baseline=""
while [ $# -gt 0 ]; do
    case "$1" in
        --batch) batch=$2; shift ;;
        --baseline) baseline=$(realpath "$2"); shift ;;
        *) echo "bench/super_resolve.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
source "$root/bench/scene_bench.sh"
scale=2 tile=128 overlap=16  # super-resolve's defaults

# A model with the default architecture; its speed does not depend on how long it trained.
scene=$enmap/enmap_potsdam_mosaic.tif
"$bin" train cyclegan --domain-a "$scene" --domain-b "$scene" --scale $scale --steps 10 --out "$work/m.onnx" -q
"$gdal_py" bench/repeat_scene.py "$scene" "$work/small_in.tif" 250 250
"$gdal_py" bench/repeat_scene.py "$scene" "$work/large_in.tif" 500 500
sync

rows=()
for name in small large; do
    input=$work/${name}_in.tif
    resolve=(super-resolve --model "$work/m.onnx" --input "$input" -q "${batch_args[@]}")
    timed "$work/$name.ours" "$work/$name" "$bin" "${resolve[@]}" --out "$work/$name.tif"
    if [ -n "$baseline" ]; then
        "$baseline" "${resolve[@]}" --out "$work/$name.baseline.tif" >/dev/null
        same=$("$gdal_py" bench/same_pixels.py "$work/$name.tif" "$work/$name.baseline.tif") \
            || { echo "bench/super_resolve.sh: FAILED: $name: against the baseline's COG ($baseline): $same" >&2; exit 1; }
        echo "$name: against the baseline's COG: $same"
    fi
    # seconds end to end, seconds in run(), seconds of run() alone, tiles
    python=$(best_of_two "$py" bench/python_super_resolve.py "$work/m.onnx" "$input" "$work/$name.python.tif" $scale $tile $overlap "$py_batch")
    floor=$("$gdal_py" bench/decode_floor.py --scale $scale "$input")
    write=$("$gdal_py" bench/write_floor.py "$work/$name.tif" "$work/$name.rewritten.tif")
    rows+=("$name $(cat "$work/$name.ours") $work/$name.run.json $work/$name.tif $work/$name.python.tif $floor $write $python")
done

"$py" - "${rows[@]}" <<'PY'
import json, sys
import numpy as np, rasterio
print(f"{'scene':<6} {'out pixels':>10} {'tiles':>5} {'hypersynth s':>12} {'decode s':>8} {'ORT s':>6} {'floor s':>7} "
      f"{'write s':>7} {'Python s':>8} {'s/MP':>5} {'peak MiB':>8}")
runs = {}
for row in sys.argv[1:]:
    name, wall, rss, record, ours, theirs, decode, write, py_wall, _, raw_ort, py_tiles = row.split()
    d = json.load(open(record))["details"]
    pixels, wall = d["grid"]["rows"] * d["grid"]["cols"], float(wall)
    assert d["tiles_run"] == int(py_tiles), f"{name}: hypersynth ran {d['tiles_run']} tiles, Python {py_tiles}"
    with rasterio.open(ours) as a, rasterio.open(theirs) as b:
        x, y = a.read(masked=True), b.read(masked=True)
    both = ~(np.ma.getmaskarray(x) | np.ma.getmaskarray(y))
    differ = float(np.abs(x.data[both] - y.data[both]).max())
    spread = float(x.data[both].max() - x.data[both].min())
    runs[name] = dict(wall=wall, peak=int(rss) / 1024, floor=float(decode) + float(raw_ort), write=float(write),
                      python=float(py_wall), differ=differ, spread=spread)
    r = runs[name]
    print(f"{name:<6} {pixels:>10} {d['tiles_run']:>5} {wall:>12.2f} {float(decode):>8.2f} {float(raw_ort):>6.2f} "
          f"{r['floor']:>7.2f} {r['write']:>7.2f} {r['python']:>8.2f} {wall / pixels * 1e6:>5.2f} {r['peak']:>8.0f}")
for name, r in runs.items():
    print(f"{name}: hypersynth and Python outputs differ by at most {r['differ']:.2g} (values span {r['spread']:.3g})")
    print(f"{name}: hypersynth / floor  = {r['floor'] / r['wall']:.2f} (goal >= 0.8)")
    print(f"{name}: hypersynth / (floor + write) = {(r['floor'] + r['write']) / r['wall']:.2f}")
    print(f"{name}: hypersynth / Python = {r['python'] / r['wall']:.2f} (goal >= 2)")
print(f"peak memory, large over small (4 x the pixels) = {runs['large']['peak'] / runs['small']['peak']:.2f} (goal <= 1.1)")
PY
