#!/usr/bin/env bash
# Benchmark: the GPU execution providers against the CPU on the same jobs, side by side:
#   fuse           the 8 x 8 mosaic of damage_salinasA (as bench/fuse.sh) with --device cpu,
#                  cuda (cuDNN's exhaustive search, its heuristics, and batches of 16),
#                  tensorrt and tensorrt --fp16 (engine cache in the work folder, built by a
#                  first untimed run); the single scene with both cuDNN searches, for what
#                  the search costs once;
#   super-resolve  a 4 x 4 mosaic of damage_salinasA's pre scene on cpu, cuda and cuda with
#                  batches of 16;
#   augment        300,000 spectra (as bench/synthesis.sh) with --device cpu and cuda, from
#                  the default generator and from the conditional GAN.
# Each row: seconds end to end, the rate, the ratio to the CPU, seconds inside ONNX Runtime,
# and the largest difference of the output from the CPU's float32 result.
# Needs an NVIDIA GPU (nvidia-smi) and the GPU build of ONNX Runtime (scripts/setup.sh
# --gpu); without them it says so and measures nothing. Without TensorRT's libraries beside
# ONNX Runtime's, the TensorRT rows print the refusal instead of numbers.
#
#   bench/gpu.sh          after scripts/setup.sh --gpu; needs the shared data set and GDAL's tools
#   HYPERSYNTH_BIN=PATH PYTHON=python3 bench/gpu.sh     a built binary, another Python with numpy
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "GPU: not measured (no NVIDIA GPU on this machine)"
    exit 0
fi
gpu_lib=$root/.ort/gpu/lib
if [ ! -f "$gpu_lib/libonnxruntime_providers_cuda.so" ]; then
    echo "GPU: not measured (no GPU build of ONNX Runtime: run scripts/setup.sh --gpu)"
    exit 0
fi
shared=${HYPERSYNTH_SHARED_DATA:-$root/../shared/data}
data=$shared/damage_salinasA
[ -d "$data" ] || { echo "bench/gpu.sh: $data not found (set HYPERSYNTH_SHARED_DATA)" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$root"
bin=${HYPERSYNTH_BIN:-}
if [ -z "$bin" ]; then
    cargo build -q
    bin=$root/target/debug/hypersynth
fi
py=${PYTHON:-$root/.venv/bin/python}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

"$bin" train pix2pix --pre "$data/pre.tif" --post "$data/post.tif" --target "$data/damage.tif" --out "$work/m.onnx" --steps 10 -q
source "$root/bench/mosaic.sh"
for scene in pre post; do
    mosaic 8 "$data/$scene.tif" "$work/$scene.tif"
done
"$bin" train cyclegan --domain-a "$data/pre.tif" --domain-b "$data/pre.tif" --scale 2 --steps 10 --out "$work/sr.onnx" -q
mosaic 4 "$data/pre.tif" "$work/sr_in.tif"

rows=()
# timed_as JOB NAME COMMAND...: runs COMMAND (with ENV=VALUE words first, if any) and adds
# the row "JOB NAME seconds output.tif run.json", or "JOB NAME failed <its error: line>".
timed_as() {
    local job=$1 name=$2 start end message; shift 2
    start=$(date +%s.%N)
    if message=$(env "$@" -q 2>&1 >/dev/null); then
        end=$(date +%s.%N)
        rows+=("$job $name $(awk "BEGIN { print $end - $start }") $work/$name.tif $work/$name.run.json")
    else
        message=$(grep -m1 '^error:' <<< "$message" || tail -1 <<< "$message")
        rows+=("$job $name failed ${message// /_}")
    fi
}
fuse=("$bin" fuse --model "$work/m.onnx" --pre "$work/pre.tif" --post "$work/post.tif")
single=("$bin" fuse --model "$work/m.onnx" --pre "$data/pre.tif" --post "$data/post.tif")
trt=(--device tensorrt --tensorrt-cache "$work/trt")
timed_as fuse cpu "${fuse[@]}" --out "$work/cpu.tif" --device cpu
timed_as fuse cuda "${fuse[@]}" --out "$work/cuda.tif" --device cuda
timed_as fuse cuda-heuristic HYPERSYNTH_CUDNN_SEARCH=heuristic "${fuse[@]}" --out "$work/cuda-heuristic.tif" --device cuda
timed_as fuse cuda-batch16 "${fuse[@]}" --out "$work/cuda-batch16.tif" --device cuda --batch 16
timed_as fuse-1 cpu-1 "${single[@]}" --out "$work/cpu-1.tif" --device cpu
timed_as fuse-1 cuda-1 "${single[@]}" --out "$work/cuda-1.tif" --device cuda
timed_as fuse-1 cuda-1-heuristic HYPERSYNTH_CUDNN_SEARCH=heuristic "${single[@]}" --out "$work/cuda-1-heuristic.tif" --device cuda
if ls "$gpu_lib"/libnvinfer.so* >/dev/null 2>&1; then
    # Build the TensorRT engines once, untimed, as a nightly job finds them in its cache
    # (a failure shows in the timed rows).
    "${fuse[@]}" --out "$work/warm.tif" -q "${trt[@]}" >/dev/null 2>&1 || true
    "${fuse[@]}" --out "$work/warm16.tif" -q "${trt[@]}" --fp16 >/dev/null 2>&1 || true
    timed_as fuse tensorrt "${fuse[@]}" --out "$work/tensorrt.tif" "${trt[@]}"
    timed_as fuse tensorrt-fp16 "${fuse[@]}" --out "$work/tensorrt-fp16.tif" "${trt[@]}" --fp16
else
    timed_as fuse tensorrt "${fuse[@]}" --out "$work/tensorrt.tif" "${trt[@]}"  # the refusal, as a user meets it
fi
resolve=("$bin" super-resolve --model "$work/sr.onnx" --input "$work/sr_in.tif")
timed_as super-resolve sr-cpu "${resolve[@]}" --out "$work/sr-cpu.tif" --device cpu
timed_as super-resolve sr-cuda "${resolve[@]}" --out "$work/sr-cuda.tif" --device cuda
timed_as super-resolve sr-cuda-batch16 "${resolve[@]}" --out "$work/sr-cuda-batch16.tif" --device cuda --batch 16

sample="$root/data/samples/salinasA"
spectra=(--cube "$sample/salinasA.tif" --labels "$sample/salinasA_gt.tif" --classes "$sample/classes.csv")
# The default generator (its spectra mostly pass augment's nearest-real selection, as in
# bench/synthesis.sh), and the conditional GAN with every spectrum kept (--keep-all: an
# untrained GAN's would mostly be dropped, and the selection's distances would dominate).
"$bin" train spectral "${spectra[@]}" --out "$work/exemplar.onnx" -q
"$bin" train spectral --generator gan "${spectra[@]}" --out "$work/gan.onnx" --steps 20 -q
for device in cpu cuda; do
    for generator in exemplar gan; do
        keep=(); [ "$generator" = gan ] && keep=(--keep-all)
        timed_as augment "aug-$generator-$device" "$bin" augment --model "$work/$generator.onnx" "${spectra[@]}" \
            --out "$work/aug-$generator-$device" --target-per-class 50000 --no-report --device "$device" "${keep[@]}"
    done
done

# Float32 pixels of each output, through GDAL's own tool (no Python GDAL bindings needed).
for row in "${rows[@]}"; do
    read -r _ _ _ tif _ <<< "$row"
    [ -f "$tif" ] && gdal_translate -q -of ENVI -ot Float32 "$tif" "${tif%.tif}.f32"
done

"$py" - "${rows[@]}" <<'PY'
import json, os, sys
import numpy as np
reference = {}
print(f"{'job':<14} {'run':<18} {'seconds':>8} {'rate':>10} {'x CPU':>6} {'ORT s':>6} {'max |out - cpu|':>16}  device")
for row in sys.argv[1:]:
    job, name, seconds, *rest = row.split()
    if seconds == "failed":
        print(f"{job:<14} {name:<18} {'-':>8} {'-':>10} {'-':>6} {'-':>6} {'-':>16}  {rest[0].replace('_', ' ')}")
        continue
    tif, record = rest
    if job == "augment":
        record = os.path.join(tif[:-4], "run.json")  # augment writes into a folder
    run = json.load(open(record))["details"]
    seconds = float(seconds)
    if job == "augment":
        rate, unit, ort, device, out = sum(run["generated"].values()) / seconds, "spectra/s", None, run["execution_provider"], None
    else:
        rate, unit, ort, device = run["tiles_run"] / seconds, "tiles/s", run["onnx_seconds"], run["device"]
        out = np.fromfile(tif[:-4] + ".f32", dtype=np.float32)
    # Compared with the job's first (CPU) row; each generator's CUDA row with its CPU row.
    first = reference.setdefault(name.replace("cuda", "cpu") if job == "augment" else job, (seconds, out))
    diff = "-" if out is None else f"{np.nanmax(np.abs(out - first[1])):.2e}"
    ort = "-" if ort is None else f"{ort:.2f}"
    print(f"{job:<14} {name:<18} {seconds:>8.2f} {rate:>10.1f} {first[0] / seconds:>6.2f} {ort:>6} {diff:>16}  {device} ({unit})")
PY
