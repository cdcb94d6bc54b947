#!/usr/bin/env bash
# Benchmark: peak memory and seconds of `fuse` and `super-resolve` on scenes 1 x, 4 x and
# 16 x as wide as a small one, of the same height (issue 46: memory must not follow the
# width). Scenes made by bench/repeat_scene.py:
#   fuse           the damage_salinasA pair repeated to 664 rows x 688, 2,752 and 11,008
#                  columns (2 x 204 int16 bands, DEFLATE, 256 x 256 tiles);
#   super-resolve  the EnMAP mosaic repeated to 250 rows x 250, 1,000 and 4,000 columns
#                  (224 float32 bands, DEFLATE with the floating-point predictor), x2.
# Models with the default architectures (10 training steps: speed and memory do not depend
# on training). Prints each run's seconds and peak resident memory (/usr/bin/time), and
# the peaks over the 1 x scene's (goals: <= 1.1 at 4 x, <= 1.2 at 16 x, and 16 x within
# 1.5 GiB). One run each; about 8 minutes on 2 cores.
#
#   bench/wide_scenes.sh [--baseline BIN]   (also runs BIN, another hypersynth build)
#
# After scripts/setup.sh; needs the shared data set (../shared/data, or
# $HYPERSYNTH_SHARED_DATA) and GDAL's Python bindings in /usr/bin/python3.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${HYPERSYNTH_SHARED_DATA:-$root/../shared/data}
damage=$shared/damage_salinasA
enmap=$shared/enmap_potsdam/mosaic/enmap_potsdam_mosaic.tif
[ -d "$damage" ] && [ -f "$enmap" ] || { echo "bench/wide_scenes.sh: $shared has no damage_salinasA or EnMAP mosaic" >&2; exit 1; }
bins=("$root/target/debug/hypersynth")
[ "${1:-}" = --baseline ] && bins+=("$(realpath "$2")")
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$root"
cargo build -q
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$root/.ort/lib/libonnxruntime.so}
bin=${bins[0]}
"$bin" train pix2pix --pre "$damage/pre.tif" --post "$damage/post.tif" --target "$damage/damage.tif" --out "$work/fuse.onnx" --steps 10 -q
"$bin" train cyclegan --domain-a "$enmap" --domain-b "$enmap" --scale 2 --steps 10 --out "$work/sr.onnx" -q
for n in 1 4 16; do
    /usr/bin/python3 bench/repeat_scene.py "$damage/pre.tif" "$work/pre$n.tif" 664 $((688 * n))
    /usr/bin/python3 bench/repeat_scene.py "$damage/post.tif" "$work/post$n.tif" 664 $((688 * n))
    /usr/bin/python3 bench/repeat_scene.py "$enmap" "$work/sr$n.tif" 250 $((250 * n))
done
sync
# measure NAME BIN ARGS...: one line "NAME seconds peak-KiB".
measure() {
    local name=$1; shift
    rm -f "$work/out.tif" "$work/out".*
    /usr/bin/time -f "$name %e %M" -o "$work/time" "$@" --out "$work/out.tif" -q >/dev/null
    cat "$work/time"
}
for b in "${bins[@]}"; do
    for n in 1 4 16; do
        measure "$(basename "$b") fuse $n" "$b" fuse --model "$work/fuse.onnx" --pre "$work/pre$n.tif" --post "$work/post$n.tif"
        measure "$(basename "$b") super-resolve $n" "$b" super-resolve --model "$work/sr.onnx" --input "$work/sr$n.tif"
    done
done | awk '
    { key = $1 " " $2; peak[key, $3] = $5 / 1024; print $1, $2, "x" $3 " wide:", $4 " s,", int($5 / 1024) " MiB" }
    END { for (k in peak) { split(k, p, SUBSEP); if (p[2] == 1) printf "%s: peak over the 1 x scene: 4 x %.2f, 16 x %.2f\n", p[1], peak[p[1], 4] / peak[p[1], 1], peak[p[1], 16] / peak[p[1], 1] } }'
