#!/usr/bin/env bash
# Benchmark: scene inference, `hypersynth fuse` over mosaics of the real damage_salinasA pair
# (204 bands per scene, 8 x 8 copies: 664 x 688 pixels), three ways on the same model,
# tiles and machine, side by side so that their ratios hold on a noisy shared machine:
#   hypersynth  `hypersynth fuse` end to end (read, normalise, infer, blend, write the COG);
#   raw ORT     onnxruntime's run() alone on batches of the same shapes (the limit);
#   Python      bench/python_fuse.py: rasterio + onnxruntime + numpy doing the same job with
#               the same tiling and blending (its output is checked against hypersynth's).
# Then memory: peak RSS of `fuse` on the 8 x 8 mosaic and on a 16 x 16 one (4 x the pixels).
# Prints tiles/s and megapixels/s of each way and the ratios against the goals of issue 8
# (hypersynth >= 0.85 x raw ORT and >= 1.5 x Python; the 4 x mosaic <= 1.1 x the memory).
#
#   bench/fuse.sh [--tile 256 --overlap 32 --batch 4]   (after scripts/setup.sh; these three
#                                                        options go to both ways)
# Needs the shared data set (../shared/data, or $HYPERSYNTH_SHARED_DATA); installs rasterio
# into .venv when it is missing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=${HYPERSYNTH_SHARED_DATA:-$root/../shared/data}/damage_salinasA
[ -d "$data" ] || { echo "bench/fuse.sh: $data not found (set HYPERSYNTH_SHARED_DATA)" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$root"
tile=256 overlap=32 batch=4
while [ $# -gt 0 ]; do
    case "$1" in
        --tile) tile=$2 ;;
        --overlap) overlap=$2 ;;
        --batch) batch=$2 ;;
        *) echo "bench/fuse.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift 2
done
cargo build -q
bin="$root/target/debug/hypersynth"
py="$root/.venv/bin/python"
"$py" -c "import rasterio" 2>/dev/null || "$root/.venv/bin/pip" install -q rasterio

# A model with the default architecture; its speed does not depend on how long it trained.
"$bin" train pix2pix --pre "$data/pre.tif" --post "$data/post.tif" --target "$data/damage.tif" --out "$work/m.onnx" --steps 10 -q

# mosaic N SCENE OUT: N x N copies of SCENE side by side, as a tiled GeoTIFF.
source "$root/bench/mosaic.sh"

rows=()
for n in 8 16; do
    mosaic "$n" "$data/pre.tif" "$work/pre$n.tif"
    mosaic "$n" "$data/post.tif" "$work/post$n.tif"
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$work/rss$n" "$bin" fuse --model "$work/m.onnx" --pre "$work/pre$n.tif" --post "$work/post$n.tif" \
        --out "$work/damage$n.tif" --tile "$tile" --overlap "$overlap" --batch "$batch" -q >/dev/null
    end=$(date +%s.%N)
    rows+=("$n $start $end $(cat "$work/rss$n") $work/damage$n.run.json")
    if [ "$n" = 8 ]; then
        read -r py_wall py_onnx raw_onnx py_tiles < <("$py" bench/python_fuse.py "$work/m.onnx" "$work/pre8.tif" "$work/post8.tif" \
            "$work/python8.tif" "$tile" "$overlap" "$batch" 2>/dev/null)
    fi
    rm -f "$work/pre$n.tif" "$work/post$n.tif"
done

"$py" - "$py_wall $py_onnx $raw_onnx $py_tiles $work/damage8.tif $work/python8.tif" "${rows[@]}" <<'PY'
import json, sys
import numpy as np, rasterio
py_wall, py_onnx, raw_onnx, py_tiles, ours_tif, py_tif = sys.argv[1].split()
runs = []
for row in sys.argv[2:]:
    n, start, end, rss_kib, run_json = row.split()
    d = json.load(open(run_json))["details"]
    runs.append((n, float(end) - float(start), int(rss_kib) / 1024, d))
n, wall, _, d = runs[0]
tiles, pixels = d["tiles_run"], d["scene"]["rows"] * d["scene"]["cols"]
assert tiles == int(py_tiles), f"hypersynth ran {tiles} tiles, Python {py_tiles}"
ours, theirs = rasterio.open(ours_tif).read(1), rasterio.open(py_tif).read(1)
print(f"mosaic {n} x {n}: {pixels} pixels, {tiles} tiles; hypersynth and Python outputs differ by at most "
      f"{np.abs(ours - theirs).max():.2g}")
print(f"{'way':<12} {'seconds':>8} {'tiles/s':>8} {'MP/s':>6}")
rates = {}
for name, seconds in [("hypersynth", wall), ("raw ORT", float(raw_onnx)), ("Python", float(py_wall))]:
    rates[name] = tiles / seconds
    print(f"{name:<12} {seconds:>8.2f} {tiles / seconds:>8.2f} {pixels / seconds / 1e6:>6.3f}")
print(f"hypersynth: {d['onnx_seconds']:.2f} s inside ONNX Runtime, overlapped with reading")
print(f"hypersynth / raw ORT = {rates['hypersynth'] / rates['raw ORT']:.2f} (goal >= 0.85)")
print(f"hypersynth / Python  = {rates['hypersynth'] / rates['Python']:.2f} (goal >= 1.5)")
for n, wall, peak, d in runs:
    print(f"peak memory, {n} x {n} mosaic: {peak:.0f} MiB ({d['tiles_run']} tiles, {wall:.1f} s)")
print(f"peak memory, 16 x 16 over 8 x 8 (4 x the pixels) = {runs[1][2] / runs[0][2]:.2f} (goal <= 1.1)")
PY
