#!/usr/bin/env bash
# The GPU checks of issue 23 on a lent NVIDIA machine that reaches no package registry and
# whose transfers are limited to 64 MiB a call: two calls on the same machine, with the
# archives scripts/gpu_bundle.sh made in .gpu/.
#   bench/gpu_device.sh host    unpacks .gpu/host.tar.xz (binaries, GDAL, data) into /tmp/hs
#                               and checks that every library resolves;
#   bench/gpu_device.sh gpu     unpacks .gpu/ort-gpu.tar.xz as scripts/setup.sh --gpu lays
#                               it out (CUDA and cuDNN from the machine's PyTorch wheels), then
#                               runs bench/gpu.sh, the ONNX Runtime tests on the GPU build and a `hypersynth run` job on
#                               --device cuda. Logs go to $OUT (or /tmp/hs/out).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
hs=/tmp/hs
out=${OUT:-$hs/out}
mkdir -p "$out"
cd "$root"
export LD_LIBRARY_PATH=$hs/lib GDAL_DATA=$hs/share/gdal PROJ_DATA=$hs/share/proj PROJ_LIB=$hs/share/proj
export HYPERSYNTH_SHARED_DATA=$hs/data PATH=$hs/bin:$PATH

case "${1:-}" in
host)
    rm -rf "$hs" && mkdir -p "$hs" && xz -dc .gpu/host.tar.xz | tar -C "$hs" -xf - || exit 1
    # In target/debug, the binary finds .ort/ as in a built checkout.
    mkdir -p target/debug && cp "$hs/bin/hypersynth" target/debug/
    for b in "$hs"/bin/*; do ldd "$b" | grep "not found" | sed "s|^|$(basename "$b"): |"; done
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
    nvidia=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])')
    echo "NVIDIA wheels: $nvidia"
    find "$nvidia/" \( -name 'libcudart.so*' -o -name 'libcudnn.so*' -o -name 'libcublasLt.so*' -o -name 'libcufft.so*' -o -name 'libcurand.so*' -o -name 'libnvrtc.so*' -o -name 'libnvinfer*' \) -printf '%p\n'
    python3 -c 'import onnxruntime as o; print("image onnxruntime", o.__version__, o.get_available_providers())'
    target/debug/hypersynth --version
    ;;
gpu)
    [ -x "$hs/bin/hypersynth" ] || { echo "gpu_device.sh: $hs is gone (a fresh machine): run the host step first" >&2; exit 3; }
    gpu=$root/.ort/gpu
    rm -rf "$gpu" && mkdir -p "$gpu/site/onnxruntime/capi" "$gpu/lib"
    xz -dc .gpu/ort-gpu.tar.xz | tar -C "$gpu/site/onnxruntime/capi" -xf - || exit 1
    ln -s "$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])')" "$gpu/site/nvidia"
    # As scripts/setup.sh --gpu: one folder linking ONNX Runtime, its providers and the NVIDIA libraries.
    find "$gpu/site/onnxruntime/capi" "$gpu/site/nvidia/" -name 'lib*.so*' -exec ln -sf {} "$gpu/lib/" \;
    (cd "$gpu/lib" && ln -sf libonnxruntime.so.1.* libonnxruntime.so)
    # The CPU runs use the GPU build's own CPU provider (one library less to carry).
    mkdir -p .ort/lib && ln -sf "$gpu/lib/libonnxruntime.so" .ort/lib/libonnxruntime.so
    bin=$root/target/debug/hypersynth
    echo "== models inspect on cuda and tensorrt"
    sample=(--cube data/samples/salinasA/salinasA.tif --labels data/samples/salinasA/salinasA_gt.tif --classes data/samples/salinasA/classes.csv)
    "$bin" train spectral "${sample[@]}" --out "$hs/g.onnx" -q
    "$bin" models inspect "$hs/g.onnx" --device cuda 2>&1 | tail -5
    "$bin" models inspect "$hs/g.onnx" --device tensorrt 2>&1 | tail -2
    echo "== bench/gpu.sh"
    HYPERSYNTH_BIN=$bin PYTHON=python3 bench/gpu.sh 2>&1 | tee "$out/gpu_bench.log"
    echo "== GPU tests"
    ORT_DYLIB_PATH=$gpu/lib/libonnxruntime.so "$hs/bin/onnx-runtime-tests" --nocapture gpu_providers io_bound 2>&1 | tail -8 | tee "$out/onnx_tests.log"
    echo "== hypersynth run on cuda"
    job=$hs/job && mkdir -p "$job" && cp data/samples/salinasA/* "$job/"
    cat > "$job/job.toml" <<'TOML'
output = "out"
seed = 0
device = "cuda"
[[scene]]
path = "salinasA.tif"
labels = "salinasA_gt.tif"
classes = "classes.csv"
[train]
generator = "gan"
steps = 50
[augment]
target_per_class = 2000
TOML
    "$bin" run "$job/job.toml" 2>&1 | tail -6
    grep -h -o '"execution_provider": *"[^"]*"\|"device": *"[^"]*"' "$job"/out/*/augment/run.json | sort | uniq -c
    ;;
*)
    sed -n '2,11p' "$0"; exit 2 ;;
esac
