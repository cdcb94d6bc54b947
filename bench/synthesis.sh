#!/usr/bin/env bash
# Benchmark: synthetic spectra, three ways on the same generator, batch and machine, run
# side by side so that their ratios hold on a noisy shared machine:
#   hypersynth  `hypersynth augment --no-report` end to end (read the cube and labels,
#               generate, write synthetic.parquet and augmented.parquet);
#   raw ORT     onnxruntime's run() alone on the same batches (the limit);
#   Python      bench/python_augment.py: onnxruntime + numpy + tifffile + pyarrow doing
#               the same job.
#   floor       raw ORT's seconds + pyarrow writing the same two tables with the same codec
#               (what the job cannot do without; hypersynth also generates the candidates
#               its nearest-real selection rejects, and runs that selection).
# Prints spectra/s of each and the ratios against the goals of issue 8 (hypersynth >= 0.9 x
# raw ORT, >= 1.5 x Python) and issue 20 (>= 0.8 x the floor); then, for each
# `--compression`, hypersynth's time and the tables' size.
#
#   bench/synthesis.sh [TARGET_PER_CLASS (default 50000)] [BATCH (default 4096)]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${1:-50000}
batch=${2:-4096}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$root"
cargo build -q
bin="$root/target/debug/hypersynth"
py="$root/.venv/bin/python"
sample="$root/data/samples/salinasA"
data=(--cube "$sample/salinasA.tif" --labels "$sample/salinasA_gt.tif" --classes "$sample/classes.csv")

# The default generator (the exemplar variation model): most of its spectra pass augment's
# nearest-real selection, as a trained generator's do (an untrained GAN's mostly do not, and
# the selection's distances then dominate).
"$bin" train spectral "${data[@]}" --out "$work/m.onnx" -q

mkdir -p "$work/rust" "$work/python"
start=$(date +%s.%N)
"$bin" augment --model "$work/m.onnx" "${data[@]}" --out "$work/rust" --target-per-class "$target" --batch "$batch" --no-report -q
end=$(date +%s.%N)
read -r py_wall py_onnx py_write py_n < <("$py" bench/python_augment.py "$work/m.onnx" "$sample/salinasA.tif" "$sample/salinasA_gt.tif" \
    "$work/rust/run.json" "$work/python" "$batch" zstd)

"$py" - "$start" "$end" "$work/rust/run.json" "$py_wall" "$py_onnx" "$py_write" "$py_n" <<'PY'
import json, sys
start, end, run_json, py_wall, py_onnx, py_write, py_n = sys.argv[1:]
n = sum(json.load(open(run_json))["details"]["generated"].values())
assert n == int(py_n), f"hypersynth made {n} spectra, Python {py_n}"
rust = n / (float(end) - float(start))
raw = n / float(py_onnx)
python = n / float(py_wall)
print(f"{'way':<12} {'spectra':>9} {'spectra/s':>10}")
for name, rate in [("hypersynth", rust), ("raw ORT", raw), ("Python", python)]:
    print(f"{name:<12} {n:>9} {rate:>10.0f}")
print(f"hypersynth / raw ORT = {rust / raw:.2f} (goal >= 0.9)")
print(f"hypersynth / Python  = {rust / python:.2f} (goal >= 1.5)")
floor = n / (float(py_onnx) + float(py_write))
print(f"floor (raw ORT {float(py_onnx):.2f} s + pyarrow writing zstd {float(py_write):.2f} s): {floor:.0f} spectra/s")
print(f"hypersynth / floor   = {rust / floor:.2f} (goal >= 0.8)")
PY

# The tables' compression: hypersynth's time and the two tables' size per codec.
echo
printf '%-8s %8s %10s\n' codec seconds MiB
for codec in zstd lz4 snappy none; do
    rm -rf "$work/codec"
    start=$(date +%s.%N)
    "$bin" augment --model "$work/m.onnx" "${data[@]}" --out "$work/codec" --target-per-class "$target" --batch "$batch" \
        --compression "$codec" --no-report -q
    end=$(date +%s.%N)
    bytes=$(( $(stat -c %s "$work/codec/synthetic.parquet") + $(stat -c %s "$work/codec/augmented.parquet") ))
    "$py" -c "import sys; print(f'{sys.argv[1]:<8} {float(sys.argv[3]) - float(sys.argv[2]):>8.2f} {int(sys.argv[4]) / 2**20:>10.1f}')" \
        "$codec" "$start" "$end" "$bytes"
done
