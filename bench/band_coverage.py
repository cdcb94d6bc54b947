"""What a random forest can learn from synthetic spectra, band by band: a forest splits on
one band at a time, between values it has seen, so synthetic spectra can move its splits
only where they take values the real training spectra of their class do not. For the
scarce classes of each data set kept by `bench/augmentation.py --work DIR` (its
`<data set>/seed<k>/train.parquet` and `augment/synthetic.parquet`), prints per generator
run, averaged over bands, classes and seeds:

  outside   share of synthetic values outside the class's real [min, max] in that band
  beyond    how far outside, in units of the class's real per-band standard deviation
            (mean over the values outside)
  spread    per-band standard deviation of the synthetic spectra over that of the real ones
  nearer    share of synthetic spectra whose nearest real training spectrum (standardised
            bands) is of another class than theirs (augment's selection keeps none such;
            0 unless --keep-all)

    .venv/bin/python bench/band_coverage.py DIR [DIR...] [--scarce-below 30]

Each DIR is one `--work` folder (one generator); the rows are labelled by the folder's name.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

META = {"class_id", "class_name", "source", "scene", "row", "col"}


def read(path):
    t = pq.read_table(path).to_pandas()
    bands = [c for c in t.columns if c not in META]
    return t[bands].to_numpy(np.float64), t["class_id"].to_numpy()


def coverage(train, synthetic, scarce_below):
    x, y = read(train)
    xs, ys = read(synthetic)
    mean, sd = x.mean(0), x.std(0) + 1e-12
    z, zs = (x - mean) / sd, (xs - mean) / sd
    rows = []
    for c in np.unique(y):
        real = x[y == c]
        made = xs[ys == c]
        if len(real) >= scarce_below or len(made) == 0:
            continue
        lo, hi = real.min(0), real.max(0)
        csd = real.std(0) + 1e-12
        out = (made < lo) | (made > hi)
        gap = np.where(made < lo, lo - made, np.where(made > hi, made - hi, 0.0)) / csd
        d_own = ((zs[ys == c][:, None, :] - z[y == c][None]) ** 2).sum(-1).min(1)
        d_other = ((zs[ys == c][:, None, :] - z[y != c][None]) ** 2).sum(-1).min(1)
        rows.append((out.mean(), gap[out].mean() if out.any() else 0.0, (made.std(0) / csd).mean(), (d_other < d_own).mean()))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dirs", nargs="+")
    p.add_argument("--scarce-below", type=int, default=30, help="classes with fewer real training spectra count as scarce")
    a = p.parse_args()
    print("| generator | data set | outside | beyond (sd) | spread | nearer another class |")
    print("|---|---|---|---|---|---|")
    for d in map(Path, a.dirs):
        for dataset in sorted(q for q in d.iterdir() if q.is_dir()):
            rows = []
            for seed in sorted(dataset.glob("seed*")):
                synthetic = seed / "augment" / "synthetic.parquet"
                if synthetic.exists():
                    rows += coverage(seed / "train.parquet", synthetic, a.scarce_below)
            if rows:
                m = np.mean(rows, axis=0)
                print(f"| {d.name} | {dataset.name} | {m[0]:.3f} | {m[1]:.2f} | {m[2]:.2f} | {m[3]:.3f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
