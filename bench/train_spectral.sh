#!/usr/bin/env bash
# Benchmark: `hypersynth train spectral` with default settings on a data set the size of
# Indian Pines (10,000 labelled spectra, 200 bands, 6 classes), made by sampling SalinasA's
# labelled pixels (first 200 bands) with replacement. Prints steps/s and wall time.
#
#   bench/train_spectral.sh            (after scripts/setup.sh)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$root"
cargo build -q
"$root/.venv/bin/python" - "$work/indian_pines_size.parquet" <<'PY'
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq, tifffile
cube = tifffile.imread("data/samples/salinasA/salinasA.tif").astype(np.float32)
cube = np.moveaxis(cube, 0, -1) if cube.shape[0] == 204 else cube
gt = tifffile.imread("data/samples/salinasA/salinasA_gt.tif").reshape(-1)
x, y = cube.reshape(-1, 204)[gt > 0][:, :200], gt[gt > 0]
pick = np.random.default_rng(0).integers(0, len(y), 10_000)
columns = {"class_id": pa.array(y[pick].astype(np.uint32))}
columns.update({f"{400 + 10 * b}.0": pa.array(x[pick, b]) for b in range(200)})
pq.write_table(pa.table(columns), sys.argv[1])
PY
start=$(date +%s.%N)
"$root/target/debug/hypersynth" train spectral --table "$work/indian_pines_size.parquet" --out "$work/m.onnx" -q
end=$(date +%s.%N)
"$root/.venv/bin/python" - "$work/m.run.json" "$start" "$end" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
steps = run["parameters"]["training"]["steps"]
wall = float(sys.argv[3]) - float(sys.argv[2])
print(f"spectra 10000 x 200 bands, {steps} steps (batch {run['parameters']['training']['batch_size']}, "
      f"k = {run['parameters']['training']['d_steps']}): training {run['seconds']:.1f} s, "
      f"{steps / run['seconds']:.1f} steps/s; wall time {wall:.1f} s (goal: at most 300 s)")
PY
