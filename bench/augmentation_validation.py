"""Can augmentation settings be chosen per data set by validation on the training pixels?
For each data set and seed of bench/augmentation.py, three candidate settings (numpy
prototypes of the exemplar model) are scored by 3-fold stratified validation on the
training pixels (scikit-learn RBF SVM and random forest, scarce-class F1), the best is
picked, and every candidate is then scored on the untouched pixels. Prints per seed and the
mean lifts over real only: of the picked setting and of each candidate.

    .venv/bin/python bench/augmentation_validation.py enmap,salinasA-10,earthlib
"""
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import augmentation as A  # noqa: E402

data = Path(os.environ.get("HYPERSYNTH_SHARED_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")))
CANDS = ["ex:cov=own:s=0.55:centre=halfsmote+nn", "ex:cov=own:s=0.4:centre=smote+nn", "ex:cov=own:s=0.7:centre=exemplar+nn"]
def synth(name, xtr, ytr, need, seed):
    ctx = dict(xtr=xtr, ytr=ytr, selectors={})
    xs, ys, _ = A.run_method(name, ctx, need, seed, None)
    return xs, ys
out = {}
for dname in (sys.argv[1] if len(sys.argv) > 1 else 'enmap,salinasA-10,earthlib').split(','):
    ds = A.DATASETS[dname](data); x, y = ds['x'], ds['y']
    classes = sorted(int(c) for c in np.unique(y))
    for seed in range(5):
        tr, te = A.split(y, seed, ds['thin'])
        xtr, ytr = x[tr], y[tr]
        counts = {c: int((ytr == c).sum()) for c in classes}
        scarce = [c for c in classes if c in ds['thin']] if ds['thin'] else [c for c in classes if counts[c] < 30]
        # 3 stratified folds of the training pixels
        fold = np.zeros(len(ytr), int)
        for c in classes:
            r = np.flatnonzero(ytr == c); r = np.random.default_rng([seed, c, 5]).permutation(r)
            fold[r] = np.arange(len(r)) % 3
        val = {}
        for cand in CANDS + ['real']:
            f1s = []
            for k in range(3):
                a, b = fold != k, fold == k
                ca = {c: int((ytr[a] == c).sum()) for c in classes}
                need = {c: 200 - ca[c] for c in classes if ca[c] < 200}
                if cand == 'real': xs, ys = xtr[:0], ytr[:0]
                else: xs, ys = synth(cand, xtr[a], ytr[a], need, seed)
                s = A.score(np.concatenate([xtr[a], xs]), np.concatenate([ytr[a], ys]), xtr[b], ytr[b], classes, scarce, seed, 2)
                f1s.append((s['SVM'][0] + s['RF'][0]) / 2)
            val[cand] = float(np.mean(f1s))
        test = {}
        need = {c: 200 - counts[c] for c in classes if counts[c] < 200}
        for cand in CANDS + ['real']:
            if cand == 'real': xs, ys = xtr[:0], ytr[:0]
            else: xs, ys = synth(cand, xtr, ytr, need, seed)
            s = A.score(np.concatenate([xtr, xs]), np.concatenate([ytr, ys]), x[te], y[te], classes, scarce, seed, 2)
            test[cand] = (s['SVM'][0] + s['RF'][0]) / 2
        pick = max(CANDS, key=lambda c: val[c])
        print(dname, seed, 'val', {k[:30]: round(v, 3) for k, v in val.items()}, 'test', {k[:30]: round(v, 3) for k, v in test.items()}, 'pick', pick[:30], flush=True)
        out.setdefault(dname, []).append(dict(val=val, test=test, pick=pick))
for d, rows in out.items():
    print(d, 'picked - real %+.1f' % (100 * np.mean([r['test'][r['pick']] - r['test']['real'] for r in rows])),
          ' '.join('%s %+.1f' % (c[13:40], 100 * np.mean([r['test'][c] - r['test']['real'] for r in rows])) for c in CANDS))
