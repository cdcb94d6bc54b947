#!/usr/bin/env bash
# Benchmark: `hypersynth fuse` over mosaics of the real damage_salinasA pair (204 bands per
# scene): 8 x 8 copies (664 x 688 pixels) and 16 x 16 copies (1328 x 1376, 4 x the pixels).
# Prints, per mosaic, tiles/s, the ratio of end-to-end time to the time spent inside ONNX
# Runtime on the same tiles, and peak memory; then the large mosaic's peak memory over the
# small one's (flat memory: about 1).
#
#   bench/fuse.sh [--tile 256 --overlap 32 --batch 4 ...]   (after scripts/setup.sh; the
#                                                            arguments go to fuse)
# Needs the shared data set (../shared/data, or $HYPERSYNTH_SHARED_DATA).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=${HYPERSYNTH_SHARED_DATA:-$root/../shared/data}/damage_salinasA
[ -d "$data" ] || { echo "bench/fuse.sh: $data not found (set HYPERSYNTH_SHARED_DATA)" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$root"
cargo build -q
bin="$root/target/debug/hypersynth"

# A model with the default architecture; its speed does not depend on how long it trained.
"$bin" train pix2pix --pre "$data/pre.tif" --post "$data/post.tif" --target "$data/damage.tif" --out "$work/m.onnx" --steps 10 -q

# mosaic N SCENE OUT: N x N copies of SCENE side by side, as a tiled GeoTIFF.
mosaic() {
    local n=$1 scene=$2 out=$3 parts=()
    for ((i = 0; i < n; i++)); do
        for ((j = 0; j < n; j++)); do
            gdal_translate -q -of VRT -a_ullr $((j * 86)) $((-i * 83)) $((j * 86 + 86)) $((-i * 83 - 83)) "$scene" "$work/part_${i}_${j}.vrt"
            parts+=("$work/part_${i}_${j}.vrt")
        done
    done
    gdalbuildvrt -q "$work/mosaic.vrt" "${parts[@]}"
    gdal_translate -q -co TILED=YES -co COMPRESS=DEFLATE -co INTERLEAVE=PIXEL "$work/mosaic.vrt" "$out"
    rm -f "$work"/part_*.vrt "$work/mosaic.vrt"
}

rows=()
for n in 8 16; do
    mosaic "$n" "$data/pre.tif" "$work/pre$n.tif"
    mosaic "$n" "$data/post.tif" "$work/post$n.tif"
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$work/rss$n" "$bin" fuse --model "$work/m.onnx" --pre "$work/pre$n.tif" --post "$work/post$n.tif" \
        --out "$work/damage$n.tif" -q "$@" >/dev/null
    end=$(date +%s.%N)
    rows+=("$n $start $end $(cat "$work/rss$n") $work/damage$n.run.json")
    rm -f "$work/pre$n.tif" "$work/post$n.tif"
done

"$root/.venv/bin/python" - "${rows[@]}" <<'PY'
import json, sys
print(f"{'mosaic':>8} {'pixels':>9} {'tiles':>6} {'tiles/s':>8} {'wall s':>7} {'ORT s':>6} {'wall/ORT':>8} {'peak MiB':>9}")
peaks = []
for row in sys.argv[1:]:
    n, start, end, rss_kib, run_json = row.split()
    run = json.load(open(run_json))
    d = run["details"]
    wall = float(end) - float(start)
    peaks.append(int(rss_kib) / 1024)
    print(f"{n + ' x ' + n:>8} {d['scene']['rows'] * d['scene']['cols']:>9} {d['tiles_run']:>6} {d['tiles_run'] / wall:>8.2f} "
          f"{wall:>7.1f} {d['onnx_seconds']:>6.1f} {wall / d['onnx_seconds']:>8.2f} {peaks[-1]:>9.0f}")
print(f"peak memory, 16 x 16 over 8 x 8 (4 x the pixels): {peaks[1] / peaks[0]:.2f}")
PY
