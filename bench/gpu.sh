#!/usr/bin/env bash
# Benchmark: the GPU execution providers against the CPU on the same jobs, side by side:
#   fuse     the 8 x 8 mosaic of damage_salinasA (as bench/fuse.sh) with --device cpu, cuda,
#            tensorrt and tensorrt --fp16 (engine cache in the work folder, built by a first
#            untimed run); tiles/s, the ratio to the CPU, and the largest difference of the
#            probability from the CPU's float32 result;
#   augment  300,000 spectra (as bench/synthesis.sh) with --device cpu and cuda; spectra/s.
# Needs an NVIDIA GPU (nvidia-smi) and the GPU build of ONNX Runtime (scripts/setup.sh --gpu);
# without them it says so and measures nothing.
#
#   bench/gpu.sh                 (after scripts/setup.sh --gpu; needs the shared data set)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "GPU: not measured (no NVIDIA GPU on this machine)"
    exit 0
fi
if [ ! -f "$root/.ort/gpu/lib/libonnxruntime_providers_cuda.so" ]; then
    echo "GPU: not measured (no GPU build of ONNX Runtime: run scripts/setup.sh --gpu)"
    exit 0
fi
data=${HYPERSYNTH_SHARED_DATA:-$root/../shared/data}/damage_salinasA
[ -d "$data" ] || { echo "bench/gpu.sh: $data not found (set HYPERSYNTH_SHARED_DATA)" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$root"
cargo build -q
bin="$root/target/debug/hypersynth"
py="$root/.venv/bin/python"
nvidia-smi -L

"$bin" train pix2pix --pre "$data/pre.tif" --post "$data/post.tif" --target "$data/damage.tif" --out "$work/m.onnx" --steps 10 -q
source "$root/bench/mosaic.sh"
for scene in pre post; do
    mosaic 8 "$data/$scene.tif" "$work/$scene.tif"
done

# fuse_as NAME DEVICE-ARGS...: one timed fuse run; prints "NAME seconds out.tif run.json".
fuse_as() {
    local name=$1; shift
    local start end
    start=$(date +%s.%N)
    "$bin" fuse --model "$work/m.onnx" --pre "$work/pre.tif" --post "$work/post.tif" --out "$work/$name.tif" -q "$@" >/dev/null
    end=$(date +%s.%N)
    echo "$name $(awk "BEGIN { print $end - $start }") $work/$name.tif $work/$name.run.json"
}
trt=(--device tensorrt --tensorrt-cache "$work/trt")
# Build the TensorRT engines once, untimed, as a nightly job finds them in its cache.
"$bin" fuse --model "$work/m.onnx" --pre "$work/pre.tif" --post "$work/post.tif" --out "$work/warm.tif" -q "${trt[@]}" >/dev/null
"$bin" fuse --model "$work/m.onnx" --pre "$work/pre.tif" --post "$work/post.tif" --out "$work/warm16.tif" -q "${trt[@]}" --fp16 >/dev/null
runs=("$(fuse_as cpu --device cpu)" "$(fuse_as cuda --device cuda)" "$(fuse_as tensorrt "${trt[@]}")" "$(fuse_as tensorrt-fp16 "${trt[@]}" --fp16)")

sample="$root/data/samples/salinasA"
spectra=(--cube "$sample/salinasA.tif" --labels "$sample/salinasA_gt.tif" --classes "$sample/classes.csv")
"$bin" train spectral --generator gan "${spectra[@]}" --out "$work/g.onnx" --steps 20 -q
augment_runs=()
for device in cpu cuda; do
    start=$(date +%s.%N)
    "$bin" augment --model "$work/g.onnx" "${spectra[@]}" --out "$work/aug-$device" --target-per-class 50000 --no-report --device "$device" -q
    end=$(date +%s.%N)
    augment_runs+=("$device $(awk "BEGIN { print $end - $start }") $work/aug-$device/run.json")
done

"$py" - "${runs[@]}" -- "${augment_runs[@]}" <<'PY'
import json, sys
import numpy as np, rasterio
args = sys.argv[1:]
split = args.index("--")
fuse, augment = args[:split], args[split + 1:]
cpu = None
print(f"{'fuse':<14} {'seconds':>8} {'tiles/s':>8} {'x CPU':>6} {'ORT s':>6} {'max |p - p_cpu|':>16}")
for row in fuse:
    name, seconds, tif, run_json = row.split()
    d = json.load(open(run_json))["details"]
    p = rasterio.open(tif).read(1)
    if cpu is None:
        cpu = (float(seconds), p)
    rate = d["tiles_run"] / float(seconds)
    print(f"{name:<14} {float(seconds):>8.2f} {rate:>8.2f} {cpu[0] / float(seconds):>6.2f} {d['onnx_seconds']:>6.2f} "
          f"{np.abs(p - cpu[1]).max():>16.2e}  ({d['device']})")
base = None
print(f"{'augment':<14} {'seconds':>8} {'spectra/s':>10} {'x CPU':>6}")
for row in augment:
    name, seconds, run_json = row.split()
    run = json.load(open(run_json))
    n = sum(run["details"]["generated"].values())
    base = base or float(seconds)
    print(f"{name:<14} {float(seconds):>8.2f} {n / float(seconds):>10.0f} {base / float(seconds):>6.2f}  "
          f"({run['details']['execution_provider']})")
PY
