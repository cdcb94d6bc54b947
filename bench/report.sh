#!/usr/bin/env bash
# Benchmark: `hypersynth report` on a data set the size of Indian Pines (10,249 labelled
# spectra in 16 classes with Indian Pines' class sizes, 200 bands), made from SalinasA's
# labelled pixels: class k draws pixels of SalinasA class (k mod 6) with replacement,
# scaled by a per-class factor, plus 1 % noise. Synthetic spectra for the six classes
# under 300 pixels are drawn the same way with another seed. Prints the wall time.
#
#   bench/report.sh            (after scripts/setup.sh)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$root"
cargo build -q
"$root/.venv/bin/python" - "$work" <<'PY'
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq, tifffile
cube = tifffile.imread("data/samples/salinasA/salinasA.tif").astype(np.float32)
cube = np.moveaxis(cube, 0, -1) if cube.shape[0] == 204 else cube
gt = tifffile.imread("data/samples/salinasA/salinasA_gt.tif").reshape(-1)
x, y = cube.reshape(-1, 204)[gt > 0][:, :200], gt[gt > 0]
bases = sorted(set(y.tolist()))
sizes = [46, 1428, 830, 237, 483, 730, 28, 478, 20, 972, 2455, 593, 205, 1265, 386, 93]
def draw(counts, seed):
    rng = np.random.default_rng(seed)
    rows, ids = [], []
    for k, n in counts:
        pool = x[y == bases[(k - 1) % 6]] * (1 + 0.04 * ((k - 1) // 6))
        pick = pool[rng.integers(0, len(pool), n)]
        rows.append(pick * (1 + 0.01 * rng.standard_normal(pick.shape)))
        ids += [k] * n
    return np.vstack(rows).astype(np.float32), np.array(ids, np.uint32)
def write(path, counts, seed):
    spectra, ids = draw(counts, seed)
    columns = {"class_id": pa.array(ids)}
    columns.update({f"{400 + 10 * b}.0": pa.array(spectra[:, b]) for b in range(200)})
    pq.write_table(pa.table(columns), path)
write(f"{sys.argv[1]}/real.parquet", list(enumerate(sizes, 1)), 0)
write(f"{sys.argv[1]}/synthetic.parquet", [(k, 300 - n) for k, n in enumerate(sizes, 1) if n < 300], 1)
PY
start=$(date +%s.%N)
"$root/target/debug/hypersynth" report --table "$work/real.parquet" --synthetic "$work/synthetic.parquet" --out "$work/out" -q > /dev/null
end=$(date +%s.%N)
"$root/.venv/bin/python" -c "print(f'report on 10249 real spectra x 200 bands, 16 classes, 1287 synthetic: {$end - $start:.1f} s wall (goal: under 60 s on 2 cores)')"
