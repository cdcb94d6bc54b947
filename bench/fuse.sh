#!/usr/bin/env bash
# Benchmark: scene inference, `hypersynth fuse`, against the floor of the job and the Python
# way, side by side on the same model, tiles, batch and machine so that their ratios hold
# on a noisy shared machine. Scenes:
#   8 x 8    mosaic of the real damage_salinasA pair: 664 x 688 pixels, 2 x 204 int16 bands;
#   16 x 16  the same, 4 x the pixels (hypersynth only: time and peak memory);
#   full     a 1,000 x 1,000 pixel pair of 224 float32 bands made of the EnMAP mosaic
#            (bench/repeat_scene.py; DEFLATE with the floating-point predictor and nodata
#            where the tiles leave gaps, as EnMAP L2A scenes come), post shifted against pre.
# Ways (8 x 8 and full):
#   hypersynth  `hypersynth fuse` end to end with its defaults (read, normalise, infer, blend,
#               write the COG and its records);
#   floor       GDAL decoding both inputs alone (bench/decode_floor.py: whole rows of file
#               blocks, the files' own types, GDAL_NUM_THREADS=ALL_CPUS) plus ONNX Runtime's
#               run() alone on the batches the job ran: what a job that must read its scenes
#               cannot beat;
#   Python      bench/python_fuse.py: rasterio + onnxruntime + numpy doing the same job with
#               the same tiling, blending and batch (its output is checked against ours).
# Prints seconds, the ratios against the goals of issue 20 (hypersynth >= 0.8 x the floor and
# >= 2 x Python; 4 x the pixels <= 1.1 x the peak memory), and seconds per megapixel.
#
#   bench/fuse.sh [--batch N] [--baseline BIN] [--no-full-size]
#       --batch     tiles per ONNX Runtime call for both ways (default: hypersynth's, 1 on
#                   the CPU)
#       --baseline  also run another hypersynth binary (say, a build of the previous
#                   commit) on the same inputs and check that every COG has the same
#                   pixels (bench/same_pixels.py: byte-identical files, or identical
#                   full-resolution pixels, saying which overview levels differ)
#
# After scripts/setup.sh; needs the shared data set (../shared/data, or
# $HYPERSYNTH_SHARED_DATA) and GDAL's Python bindings in /usr/bin/python3 (Debian's gdal-bin
# brings them); installs rasterio into .venv when it is missing. About 7 minutes. Each way
# runs twice and its shorter run counts.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${HYPERSYNTH_SHARED_DATA:-$root/../shared/data}
data=$shared/damage_salinasA
enmap=$shared/enmap_potsdam/mosaic
[ -d "$data" ] && [ -d "$enmap" ] || { echo "bench/fuse.sh: $shared has no damage_salinasA or EnMAP mosaic (set HYPERSYNTH_SHARED_DATA)" >&2; exit 1; }
batch="" baseline="" full=1
while [ $# -gt 0 ]; do
    case "$1" in
        --batch) batch=$2; shift ;;
        --baseline) baseline=$(realpath "$2"); shift ;;
        --no-full-size) full=0 ;;
        *) echo "bench/fuse.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
source "$root/bench/scene_bench.sh"

# Models with the default architecture; their speed does not depend on how long they trained.
"$bin" train pix2pix --pre "$data/pre.tif" --post "$data/post.tif" --target "$data/damage.tif" --out "$work/m204.onnx" --steps 10 -q
source "$root/bench/mosaic.sh"
for n in 8 16; do
    mosaic "$n" "$data/pre.tif" "$work/pre$n.tif"
    mosaic "$n" "$data/post.tif" "$work/post$n.tif"
done
scenes=("8x8 m204 $work/pre8.tif $work/post8.tif" "16x16 m204 $work/pre16.tif $work/post16.tif")
if [ "$full" = 1 ]; then
    gdal_calc.py --quiet -A "$enmap/enmap_potsdam_mosaic_labels.tif" --calc="A==4" --type=Byte --outfile="$work/trees.tif"
    "$bin" train pix2pix --pre "$enmap/enmap_potsdam_mosaic.tif" --post "$enmap/enmap_potsdam_mosaic.tif" --target "$work/trees.tif" \
        --out "$work/m224.onnx" --steps 10 -q
    "$gdal_py" bench/repeat_scene.py "$enmap/enmap_potsdam_mosaic.tif" "$work/full_pre.tif" 1000 1000
    "$gdal_py" bench/repeat_scene.py "$enmap/enmap_potsdam_mosaic.tif" "$work/full_post.tif" 1000 1000 37 53
    scenes+=("full m224 $work/full_pre.tif $work/full_post.tif")
fi

# The inputs on disk, not in dirty pages still being written while the ways are timed.
sync


rows=()
for scene in "${scenes[@]}"; do
    read -r name model pre post <<< "$scene"
    fuse=(fuse --model "$work/$model.onnx" --pre "$pre" --post "$post" -q "${batch_args[@]}")
    timed "$work/$name.ours" "$work/$name" "$bin" "${fuse[@]}" --out "$work/$name.tif"
    if [ -n "$baseline" ]; then
        "$baseline" "${fuse[@]}" --out "$work/$name.baseline.tif" >/dev/null
        same=$("$gdal_py" bench/same_pixels.py "$work/$name.tif" "$work/$name.baseline.tif") \
            || { echo "bench/fuse.sh: FAILED: $name: against the baseline's COG ($baseline): $same" >&2; exit 1; }
        echo "$name: against the baseline's COG: $same"
    fi
    python="- - - -" floor="-"
    if [ "$name" != 16x16 ]; then
        # seconds end to end, seconds in run(), seconds of run() alone, tiles
        python=$(best_of_two "$py" bench/python_fuse.py "$work/$model.onnx" "$pre" "$post" "$work/$name.python.tif" 256 32 "$py_batch")
        floor=$("$gdal_py" bench/decode_floor.py "$pre" "$post")
    fi
    rows+=("$name $(cat "$work/$name.ours") $work/$name.run.json $work/$name.tif $work/$name.python.tif $floor $python")
done

"$py" - "${rows[@]}" <<'PY'
import json, sys
import numpy as np, rasterio
print(f"{'scene':<6} {'pixels':>9} {'tiles':>5} {'hypersynth s':>12} {'decode s':>8} {'ORT s':>6} {'floor s':>7} "
      f"{'Python s':>8} {'s/MP':>5} {'peak MiB':>8}")
runs = {}
for row in sys.argv[1:]:
    name, wall, rss, record, ours, theirs, decode, py_wall, _, raw_ort, py_tiles = row.split()
    d = json.load(open(record))["details"]
    pixels, wall = d["scene"]["rows"] * d["scene"]["cols"], float(wall)
    runs[name] = dict(wall=wall, peak=int(rss) / 1024, tiles=d["tiles_run"])
    if decode != "-":
        assert d["tiles_run"] == int(py_tiles), f"{name}: hypersynth ran {d['tiles_run']} tiles, Python {py_tiles}"
        a, b = rasterio.open(ours).read(1), rasterio.open(theirs).read(1)
        runs[name].update(floor=float(decode) + float(raw_ort), python=float(py_wall), differ=float(np.abs(a - b).max()))
    r = runs[name]
    cells = [f"{float(decode):>8.2f}", f"{float(raw_ort):>6.2f}", f"{r['floor']:>7.2f}", f"{r['python']:>8.2f}"] if "floor" in r \
        else [f"{'-':>8}", f"{'-':>6}", f"{'-':>7}", f"{'-':>8}"]
    print(f"{name:<6} {pixels:>9} {r['tiles']:>5} {wall:>12.2f} {' '.join(cells)} {wall / pixels * 1e6:>5.2f} {r['peak']:>8.0f}")
for name, r in runs.items():
    if "floor" in r:
        print(f"{name}: hypersynth and Python outputs differ by at most {r['differ']:.2g}")
        print(f"{name}: hypersynth / floor  = {r['floor'] / r['wall']:.2f} (goal >= 0.8)")
        print(f"{name}: hypersynth / Python = {r['python'] / r['wall']:.2f} (goal >= 2)")
print(f"peak memory, 16 x 16 over 8 x 8 (4 x the pixels) = {runs['16x16']['peak'] / runs['8x8']['peak']:.2f} (goal <= 1.1)")
PY
