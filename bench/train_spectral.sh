#!/usr/bin/env bash
# Benchmark: `hypersynth train spectral --generator gan` (the GAN's defaults) on a data set the size of
# Indian Pines (10,000 labelled spectra, 200 bands, 6 classes), made by sampling SalinasA's
# labelled pixels (first 200 bands) with replacement. Prints steps/s and wall time.
#
# Then, side by side on the same table and step count, the same cGAN trained by PyTorch on
# the CPU (bench/torch_train_spectral.py: same architecture, losses, Adam settings, batch,
# d_steps, EMA, validation and checkpoint cadence, all cores), and a table of both:
#   hypersynth  the `seconds` of its run.json: the training loop, after loading and
#               normalising the data (plus the small ONNX export at the end);
#   PyTorch     the script's training loop alone (no start-up, data loading or PCA), with
#               OMP_WAIT_POLICY=PASSIVE: on a shared, busy machine torch's spinning OpenMP
#               threads otherwise slow it 6 to 20 fold (2000 steps took 10 to 23 minutes on
#               a busy 2-core machine), which would flatter hypersynth;
# and their ratio, with the parameter counts of G and D in both (hypersynth's read from
# its checkpoint). PyTorch runs from .venv-torch/; without a working torch there, its row
# says "not measured" and why. The default run downloads nothing.
#
#   bench/train_spectral.sh [STEPS]                  (after scripts/setup.sh; STEPS: default 2000)
#   bench/train_spectral.sh --install-torch [STEPS]  first makes .venv-torch/ from PyPI: the
#       default Linux torch wheel, which is built for CUDA and does not import without
#       NVIDIA's library wheels (about 2.7 GB to download, 4.6 GB installed; triton and
#       cuda-bindings, which CPU training never loads, are left out)
#   HYPERSYNTH_BIN=path/to/hypersynth bench/train_spectral.sh   uses that binary, no cargo build
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
install_torch=0
if [[ ${1:-} == --install-torch ]]; then install_torch=1; shift; fi
steps=()
if [[ -n ${1:-} ]]; then steps=(--steps "$1"); fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$root"
torch_py="$root/.venv-torch/bin/python"
if ((install_torch)); then
    [[ -x $torch_py ]] || python3 -m venv "$root/.venv-torch"
    "$torch_py" -m pip install -q --no-deps torch
    # torch's own requirements less triton and cuda-bindings (GPU compilers and bindings).
    mapfile -t requirements < <("$torch_py" -c 'from importlib.metadata import requires
print("\n".join(r for r in requires("torch") if "extra ==" not in r and not r.startswith(("triton", "cuda-bindings"))))')
    # (pip then complains that those two are missing: its messages are shown only on failure.)
    "$torch_py" -m pip install -q "${requirements[@]}" numpy pyarrow 2>"$work/pip.log" || { cat "$work/pip.log"; exit 1; }
fi
bin=${HYPERSYNTH_BIN:-}
if [[ -z $bin ]]; then
    cargo build -q
    bin="$root/target/debug/hypersynth"
fi
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
"$bin" train spectral --generator gan --table "$work/indian_pines_size.parquet" --out "$work/m.onnx" "${steps[@]}" -q
end=$(date +%s.%N)
run_steps=$("$root/.venv/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["parameters"]["training"]["steps"])' "$work/m.run.json")

# PyTorch on the same table and step count, when torch imports, its OpenMP threads sleeping
# between parallel regions instead of spinning (see the header).
if reason=$("$torch_py" -c "import torch" 2>&1); then
    OMP_WAIT_POLICY=PASSIVE "$torch_py" bench/torch_train_spectral.py "$work/indian_pines_size.parquet" "$run_steps" \
        --rust-checkpoint "$work/m.checkpoint.safetensors" > "$work/torch.json"
elif [[ ! -x $torch_py ]]; then
    echo "no .venv-torch/ (bench/train_spectral.sh --install-torch makes it)" > "$work/torch.reason"
else
    tail -n 1 <<<"$reason" > "$work/torch.reason"
fi

"$root/.venv/bin/python" - "$work" "$start" "$end" <<'PY'
import json, os, sys
work, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
run = json.load(open(f"{work}/m.run.json"))
steps = run["parameters"]["training"]["steps"]
print(f"spectra 10000 x 200 bands, {steps} steps (batch {run['parameters']['training']['batch_size']}, "
      f"k = {run['parameters']['training']['d_steps']}): training {run['seconds']:.1f} s, "
      f"{steps / run['seconds']:.1f} steps/s; wall time {end - start:.1f} s (goal: at most 300 s)")
print(f"\n{'way':<22} {'steps':>6} {'seconds':>8} {'steps/s':>8}")
print(f"{'hypersynth':<22} {steps:>6} {run['seconds']:>8.1f} {steps / run['seconds']:>8.1f}")
if os.path.exists(f"{work}/torch.json"):
    t = json.load(open(f"{work}/torch.json"))
    print(f"{'PyTorch':<22} {t['steps']:>6} {t['seconds']:>8.1f} {t['steps_per_s']:>8.1f}")
    print(f"hypersynth / PyTorch = {(steps / run['seconds']) / t['steps_per_s']:.2f} (no goal; reported)")
    print(f"torch {t['torch']}, {t['threads']} threads (all cores), OMP_WAIT_POLICY=PASSIVE")
    same = (t["params_g"], t["params_d"]) == (t["rust_params_g"], t["rust_params_d"])
    print(f"parameters G / D: PyTorch {t['params_g']} / {t['params_d']}, hypersynth {t['rust_params_g']} / "
          f"{t['rust_params_d']} (from its {t['rust_params_from']}): {'equal' if same else 'DIFFERENT'}")
else:
    print(f"PyTorch: not measured (torch not installable here: {open(f'{work}/torch.reason').read().strip()})")
PY
