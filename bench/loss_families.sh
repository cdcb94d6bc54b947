#!/usr/bin/env bash
# The loss families of the conditional GAN compared as issue 16 asks ("Are GANs created
# equal?": the same budget for each, several seeds): for every loss of `train spectral
# --generator gan --loss L` (and hinge with spectral normalisation), bench/augmentation.sh
# trains on each data set and seed and scores real + GAN with scikit-learn on the untouched
# pixels; one table of the scarce classes' F1 lift against real only and against SMOTE
# follows, with the exemplar model (the default) as the last row.
#
#   bench/loss_families.sh                                  (after scripts/setup.sh; under an hour on 2 cores)
#   bench/loss_families.sh --seeds 0,1,2,3,4 --datasets enmap,salinasA-10,salinasA-25,earthlib
#   LOSS_STEPS=2000 bench/loss_families.sh                  each GAN's steps (default 1000)
# Other options pass through to bench/augmentation.py.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
steps=${LOSS_STEPS:-1000}
args=(--seeds 0,1,2 --datasets enmap,salinasA-10 "$@")
work=$(mktemp -d -t hypersynth-losses-XXXXXX)
trap 'rm -rf "$work"' EXIT
if [[ -z ${HYPERSYNTH_BIN:-} ]]; then
    cargo build -q
    export HYPERSYNTH_BIN="$root/target/debug/hypersynth"
fi
variants=(minimax non-saturating wgan-clip wgan-gp lsgan dragan began hinge "hinge --spectral-norm")
for v in "${variants[@]}"; do
    echo "loss $v ($steps steps)" >&2
    bench/augmentation.sh "${args[@]}" --gan-args "--generator gan --steps $steps --loss $v" --json "$work/${v// /_}.json" >/dev/null
done
echo "exemplar model (default)" >&2
bench/augmentation.sh "${args[@]}" --json "$work/exemplar.json" >/dev/null
echo "command: $0 ${*}; GAN steps $steps; git commit $(git rev-parse --short=12 HEAD)"
"$root/.venv/bin/python" - "$work" "${variants[@]}" <<'PY'
import json, sys
from pathlib import Path
import numpy as np
work, variants = Path(sys.argv[1]), sys.argv[2:] + ["exemplar"]
rows = {v: json.loads((work / (v.replace(" ", "_") + ".json")).read_text())["results"] for v in variants}
datasets = list(dict.fromkeys(r["dataset"] for r in rows[variants[0]]))
def mean_f1(results, d, s):
    return {r["seed"]: (r["f1_SVM"] + r["f1_RF"]) / 2 for r in results if r["dataset"] == d and r["set"] == s and "f1_SVM" in r}
print()
print("| generator | " + " | ".join(f"{d}: − real | {d}: − SMOTE" for d in datasets) + " | mean − real | mean − SMOTE | training s |")
print("|---|" + "---|---|" * len(datasets) + "---|---|---|")
for v in variants:
    res = rows[v]
    cells, vs_real, vs_smote = [], [], []
    for d in datasets:
        gan, real, smote = (mean_f1(res, d, s) for s in ("GAN", "real", "SMOTE"))
        if not gan:
            cells += ["failed", "failed"]
            continue
        a = 100 * np.mean([gan[s] - real[s] for s in gan])
        b = 100 * np.mean([gan[s] - smote[s] for s in gan])
        vs_real.append(a); vs_smote.append(b)
        cells += [f"{a:+.1f}", f"{b:+.1f}"]
    train = np.mean([r.get("train_s", np.nan) for r in res if r["set"] == "GAN"])
    name = "exemplar (default)" if v == "exemplar" else v
    print(f"| {name} | " + " | ".join(cells) + f" | {np.mean(vs_real):+.1f} | {np.mean(vs_smote):+.1f} | {train:.0f} |")
print()
print("scarce-class F1 lift in points, mean over seeds of the mean of an RBF SVM and a random forest (scikit-learn), "
      "real + synthetic against real only and against real + SMOTE, on pixels nobody trained on")
PY
