#!/usr/bin/env bash
# Packs what a bare NVIDIA machine that reaches no package registry needs to run
# bench/gpu_device.sh, into .gpu/ (ignored by git), as two archives that each fit a 64 MiB
# transfer:
#   .gpu/host.tar.xz     the built hypersynth binary and the ONNX Runtime tests, GDAL's tools
#                        with every library they and hypersynth link (not glibc), GDAL's and
#                        PROJ's data, and the shared data the GPU runs read;
#   .gpu/ort-gpu.tar.xz  the onnxruntime-gpu wheel's libraries, with the CUDA provider's
#                        kernels pruned to one architecture (scripts/prune_fatbin.py).
# The machine's own PyTorch install supplies CUDA's and cuDNN's libraries (CUDA 13), and
# the GPU build's ONNX Runtime serves the CPU runs too.
#
#   scripts/gpu_bundle.sh [--arch 90]     after scripts/setup.sh and cargo test --workspace --no-run
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
arch=90
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch=$2; shift ;;
        *) echo "gpu_bundle.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
ort_version=$(sed -n 's/^ORT_VERSION=//p' "$root/scripts/setup.sh")
shared=${HYPERSYNTH_SHARED_DATA:-$root/../shared/data}
out=$root/.gpu
mkdir -p "$out"
grep -qx '/.gpu/' "$root/.git/info/exclude" 2>/dev/null || echo '/.gpu/' >> "$root/.git/info/exclude"
stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT

# newest_test NAME: the newest test executable cargo built for the test target NAME.
newest_test() {
    find "$root/target/debug/deps" -maxdepth 1 -type f -executable -name "$1-*" ! -name '*.d' -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2
}

# --- host.tar.xz ---------------------------------------------------------------------
mkdir -p "$stage/host/bin" "$stage/host/lib" "$stage/host/share" "$stage/host/data"
cp "$root/target/debug/hypersynth" "$stage/host/bin/"
cp "$(newest_test runtime)" "$stage/host/bin/onnx-runtime-tests"
for tool in gdal_translate gdalbuildvrt gdalinfo; do cp "$(command -v $tool)" "$stage/host/bin/"; done
strip "$stage/host/bin/"*
# Every library the binaries link, except glibc's and the C++ runtime's, which the machine
# has in newer versions (an older libstdc++ first on the path would shadow the one its
# NVIDIA libraries may need).
for b in "$stage/host/bin/"*; do ldd "$b"; done | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
    grep -v -E '/(libc|libm|libdl|librt|libpthread|libresolv|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so' |
    xargs -r cp -L -t "$stage/host/lib/"
cp -r /usr/share/gdal "$stage/host/share/gdal"
mkdir -p "$stage/host/share/proj" && cp /usr/share/proj/proj.db "$stage/host/share/proj/"
cp -r "$shared/damage_salinasA" "$stage/host/data/"
tar -C "$stage/host" -cf - . | xz -T0 -9 > "$out/host.tar.xz"

# --- ort-gpu.tar.xz ------------------------------------------------------------------
python=${PYTHON:-$root/.venv/bin/python}
"$python" -m pip download -q --no-deps --only-binary=:all: "onnxruntime-gpu==$ort_version" -d "$stage/wheel"
"$python" "$root/scripts/unpack_ort_wheel.py" "$stage/wheel" "$stage/ort"
"$python" "$root/scripts/prune_fatbin.py" --arch "$arch" "$stage/ort/libonnxruntime_providers_cuda.so"
tar -C "$stage/ort" -cf - . | xz -T0 -6 > "$out/ort-gpu.tar.xz"
ls -l "$out"
