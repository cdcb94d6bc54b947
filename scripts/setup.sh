#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build and run hypersynth, and does
# nothing that is already done (safe to run again).
#
#   scripts/setup.sh          Debian packages + the CPU ONNX Runtime library (.ort/lib)
#   scripts/setup.sh --gpu    also the GPU ONNX Runtime build and the NVIDIA CUDA 13 runtime
#                             wheels it needs (about 1.6 GB, into .ort/gpu)
#
# ONNX Runtime comes from the PyPI wheels (no other download is possible on our machines):
# the shared library is unpacked into a folder of this checkout, where the hypersynth
# binary finds it by itself.
set -euo pipefail

ORT_VERSION=1.31.1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gpu=0
for arg in "$@"; do
    case "$arg" in
        --gpu) gpu=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

# --- Debian packages ---------------------------------------------------------------
packages=(build-essential pkg-config libgdal-dev gdal-bin libhdf5-dev python3 python3-pip python3-venv ca-certificates)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    say "Debian packages present"
fi

if ! command -v cargo >/dev/null; then
    echo "setup: cargo not found; install Rust >= 1.92 (https://rustup.rs) and run this again" >&2
    exit 1
fi

# --- Python tools for the tests' second opinion (h5py, pyarrow, onnx) ----------------
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv"
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import numpy, h5py, pyarrow, onnx, onnxruntime, tifffile, imagecodecs, scipy, pandas, sklearn, pystac, jsonschema" 2>/dev/null; then
    say "installing Python test helpers into $venv"
    "$venv/bin/pip" install -q "onnxruntime==$ORT_VERSION" numpy h5py pyarrow onnx tifffile imagecodecs scipy pandas scikit-learn pystac jsonschema
fi

# --- ONNX Runtime shared library from the PyPI wheel ------------------------------------
cpu_lib="$root/.ort/lib"
if [ ! -f "$cpu_lib/libonnxruntime.so.$ORT_VERSION" ]; then
    say "fetching onnxruntime==$ORT_VERSION from PyPI"
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    "$venv/bin/pip" download -q --no-deps --only-binary=:all: "onnxruntime==$ORT_VERSION" -d "$tmp"
    "$venv/bin/python" "$root/scripts/unpack_ort_wheel.py" "$tmp" "$cpu_lib"
fi
ln -sf "libonnxruntime.so.$ORT_VERSION" "$cpu_lib/libonnxruntime.so"
say "ONNX Runtime $ORT_VERSION (CPU) in $cpu_lib"

if [ "$gpu" -eq 1 ]; then
    gpu_root="$root/.ort/gpu"
    if [ ! -f "$gpu_root/lib/libonnxruntime.so.$ORT_VERSION" ]; then
        say "installing onnxruntime-gpu==$ORT_VERSION and the NVIDIA CUDA 13 runtime wheels (about 1.6 GB)"
        "$venv/bin/pip" install -q --target "$gpu_root/site" "onnxruntime-gpu[cuda,cudnn]==$ORT_VERSION"
        mkdir -p "$gpu_root/lib"
        # One folder holding ONNX Runtime, its providers and every NVIDIA library they load:
        # hypersynth preloads the CUDA libraries from there, so no LD_LIBRARY_PATH is needed.
        find "$gpu_root/site/onnxruntime/capi" "$gpu_root/site/nvidia" -name 'lib*.so*' -exec ln -sf {} "$gpu_root/lib/" \;
        ln -sf "libonnxruntime.so.$ORT_VERSION" "$gpu_root/lib/libonnxruntime.so"
    fi
    say "ONNX Runtime $ORT_VERSION (GPU) in $gpu_root/lib"
fi
