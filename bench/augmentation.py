"""The measure of issue 16: do synthetic spectra make classifiers better on pixels nobody
trained on? Run by bench/augmentation.sh; prints one table on stdout, progress on stderr.

For every data set x seed (the seed draws the training pixels) x training set, an RBF SVM
(StandardScaler, C = 100, gamma = 'scale') and a random forest (300 trees) from
scikit-learn are trained and scored on the untouched labelled pixels: the mean F1 of the
scarce classes ("scarce F1") and the overall accuracy (OA). Training sets:

  real    the training pixels alone
  ROS     + random oversampling (imbalanced-learn) of every augmented class up to the target
  SMOTE   + SMOTE (imbalanced-learn, k_neighbors = min(5, n - 1)) up to the target
  GAN     + hypersynth: `train spectral --table T` with the product's default settings (the
          default generator is the exemplar variation model, which uses every given pixel;
          `--gan-args "--generator gan"` measures the conditional GAN, with `--test 0` so
          that it gets every pixel too; `--gan-args "--test 0.2"` a model that holds back a
          fifth of each class), then
          `augment --model M --table T --target-per-class TARGET --no-report`; the first
          TARGET - n synthetic spectra of each class are used (augment counts only the
          model's training share, so it makes a few more)

  more-real  (--more-real; thinned data sets only) + the real pixels that thinning removed
          (the 10 % share of the thinned classes), scored on the untouched pixels less
          those: what 2.5 to 13 x as many labelled pixels would give, a ceiling for any
          synthesis
  more-real+SMOTE  (with --more-real) the same real pixels, then SMOTE up to the target on
          top: the ceiling with the classes balanced as the synthetic sets balance them

The augmented classes are those with fewer than TARGET training pixels, as
`augment --target-per-class` does (--augment-only-scarce: only the scarce classes).

Data sets (in ../shared/data, or HYPERSYNTH_SHARED_DATA / --data):
  enmap        the EnMAP Potsdam mosaic, 10 % of each class (min 10) for training; scarce =
               classes with < 30 training pixels (soil)
  enmap-3      the same with 3 % (min 10): four scarce classes (roof 15, pavement 29, soil
               10, water 11), as a field scene with several scarce classes has (not in the
               default list)
  salinasA-10  SalinasA, 10 % (min 10), classes 10, 11 and 14 thinned to 10; scarce = those
               (the three hardest when thinned alone; classes 1 and 13 keep F1 >= 0.94
               with 10 pixels, which leaves augmentation nothing to show)
  salinasA-25  the same, thinned to 25
  earthlib     the earthlib spectral library, level-3 classes with >= 30 spectra (13),
               10 % (min 10); scarce = classes with < 30 training spectra (10 of them)
  (the EnMAP-Box Berlin library is left out: 75 spectra, its soil and water classes have 4
  and 2, too few for a 10 %-training / untouched-test split.)

    python bench/augmentation.py [--datasets enmap,salinasA-10,...] [--seeds 0,1,2]
        [--gan-args "--loss lsgan ..."] [--no-gan] [--extra-methods all|m1,m2]
        [--target 200] [--max-test-per-class N] [--augment-only-scarce] [--draws N]

--draws N scores every synthetic training set (ROS, SMOTE, GAN, prototypes) N times per seed,
with other synthesis seeds (augment --seed, imbalanced-learn's random_state, the prototypes'
noise) on the same training pixels and the same trained model, and keeps the mean: one draw
moves EnMAP's lift by about 3 points and the others' by 0.2 to 0.5 (docs/TRAINING.md).

--extra-methods adds numpy prototypes of other synthesis methods as further training sets:
names of METHODS (`--list-methods` prints them) or specs GEN[:KEY=VALUE...][+SELECTOR]:
  GEN       ex (m_exemplar: cov=pooled|scaled|rda|own|lw, s, lam, tau, log, b, centre, safe, bal, disc, border, enn, mix, sv, jit, nk, tmax,
            adapt, purity, tilt), gauss-pooled,
            exemplar-gauss, exemplar-resid, brightness, smote-pooled, or GAN (hypersynth's
            spectra, 5 x as many made, for selection)
  holdout=F fit the generator and selector on the share hypersynth's split would leave
            (round(F * n) of each class held out), as the product does with --validation F
  SELECTOR  nn[RATIO] (keep a candidate when its nearest real training spectrum of its own
            class is at most RATIO x as far, standardised bands, as the nearest of any other
            class; RATIO 1 by default; nnlog[RATIO]: in standardised log bands; nnsam[RATIO]:
            by spectral angle, spectra scaled to unit length), svm (RBF SVM on the real pixels, own-class
            probability >= 0.5), svmarg (its own class is the SVM's most probable), lda
  With a selector 5 x the needed candidates are made and the first passing ones kept.
The product's default as a prototype: ex:cov=own:centre=halfsmote:log=1:s=0.7+nn (in log
bands, a real spectrum of the class moved up to half way towards one of its 5 nearest
class-mates, plus 0.7 x a Gaussian draw with the class's own covariance; exponentiated and
kept when it lies nearer its own class's real spectra than any other class's).
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Data sets


def gdal_band_items(tif_path):
    """Per-band GDAL metadata items of a GeoTIFF: {name: {band index: text}}."""
    import tifffile

    with tifffile.TiffFile(tif_path) as tif:
        tag = tif.pages[0].tags.get(42112)
        xml = tag.value if tag is not None else ""
    items = {}
    for m in re.finditer(r'<Item name="(\w+)" sample="(\d+)"[^>]*>([^<]*)</Item>', xml):
        items.setdefault(m.group(1).lower(), {})[int(m.group(2))] = m.group(3)
    return items


def read_cube(tif_path):
    """A GeoTIFF cube as [rows, cols, bands] float32, scaled, with wavelengths and good bands."""
    import tifffile

    items = gdal_band_items(tif_path)
    cube = tifffile.imread(tif_path)
    bands = len(items["wavelength"])
    if cube.shape[0] == bands and cube.shape[-1] != bands:
        cube = np.moveaxis(cube, 0, -1)
    wavelengths = np.array([float(items["wavelength"][b]) for b in range(bands)])
    good = np.array([items.get("bbl", {}).get(b, "1").strip() != "0" for b in range(bands)])
    scale = np.array([float(items.get("scale", {}).get(b, "1")) for b in range(bands)], np.float32)
    offset = np.array([float(items.get("offset", {}).get(b, "0")) for b in range(bands)], np.float32)
    return cube, wavelengths, good, scale, offset


def from_scene(cube_path, labels_path, classes_csv, reflectance_scale=None):
    import pandas as pd
    import tifffile

    cube, wavelengths, good, scale, offset = read_cube(cube_path)
    labels = tifffile.imread(labels_path).astype(np.int64)
    mask = labels > 0
    x = cube[mask][:, good].astype(np.float32)
    if reflectance_scale is not None:  # the file states no scale: reflectance x 10000
        x = x * reflectance_scale
    else:
        x = x * scale[good] + offset[good]
    names = dict(pd.read_csv(classes_csv).iloc[:, :2].itertuples(index=False, name=None))
    return x, labels[mask], wavelengths[good], {int(k): str(v) for k, v in names.items()}


def load_enmap(data):
    d = data / "enmap_potsdam" / "mosaic"
    x, y, w, names = from_scene(d / "enmap_potsdam_mosaic.tif", d / "enmap_potsdam_mosaic_labels.tif", d / "classes.csv")
    return dict(x=x, y=y, wavelengths=w, names=names, thin={})


def load_salinas(data, thin_to):
    d = data / "salinasA"
    x, y, w, names = from_scene(d / "salinasA.tif", d / "salinasA_gt.tif", d / "classes.csv", reflectance_scale=1e-4)
    return dict(x=x, y=y, wavelengths=w, names=names, thin={10: thin_to, 11: thin_to, 14: thin_to})


def load_earthlib(data, min_spectra=30):
    import pandas as pd

    d = data / "earthlib_speclib"
    header = (d / "spectra.sli.hdr").read_text()
    field = lambda name: re.search(name + r"\s*=\s*(\S+)", header).group(1)
    samples, lines = int(field("samples")), int(field("lines"))
    assert field("data type") == "4" and field("byte order") == "0", "expected little-endian float32"
    x = np.fromfile(d / "spectra.sli", "<f4").reshape(lines, samples)
    w = np.array([float(v) for v in re.search(r"wavelength\s*=\s*\{([^}]*)\}", header).group(1).split(",")])
    if "micrometers" in header.lower():
        w = np.round(w * 1000.0, 4)
    table = pd.read_csv(d / "spectra.csv")  # one row per spectrum, in the library's order
    assert len(table) == lines
    level3 = table["LEVEL_3"].astype(str).to_numpy()
    counts = pd.Series(level3).value_counts()
    kept = [name for name, n in counts.items() if n >= min_spectra]  # largest first
    ids = {name: i + 1 for i, name in enumerate(kept)}
    y = np.array([ids.get(v, 0) for v in level3])
    keep = y > 0
    return dict(x=x[keep], y=y[keep], wavelengths=w, names={i: n for n, i in ids.items()}, thin={})


DATASETS = {
    "enmap": lambda data: load_enmap(data),
    "enmap-3": lambda data: dict(load_enmap(data), fraction=0.03),
    "salinasA-10": lambda data: load_salinas(data, 10),
    "salinasA-25": lambda data: load_salinas(data, 25),
    "earthlib": lambda data: load_earthlib(data),
}


def split(y, seed, thin, fraction=0.1, minimum=10):
    """Training rows: a seeded fraction of each class (at least `minimum`), thinned as
    `thin` says; every other row is untouched."""
    train = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        rows = rows[np.random.default_rng([seed, int(c)]).permutation(len(rows))]
        n = max(minimum, int(round(fraction * len(rows))))
        n = min(n, thin.get(int(c), n))
        train.append(rows[:n])
    train = np.sort(np.concatenate(train))
    test = np.setdiff1d(np.arange(len(y)), train)
    return train, test


def cap_test(test, y, seed, cap):
    if not cap:
        return test
    kept = []
    for c in np.unique(y[test]):
        rows = test[y[test] == c]
        kept.append(np.random.default_rng([seed, int(c), 99]).permutation(rows)[:cap])
    return np.sort(np.concatenate(kept))


# ---------------------------------------------------------------------------------------
# Classifiers


def score(xtr, ytr, xte, yte, classes, scarce, seed, jobs):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    models = {
        "SVM": make_pipeline(StandardScaler(), SVC(C=100, gamma="scale")),
        "RF": RandomForestClassifier(n_estimators=300, n_jobs=jobs, random_state=seed),
    }
    out = {}
    for name, model in models.items():
        predicted = model.fit(xtr, ytr).predict(xte)
        f1 = f1_score(yte, predicted, labels=classes, average=None, zero_division=0)
        at = {c: i for i, c in enumerate(classes)}
        out[name] = (float(np.mean([f1[at[c]] for c in scarce])), float(accuracy_score(yte, predicted)))
    return out


# ---------------------------------------------------------------------------------------
# Training sets


def oversample(kind, xtr, ytr, need, seed, draw=0):
    from imblearn.over_sampling import SMOTE, RandomOverSampler

    counts = {int(c): int((ytr == c).sum()) for c in np.unique(ytr)}
    strategy = {c: counts[c] + n for c, n in need.items()}
    if kind == "ROS":
        sampler = RandomOverSampler(sampling_strategy=strategy, random_state=draw_seed(seed, draw))
    else:
        k = min(5, min(counts[c] for c in need) - 1)
        sampler = SMOTE(sampling_strategy=strategy, k_neighbors=k, random_state=draw_seed(seed, draw))
    xr, yr = sampler.fit_resample(xtr, ytr)
    return xr[len(ytr):], yr[len(ytr):]  # imbalanced-learn appends the new rows


def write_table(path, x, y, wavelengths, names):
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {"class_id": pa.array(y.astype(np.uint32)), "class_name": pa.array([names[int(c)] for c in y])}
    for b, w in enumerate(wavelengths):
        columns[repr(round(float(w), 4))] = pa.array(x[:, b].astype(np.float32))
    pq.write_table(pa.table(columns), path)


def read_synthetic(path, bands):
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    band_columns = [n for n in table.column_names if re.fullmatch(r"[0-9.]+", n)]  # named by wavelength
    assert len(band_columns) == bands, f"{path}: {len(band_columns)} band columns, expected {bands}"
    x = np.stack([table.column(n).to_numpy().astype(np.float32) for n in band_columns], axis=1)
    return x, table.column("class_id").to_numpy().astype(np.int64)


def run_hypersynth(binary, args, what):
    start = time.perf_counter()
    done = subprocess.run([binary, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"hypersynth {what} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}")
    return time.perf_counter() - start


def draw_seed(seed, draw):
    """The seed of synthesis draw `draw` for the training pixels of `seed` (draw 0: `seed`
    itself, as before --draws)."""
    return seed + 1000 * draw


def gan(ctx, work, binary, gan_args, augment_args, target, seed, pool_target=None, draw=0):
    """hypersynth's default GAN on the training pixels: synthetic spectra per class (the
    first `need` of each), and the seconds of training and of augmenting. With
    `pool_target`, that many per class and every one of them (`--keep-all`), for the
    prototypes' own selection. Draw 0 trains the model; later draws of the same seed only
    augment again with another seed."""
    table = work / "train.parquet"
    model = work / "m.onnx"
    train_s = 0.0
    if draw == 0:
        write_table(table, ctx["xtr"], ctx["ytr"], ctx["wavelengths"], ctx["names"])
        train_s = run_hypersynth(
            binary, ["train", "spectral", "--table", str(table), "--out", str(model), *test_args(gan_args), "--seed", str(seed), "-q", *gan_args], "train"
        )
    out = work / f"augment{draw or ''}"
    aug_s = run_hypersynth(
        binary,
        ["augment", "--model", str(model), "--table", str(table), "--out", str(out), "--target-per-class", str(pool_target or target), "--no-report", "--seed", str(draw_seed(seed, draw)), "-q", *augment_args]
        + (["--keep-all"] if pool_target else []),
        "augment",
    )
    xs, ys = read_synthetic(out / "synthetic.parquet", ctx["xtr"].shape[1])
    return xs, ys, train_s, aug_s


def test_args(gan_args):
    """`--test 0` (every training pixel to the generator, the scorer keeps the untouched
    pixels; the exemplar model's default, not the GAN's), unless `gan_args` sets `--test`
    itself (`--gan-args "--test 0.2"`: a model that holds back a fifth of each class)."""
    return [] if any(a == "--test" or a.startswith("--test=") for a in gan_args) else ["--test", "0"]


def take(xs, ys, need):
    """The first need[c] rows of each class c."""
    rows = [np.flatnonzero(ys == c)[:n] for c, n in need.items()]
    short = {c: n - len(r) for (c, n), r in zip(need.items(), rows) if len(r) < n}
    if short:
        log(f"    note: fewer synthetic spectra than wanted: {short}")
    rows = np.concatenate(rows)
    return xs[rows], ys[rows]


# ---------------------------------------------------------------------------------------
# numpy prototypes of other synthesis methods (Task B of issue 16)
#
# Each takes the real training pixels and `need` ({class: spectra to make}) and returns
# synthetic spectra. Notation: mu_c the class mean, r_i = x_i - mu_{y_i} the within-class
# residuals of all training pixels, S_pool = sum_i r_i r_i^T / (N - C) the pooled
# within-class covariance.

EPS = 1e-4  # floor of reflectance before a log


def to_log(x):
    """The prototypes' log space: ln(max(x, EPS))."""
    return np.log(np.maximum(x, EPS))


def pooled_residuals(x, y, log_space=False):
    v = to_log(x) if log_space else x
    means = {int(c): v[y == c].mean(0) for c in np.unique(y)}
    r = v - np.stack([means[int(c)] for c in y])
    return v, means, r


def pooled_cov_factor(r, n_classes, shrink=0.0):
    cov = r.T @ r / max(1, len(r) - n_classes)
    if shrink:
        cov = (1 - shrink) * cov + shrink * np.diag(np.diag(cov))
    vals, vecs = np.linalg.eigh(cov)
    return vecs * np.sqrt(np.clip(vals, 0, None))  # cov = F F^T


def m_gauss_pooled(x, y, need, rng, scale=1.0, log_space=False, **_):
    """class mean + scale * N(0, S_pool)."""
    v, means, r = pooled_residuals(x, y, log_space)
    f = pooled_cov_factor(r, len(means))
    out, ids = [], []
    for c, n in need.items():
        s = means[c] + scale * rng.standard_normal((n, f.shape[1])) @ f.T
        out.append(s)
        ids.append(np.full(n, c))
    s = np.concatenate(out)
    return (np.exp(s) if log_space else s).astype(np.float32), np.concatenate(ids)


def m_exemplar_gauss(x, y, need, rng, scale=0.7, log_space=False, **_):
    """a real exemplar of the class (uniform) + scale * N(0, S_pool)."""
    v, means, r = pooled_residuals(x, y, log_space)
    f = pooled_cov_factor(r, len(means))
    out, ids = [], []
    for c, n in need.items():
        own = v[y == c]
        e = own[rng.integers(0, len(own), n)]
        out.append(e + scale * rng.standard_normal((n, f.shape[1])) @ f.T)
        ids.append(np.full(n, c))
    s = np.concatenate(out)
    return (np.exp(s) if log_space else s).astype(np.float32), np.concatenate(ids)


def m_exemplar_resid(x, y, need, rng, scale=0.7, log_space=False, **_):
    """a real exemplar of the class + scale * a real residual r_j of another class's pixel
    (classes drawn equally often)."""
    v, means, r = pooled_residuals(x, y, log_space)
    classes = list(means)
    out, ids = [], []
    for c, n in need.items():
        own = v[y == c]
        e = own[rng.integers(0, len(own), n)]
        others = [k for k in classes if k != c]
        donor = np.array(others)[rng.integers(0, len(others), n)]
        res = np.stack([r[y == k][rng.integers(0, (y == k).sum())] for k in donor])
        out.append(e + scale * res)
        ids.append(np.full(n, c))
    s = np.concatenate(out)
    return (np.exp(s) if log_space else s).astype(np.float32), np.concatenate(ids)


def m_brightness(x, y, need, rng, sigma=0.1, **_):
    """a real exemplar times exp(sigma * N(0, 1)) (one factor per spectrum)."""
    out, ids = [], []
    for c, n in need.items():
        own = x[y == c]
        e = own[rng.integers(0, len(own), n)]
        out.append(e * np.exp(sigma * rng.standard_normal((n, 1))))
        ids.append(np.full(n, c))
    return np.concatenate(out).astype(np.float32), np.concatenate(ids)


def m_smote_pooled(x, y, need, rng, scale=0.5, **_):
    """SMOTE-like: a point between an exemplar and one of its 5 nearest class-mates, plus
    scale * N(0, S_pool)."""
    v, means, r = pooled_residuals(x, y)
    f = pooled_cov_factor(r, len(means))
    out, ids = [], []
    for c, n in need.items():
        own = v[y == c]
        d = ((own[:, None] - own[None]) ** 2).sum(-1)
        nn = np.argsort(d, 1)[:, 1 : 1 + min(5, len(own) - 1)]
        a = rng.integers(0, len(own), n)
        b = nn[a, rng.integers(0, nn.shape[1], n)]
        t = rng.random((n, 1))
        out.append(own[a] + t * (own[b] - own[a]) + scale * rng.standard_normal((n, f.shape[1])) @ f.T)
        ids.append(np.full(n, c))
    return np.concatenate(out).astype(np.float32), np.concatenate(ids)


def m_exemplar(x, y, need, rng, s=0.7, cov="scaled", lam=0.5, log=0, b=0.0, centre="exemplar", safe=0.0, bal=0, disc=1.0, tau=3.0, border=0.0, k=5, enn=0, mix=0.0, sv=0.0, jit=0.0, nk=5, tmax=None, adapt=0.0, purity=0.85, tilt=0.0, **_):
    """The general exemplar + residual model: centre + s * N(0, S_c) (then, with b > 0, a
    brightness factor exp(b * N(0, 1)) per spectrum), in reflectance or (log = 1) in
    log-reflectance. centre: a uniformly drawn real spectrum of the class ("exemplar"), a
    random point between one and one of its 5 nearest class-mates ("smote"; up to half way:
    "halfsmote") or the class mean ("mean"). S_c, per class c, from its own covariance C_c (ddof 1) and the
    pooled within-class covariance S_pool:
      cov = pooled   S_pool
      cov = scaled   k_c S_pool with k_c = trace(C_c) / trace(S_pool) (pooled shape, own size)
      cov = rda      lam C_c + (1 - lam) k_c S_pool
      cov = own      C_c
      cov = local    the scatter of the exemplar's k nearest class-mates about it:
                     sum_i w_i (n_i - e) / sqrt(k), w_i ~ N(0, 1) (variation along the
                     class's local manifold, not its global covariance)
      cov = lw       (1 - d_c) C_c + d_c T_c, T_c = k_c S_c with S_c the other classes' scatter
                     weighed by (n_j - 1) exp(-angle_cj / tau) (tau 0: by count) and d_c the
                     Ledoit-Wolf intensity of class c's residuals towards T_c (own where its
                     scatter is measured well, borrowed where it is not)
    safe > 0 scales each exemplar's noise by (d_i / median d)^safe, clipped to [0.25, 2], d_i
    its distance (standardised bands) to the nearest real spectrum of another class: more
    room away from the boundary, less near it. bal = 1 also returns each spectrum's exemplar,
    so that the selection keeps as many per exemplar as it can (boundary exemplars are not
    crowded out by the rejections). disc < 1 scales the noise's component that moves the
    linear discriminants (shrinkage LDA on standardised bands) by disc: the noise varies a
    spectrum where the classes do not differ. border = B moves each centre a further uniform
    share in [0, B] of the way towards the exemplar's nearest real spectrum of another class
    (standardised bands; negative: away from it), as borderline oversampling does.
    enn = K draws centres (exemplars and their class-mates) only from the class's spectra
    that most of their K nearest other training spectra (standardised bands) agree with, as
    Wilson's edited nearest neighbours cleans a training set (all of them when fewer than 2
    pass). mix = A mixes each centre linearly with a random training spectrum of another
    class, a uniform fraction in [0, A] of it (a mixed pixel at a field's edge). sv = V
    draws each spectrum's spread from a scale mixture, s * exp(V * N(0, 1) - V^2 / 2): near
    copies and wider variations in one set. jit = J adds independent noise per band,
    J x the class's own standard deviation of that band (axis-aligned spread, which a
    random forest's single-band splits can use). nk = K moves centres towards one of the
    K nearest class-mates (5); tmax = T moves them up to T of the way (halfsmote: 0.5).
    adapt = A chooses the variation per class by its neighbourhood purity p_c, the share of
    its training spectra whose nearest other training spectrum (standardised bands) is a
    class-mate: a compact class (p_c >= purity) gets the brightness factor A (and no
    border move), any other the move away from the boundary `border` (and no brightness).
    tilt = T multiplies each spectrum by exp(a1 P1 + a2 P2), P1 and P2 the Legendre
    polynomials of degree 1 and 2 over the band index scaled to [-1, 1], a1 and a2 ~ N(0, T^2):
    smooth changes of the spectrum's slope and curvature that its class's few pixels may not
    show (the brightness factor is the degree-0 term).
    """
    log = bool(int(log))
    v, means, r = pooled_residuals(x, y, log)
    pooled = r.T @ r / max(1, len(r) - len(means))
    tp = np.trace(pooled)
    zsd = x.std(0) + 1e-12
    if float(disc) != 1.0:
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit((x - x.mean(0)) / zsd, y)
        g = (lda.scalings_[:, : len(np.unique(y)) - 1] / zsd[:, None]).T  # functionals on bands
        q, _ = np.linalg.qr(g.T)  # orthonormal basis of their span
        keep_disc = lambda n: n - (1 - float(disc)) * (n @ q) @ q.T
    else:
        keep_disc = lambda n: n
    out, ids, origins, lw_log, enn_log = [], [], [], [], []
    if cov == "lw":
        covs = {int(k): np.cov(v[y == k], rowvar=False, ddof=1) if (y == k).sum() > 1 else np.zeros((v.shape[1],) * 2) for k in means}

    def squared_distances(a, b):
        """Squared distances between the rows of a and of b, bands standardised by zsd."""
        za, zb = a / zsd, b / zsd
        return np.maximum((za**2).sum(1)[:, None] - 2 * za @ zb.T + (zb**2).sum(1)[None], 0)

    def to_other_classes(c):
        """Squared distances (bands standardised by zsd) of class c's spectra to every
        spectrum of the other classes, and those spectra."""
        return squared_distances(x[y == c], x[y != c]), x[y != c]

    if float(adapt):
        d_all = squared_distances(x, x)
        np.fill_diagonal(d_all, np.inf)
        nearest_class = y[np.argmin(d_all, 1)]
        purity_of = {int(c): float((nearest_class[y == c] == c).mean()) for c in np.unique(y)}
    adapt_log = []
    for c, n in need.items():
        own = v[y == c]
        b_c, border_c = b, float(border)
        if float(adapt):
            compact = purity_of[int(c)] >= float(purity)
            b_c, border_c = (float(adapt), 0.0) if compact else (0.0, float(border))
            adapt_log.append((int(c), round(purity_of[int(c)], 2), "b" if compact else "border"))
        if int(enn):
            d = squared_distances(x[y == c], x)
            d[np.arange(len(d)), np.flatnonzero(y == c)] = np.inf  # itself
            passed = (y[np.argsort(d, 1)[:, : int(enn)]] == c).sum(1) * 2 > int(enn)
            enn_log.append((c, int(passed.sum()), len(own)))
        if float(safe):
            d = np.sqrt(to_other_classes(c)[0].min(1))
            gain = np.clip((d / np.median(d)) ** float(safe), 0.25, 2.0)
        else:
            gain = np.ones(len(own))
        own_cov = np.cov(own, rowvar=False, ddof=1)
        k_c = np.trace(own_cov) / tp
        if cov == "lw":
            def angle(a, b):
                return np.degrees(np.arccos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30), -1, 1)))
            w = {j: ((y == j).sum() - 1) * (np.exp(-angle(means[c], means[j]) / float(tau)) if float(tau) else 1.0) for j in means if j != c}
            total = sum(w.values())
            borrowed = sum(wj / total * covs[j] for j, wj in w.items()) if total > 0 else own_cov
            target = np.trace(own_cov) / max(np.trace(borrowed), 1e-30) * borrowed
            rc = own - own.mean(0)
            m = len(rc)
            s_ml = rc.T @ rc / m  # the Ledoit-Wolf formula's sample covariance
            norms = (rc**2).sum(1)
            beta = (norms**2 - 2 * np.einsum("ib,bc,ic->i", rc, s_ml, rc) + (s_ml**2).sum()).sum() / m**2
            delta = ((s_ml - target) ** 2).sum()
            d_c = float(np.clip(beta / delta, 0, 1)) if delta > 0 else 1.0
            lw_log.append((c, m, round(d_c, 3)))
            sc = (1 - d_c) * own_cov + d_c * target
        elif cov != "local":
            sc = {"pooled": pooled, "scaled": k_c * pooled, "rda": lam * own_cov + (1 - lam) * k_c * pooled, "own": own_cov}[cov]
        if cov != "local":
            vals, vecs = np.linalg.eigh(sc)
            f = vecs * np.sqrt(np.clip(vals, 0, None))
        if int(enn) and passed.sum() >= 2:
            own, gain = own[passed], gain[passed]
        # each spectrum's class-mates, nearest first (itself left out)
        mates_by_distance = np.argsort(((own[:, None] - own[None]) ** 2).sum(-1), 1)[:, 1:]
        if centre in ("smote", "halfsmote"):
            # a random point between an exemplar and one of its 5 nearest class-mates (up to
            # half way with "halfsmote")
            nn = mates_by_distance[:, : max(1, min(int(nk), len(own) - 1))]
            a = rng.integers(0, len(own), n)
            t = rng.random((n, 1)) * (float(tmax) if tmax is not None else 0.5 if centre == "halfsmote" else 1.0)
            ctr = own[a] + t * (own[nn[a, rng.integers(0, nn.shape[1], n)]] - own[a])
        elif centre == "exemplar":
            a = rng.integers(0, len(own), n)
            ctr = own[a]
        else:
            a = np.zeros(n, dtype=int)
            ctr = np.repeat(means[c][None], n, 0)
        if float(mix):
            others = v[y != c]
            ctr = ctr + rng.random((n, 1)) * float(mix) * (others[rng.integers(0, len(others), n)] - ctr)
        if border_c:
            d2, others = to_other_classes(c)
            nearest_other = others[np.argmin(d2, 1)]
            ctr = ctr + rng.random((n, 1)) * border_c * (nearest_other[a] - own[a])
        if cov == "local":
            kk = max(1, min(int(k), len(own) - 1))
            mates = mates_by_distance[:, :kk]
            noise = np.einsum("nk,nkb->nb", rng.standard_normal((n, kk)), own[mates[a]] - own[a][:, None, :]) / np.sqrt(kk)
        else:
            noise = rng.standard_normal((n, f.shape[1])) @ f.T
        spread = float(s) * (np.exp(float(sv) * rng.standard_normal((n, 1)) - float(sv) ** 2 / 2) if float(sv) else 1.0)
        syn = ctr + spread * gain[a][:, None] * keep_disc(noise)
        if float(jit):
            syn = syn + float(jit) * np.sqrt(np.clip(np.diag(own_cov), 0, None)) * rng.standard_normal(syn.shape)
        if b_c:
            g = float(b_c) * rng.standard_normal((n, 1))
            syn = syn + g if log else syn * np.exp(g)
        if float(tilt):
            u = np.linspace(-1.0, 1.0, syn.shape[1])
            shape = np.stack([u, 1.5 * u**2 - 0.5])  # Legendre P1, P2
            g = float(tilt) * rng.standard_normal((n, 2)) @ shape
            syn = syn + g if log else syn * np.exp(g)
        out.append(np.exp(syn) if log else syn)
        ids.append(np.full(n, c))
        origins.append(a)
    if enn_log:
        print(f"    edited exemplars (class, kept, pixels): {enn_log}", file=sys.stderr, flush=True)
    if adapt_log:
        print(f"    variation by purity (class, purity, kind): {adapt_log}", file=sys.stderr, flush=True)
    if lw_log:
        print(f"    Ledoit-Wolf intensities (class, pixels, intensity): {lw_log}", file=sys.stderr, flush=True)
    xs, ys = np.concatenate(out).astype(np.float32), np.concatenate(ids)
    return (xs, ys, np.concatenate(origins)) if int(bal) else (xs, ys)


def parse_method(name):
    """A method spec "ex:cov=scaled:s=0.7+svm": generator, keyword arguments, selector."""
    if name in METHODS:
        return METHODS[name]
    body, _, selector = name.partition("+")
    gen, *pairs = body.split(":")
    if gen not in ("ex", "GAN") and gen not in GENERATORS:
        raise KeyError(name)
    kwargs = {}
    for pair in pairs:
        k, _, v = pair.partition("=")
        try:
            kwargs[k] = float(v)
        except ValueError:
            kwargs[k] = v
    return ("exemplar" if gen == "ex" else gen), kwargs, (selector or None)


class Selector:
    """Keeps synthetic spectra that a classifier trained on the real training pixels
    assigns to their own class with probability >= threshold."""

    def __init__(self, kind, x, y, seed):
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.kind = kind
        self.space = "bands"  # the nearest-neighbour selectors' space; see transform
        if kind.startswith("vote"):
            # the k nearest real spectra (standardised bands): keep when more than half are
            # of the own class ("vote3": k = 3)
            self.k = int(kind[4:] or 3)
            self.mean, self.sd = x.mean(0), x.std(0) + 1e-12
            self.x, self.y = (x - self.mean) / self.sd, y
            return
        if kind.startswith("nn"):
            # nearest real neighbour (standardised bands): keep when the nearest real
            # spectrum of the own class is at most `ratio` times as far as the nearest one
            # of any other class ("nn" = ratio 1); "nnlog": in standardised log bands;
            # "nnsam": by spectral angle (spectra scaled to unit length, not standardised)
            self.space = "log" if kind.startswith("nnlog") else "sam" if kind.startswith("nnsam") else "bands"
            self.ratio = float(kind[2 if self.space == "bands" else 5 :] or 1.0)
            xt = self.transform(x)
            self.mean, self.sd = (xt.mean(0), xt.std(0) + 1e-12) if self.space != "sam" else (0.0, 1.0)
            self.x, self.y = (xt - self.mean) / self.sd, y
            return
        if kind == "svm" or kind == "svmarg":
            from sklearn.svm import SVC

            self.model = make_pipeline(StandardScaler(), SVC(C=100, gamma="scale", probability=True, random_state=seed))
        elif kind == "lda":
            from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

            self.model = make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))
        else:
            raise ValueError(kind)
        self.model.fit(x, y)
        self.classes = list(self.model.classes_)

    def transform(self, x):
        """The nearest-neighbour selectors' space before standardising."""
        if self.space == "log":
            return to_log(x)
        if self.space == "sam":
            return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-30)
        return x

    def distances(self, xs, ys, chunk=2048):
        """Per chunk of candidates: its rows, their classes and their squared distances to
        every real spectrum (standardised bands)."""
        z = (self.transform(xs) - self.mean) / self.sd
        for start in range(0, len(ys), chunk):
            zz = z[start : start + chunk]
            yield slice(start, start + chunk), ys[start : start + chunk], (zz**2).sum(1)[:, None] - 2 * zz @ self.x.T + (self.x**2).sum(1)[None]

    def own_probability(self, xs, ys):
        if self.kind.startswith("vote"):
            keep = np.zeros(len(ys))
            for rows, classes, d in self.distances(xs, ys):
                own = (self.y[np.argsort(d, 1)[:, : self.k]] == classes[:, None]).sum(1)
                keep[rows] = own * 2 > self.k
            return keep
        if self.kind.startswith("nn"):
            keep = np.zeros(len(ys))
            for rows, classes, d in self.distances(xs, ys):
                same = self.y[None] == classes[:, None]
                own = np.where(same, d, np.inf).min(1)
                other = np.where(same, np.inf, d).min(1)
                keep[rows] = np.sqrt(np.maximum(own, 0)) <= self.ratio * np.sqrt(np.maximum(other, 0))
            return keep  # 1 or 0
        if self.kind == "svmarg":
            p = self.model.predict_proba(xs)
            col = np.array([self.classes.index(int(c)) for c in ys])
            return (p.argmax(1) == col).astype(float)
        p = self.model.predict_proba(xs)
        col = np.array([self.classes.index(int(c)) for c in ys])
        return p[np.arange(len(ys)), col]


def select(xs, ys, prob, need, threshold=0.5, origin=None):
    """Of each class's candidates, the first need[c] with probability >= threshold; when
    too few pass, the passing ones only (no fill). With `origin` (each candidate's
    exemplar), the passing ones are taken round-robin over the exemplars."""
    rows = []
    for c, n in need.items():
        cand = np.flatnonzero(ys == c)
        passing = cand[prob[cand] >= threshold]
        if origin is not None and len(passing):
            o = origin[passing]
            rank = np.zeros(len(passing), dtype=int)
            for e in np.unique(o):
                rank[o == e] = np.arange((o == e).sum())
            passing = passing[np.lexsort((np.arange(len(passing)), rank))]
        rows.append(passing[:n])
    rows = np.concatenate(rows)
    return xs[rows], ys[rows]


GENERATORS = {
    "gauss-pooled": m_gauss_pooled,
    "exemplar-gauss": m_exemplar_gauss,
    "exemplar-resid": m_exemplar_resid,
    "brightness": m_brightness,
    "smote-pooled": m_smote_pooled,
    "exemplar": m_exemplar,
}

# name: (generator, keyword arguments, selector or None)
METHODS = {
    "gauss-pooled": ("gauss-pooled", {"scale": 1.0}, None),
    "gauss-pooled-log": ("gauss-pooled", {"scale": 1.0, "log_space": True}, None),
    "exemplar-gauss-0.5": ("exemplar-gauss", {"scale": 0.5}, None),
    "exemplar-gauss-0.7": ("exemplar-gauss", {"scale": 0.7}, None),
    "exemplar-gauss-1.0": ("exemplar-gauss", {"scale": 1.0}, None),
    "exemplar-gauss-log-0.7": ("exemplar-gauss", {"scale": 0.7, "log_space": True}, None),
    "exemplar-resid-0.7": ("exemplar-resid", {"scale": 0.7}, None),
    "exemplar-resid-log-0.7": ("exemplar-resid", {"scale": 0.7, "log_space": True}, None),
    "brightness-0.1": ("brightness", {"sigma": 0.1}, None),
    "smote-pooled-0.5": ("smote-pooled", {"scale": 0.5}, None),
    "exemplar-gauss-0.7+lda": ("exemplar-gauss", {"scale": 0.7}, "lda"),
    "exemplar-gauss-1.0+lda": ("exemplar-gauss", {"scale": 1.0}, "lda"),
    "exemplar-gauss-0.7+svm": ("exemplar-gauss", {"scale": 0.7}, "svm"),
    "gauss-pooled+lda": ("gauss-pooled", {"scale": 1.0}, "lda"),
    "exemplar-own-0.7+nn": ("exemplar", {"cov": "own", "s": 0.7}, "nn"),
    "GAN+nn": ("GAN", {}, "nn"),
    "GAN+svm": ("GAN", {}, "svm"),
    "GAN+lda": ("GAN", {}, "lda"),
}
CANDIDATES_PER_NEEDED = 5  # candidates generated per kept spectrum when selecting


def run_method(name, ctx, need, seed, gan_pool, draw=0):
    generator, kwargs, selector = parse_method(name)
    kwargs = dict(kwargs)
    rng = np.random.default_rng([seed, 16, sum(map(ord, name))] + ([draw] if draw else []))
    start = time.perf_counter()
    holdout = float(kwargs.pop("holdout", 0) or 0)
    if holdout:
        # fit the generator and the selector on the training share that hypersynth's
        # default split leaves (round(holdout * n) of each class held out, at least 1 kept)
        keep = []
        for c in np.unique(ctx["ytr"]):
            rows = np.flatnonzero(ctx["ytr"] == c)
            rows = np.random.default_rng([seed, int(c), 7]).permutation(rows)
            keep.append(rows[min(len(rows) - 1, int(round(holdout * len(rows)))) :])
        keep = np.sort(np.concatenate(keep))
        ctx = dict(ctx, xtr=ctx["xtr"][keep], ytr=ctx["ytr"][keep], selectors={})
    factor = CANDIDATES_PER_NEEDED if selector else 1
    wanted = {c: n * factor for c, n in need.items()}
    if generator == "GAN":
        if gan_pool is None:
            raise RuntimeError("needs the GAN (drop --no-gan)")
        xs, ys = gan_pool
        origin = None
    else:
        made = GENERATORS[generator](ctx["xtr"], ctx["ytr"], wanted, rng, **kwargs)
        xs, ys = made[:2]
        origin = made[2] if len(made) == 3 else None
    if selector:
        if selector not in ctx["selectors"]:
            ctx["selectors"][selector] = Selector(selector, ctx["xtr"], ctx["ytr"], seed)
        prob = ctx["selectors"][selector].own_probability(xs, ys)
        xs, ys = select(xs, ys, prob, need, origin=origin)
    else:
        xs, ys = take(xs, ys, need)
    return xs, ys, time.perf_counter() - start


# ---------------------------------------------------------------------------------------
# The run and the table


def git_commit():
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
        return commit + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("HYPERSYNTH_SHARED_DATA", str(ROOT.parent / "shared" / "data")))
    p.add_argument("--datasets", default=",".join(d for d in DATASETS if d != "enmap-3"))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--target", type=int, default=200, help="spectra per augmented class (default 200)")
    p.add_argument("--augment-only-scarce", action="store_true", help="augment only the scarce classes")
    p.add_argument("--gan-args", default="", help="extra arguments of `hypersynth train spectral`, e.g. \"--loss lsgan\"")
    p.add_argument("--augment-args", default="", help="extra arguments of `hypersynth augment`, e.g. \"--keep-all\"")
    p.add_argument("--no-gan", action="store_true", help="leave out the GAN rows")
    p.add_argument("--more-real", action="store_true", help="add the row of the real pixels thinning removed (a ceiling)")
    p.add_argument("--extra-methods", default="", help="numpy prototypes to add: all, or comma-separated names")
    p.add_argument("--list-methods", action="store_true")
    p.add_argument("--max-test-per-class", type=int, default=0, help="score on at most N untouched pixels per class (0: all)")
    p.add_argument("--jobs", type=int, default=2, help="random-forest threads")
    p.add_argument("--draws", type=int, default=1,
                   help="synthesis draws per seed (other augment / SMOTE / prototype seeds, same training pixels and model); "
                        "each synthetic set's scores are their mean over the draws")
    p.add_argument("--json", help="also write every score to this JSON file")
    p.add_argument("--work", help="keep hypersynth's files here (default: a temporary folder)")
    a = p.parse_args()
    if a.list_methods:
        for name, (g, kw, sel) in METHODS.items():
            print(f"{name:<26} {g} {kw} selection: {sel or '-'}")
        return
    extra = list(METHODS) if a.extra_methods == "all" else [m for m in a.extra_methods.split(",") if m]
    unknown = []
    for m in extra:
        try:
            parse_method(m)
        except (KeyError, ValueError):
            unknown.append(m)
    if unknown:
        p.error(f"unknown methods {unknown}; --list-methods lists them")
    datasets = [d for d in a.datasets.split(",") if d]
    bad = [d for d in datasets if d not in DATASETS]
    if bad:
        p.error(f"unknown data sets {bad}; known: {', '.join(DATASETS)}")
    seeds = [int(s) for s in a.seeds.split(",")]
    binary = os.environ.get("HYPERSYNTH_BIN", str(ROOT / "target" / "debug" / "hypersynth"))
    gan_args = shlex.split(a.gan_args)
    augment_args = shlex.split(a.augment_args)
    data = Path(a.data)
    need_pool = any(parse_method(m)[0] == "GAN" for m in extra)

    import imblearn
    import sklearn

    started = time.perf_counter()
    print(f"command: {' '.join(shlex.quote(v) for v in sys.argv)}")
    print(f"git commit: {git_commit()}; binary: {binary}; scikit-learn {sklearn.__version__}, imbalanced-learn {imblearn.__version__}")
    print(f"GAN: hypersynth default settings{' + ' + a.gan_args if a.gan_args else ''}"
          f"{'; augment ' + a.augment_args if a.augment_args else ''}; target {a.target} per augmented class"
          f" ({'scarce classes only' if a.augment_only_scarce else 'every class below the target'}); seeds {a.seeds}"
          f"; {a.draws} synthesis draw(s) per seed")

    sets = ["real", "ROS", "SMOTE"] + ([] if a.no_gan else ["GAN"]) + (["more-real", "more-real+SMOTE"] if a.more_real else []) + extra
    results = []  # dict rows
    timings = {}
    workroot = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="hypersynth-augmentation-"))
    info = {}
    for dname in datasets:
        t0 = time.perf_counter()
        ds = DATASETS[dname](data)
        x, y = ds["x"], ds["y"]
        classes = sorted(int(c) for c in np.unique(y))
        log(f"{dname}: {len(y)} labelled spectra, {x.shape[1]} bands, {len(classes)} classes (loaded in {time.perf_counter() - t0:.1f} s)")
        for seed in seeds:
            tr, te = split(y, seed, ds["thin"], ds.get("fraction", 0.1))
            te = cap_test(te, y, seed, a.max_test_per_class)
            xtr, ytr, xte, yte = x[tr], y[tr], x[te], y[te]
            counts = {c: int((ytr == c).sum()) for c in classes}
            scarce = [c for c in classes if c in ds["thin"]] if ds["thin"] else [c for c in classes if counts[c] < 30]
            augmented = [c for c in classes if counts[c] < a.target and (c in scarce or not a.augment_only_scarce)]
            need = {c: a.target - counts[c] for c in augmented}
            info[dname] = {"scarce": {ds["names"][c]: counts[c] for c in scarce}, "train": len(ytr), "test": len(yte),
                           "augmented": len(augmented), "classes": len(classes)}
            ctx = dict(xtr=xtr, ytr=ytr, wavelengths=ds["wavelengths"], names=ds["names"], selectors={})
            gan_pool = None
            gan_pools = {}  # per draw, hypersynth's spectra for the prototypes' selection
            for s in sets:
                t = time.perf_counter()
                extra_times = {}
                draw_scores, draw_counts, synth_s = [], [], 0.0
                random_set = s not in ("real", "more-real")
                more_real = s in ("more-real", "more-real+SMOTE")
                try:
                    for draw in range(a.draws if random_set else 1):
                        t_draw = time.perf_counter()
                        if s == "real":
                            xs, ys = xtr[:0], ytr[:0]
                        elif more_real:
                            if not ds["thin"]:
                                raise RuntimeError("not thinned: no real pixels to add")
                            unthinned, _ = split(y, seed, {})
                            added = np.setdiff1d(unthinned, tr)
                            xs, ys = x[added], y[added]
                            if s == "more-real+SMOTE":
                                xu, yu = np.concatenate([xtr, xs]), np.concatenate([ytr, ys])
                                more_need = {c: a.target - int((yu == c).sum()) for c in augmented if (yu == c).sum() < a.target}
                                xo, yo = oversample("SMOTE", xu, yu, more_need, seed, draw)
                                xs, ys = np.concatenate([xs, xo]), np.concatenate([ys, yo])
                        elif s in ("ROS", "SMOTE"):
                            xs, ys = oversample(s, xtr, ytr, need, seed, draw)
                        elif s == "GAN":
                            work = workroot / dname / f"seed{seed}"
                            work.mkdir(parents=True, exist_ok=True)
                            pool = a.target * CANDIDATES_PER_NEEDED if need_pool else None
                            xg, yg, train_s, aug_s = gan(ctx, work, binary, gan_args, augment_args, a.target, seed, pool, draw)
                            extra_times = {"train_s": extra_times.get("train_s", 0.0) + train_s,
                                           "augment_s": extra_times.get("augment_s", 0.0) + aug_s / a.draws}
                            if need_pool:
                                gan_pools[draw] = (xg, yg)
                            xs, ys = take(xg, yg, need)
                        else:
                            xs, ys, _ = run_method(s, ctx, need, seed, gan_pools.get(draw), draw)
                        synth_s += time.perf_counter() - t_draw
                        keep = np.isin(te, added, invert=True) if more_real else slice(None)
                        draw_scores.append(score(np.concatenate([xtr, xs]), np.concatenate([ytr, ys]), xte[keep], yte[keep], classes, scarce, seed, a.jobs))
                        draw_counts.append(len(ys))
                except RuntimeError as e:
                    log(f"  {dname} seed {seed} {s}: {e}")
                    results.append(dict(dataset=dname, seed=seed, set=s, error=str(e)))
                    continue
                row = dict(dataset=dname, seed=seed, set=s, synthetic=float(np.mean(draw_counts)), synth_s=synth_s / len(draw_scores),
                           draws=len(draw_scores), **extra_times)
                for clf in draw_scores[0]:
                    row[f"f1_{clf}"] = float(np.mean([d[clf][0] for d in draw_scores]))
                    row[f"oa_{clf}"] = float(np.mean([d[clf][1] for d in draw_scores]))
                results.append(row)
                timings.setdefault(s, []).append(synth_s)
                log(f"  {dname} seed {seed} {s:<24} +{row['synthetic']:5.0f}  scarce F1 SVM {row['f1_SVM']:.3f} RF {row['f1_RF']:.3f}"
                    f"  OA SVM {row['oa_SVM']:.3f} RF {row['oa_RF']:.3f}  ({len(draw_scores)} draw(s), {time.perf_counter() - t:.1f} s in all)")
    if a.json:
        Path(a.json).write_text(json.dumps({"results": results, "info": info}, indent=1))
    print_table(results, datasets, sets, info)
    print(f"wall time: {time.perf_counter() - started:.0f} s")


def print_table(results, datasets, sets, info):
    ok = [r for r in results if "error" not in r]

    def cell(d, s, key):
        v = [r[key] for r in ok if r["dataset"] == d and r["set"] == s]
        return np.array(v) if v else None

    print()
    print("scarce F1 = mean F1 of the scarce classes on the untouched pixels; OA = overall accuracy; mean over seeds (sd)")
    print()
    print(f"| data set | training set | scarce F1 SVM | scarce F1 RF | scarce F1 mean | OA SVM | OA RF | synthetic | s/seed |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d in datasets:
        for s in sets:
            f1s, f1r, oas, oar = (cell(d, s, k) for k in ("f1_SVM", "f1_RF", "oa_SVM", "oa_RF"))
            if f1s is None:
                errs = [r for r in results if r["dataset"] == d and r["set"] == s]
                print(f"| {d} | {s} | failed: {errs[0]['error'][:80] if errs else 'not run'} | | | | | | |")
                continue
            fmt = lambda v: f"{v.mean():.3f} ({v.std():.3f})"
            n = cell(d, s, "synthetic")
            t = cell(d, s, "synth_s")
            print(f"| {d} | {s} | {fmt(f1s)} | {fmt(f1r)} | {(f1s + f1r).mean() / 2:.3f} | {fmt(oas)} | {fmt(oar)} | {n.mean():.0f} | {t.mean():.1f} |")
    print()
    print("data sets: " + "; ".join(f"{d}: {v['classes']} classes, {v['train']} training / {v['test']} untouched pixels, "
                                     f"{v['augmented']} classes augmented, scarce (training pixels) "
                                     + ", ".join(f"{k} ({n})" for k, n in v["scarce"].items()) for d, v in info.items()))
    print()
    others = [s for s in sets if s not in ("real", "SMOTE")]
    print("mean lifts in points (x 100) over seeds and the two classifiers; per seed the lift is the mean of SVM and RF")
    print()
    print("| data set | set | scarce F1 − real | scarce F1 − SMOTE | OA − real | OA − SMOTE | seeds with scarce F1 > real |")
    print("|---|---|---|---|---|---|---|")

    def per_seed(d, s, key):
        return {r["seed"]: (r[f"{key}_SVM"] + r[f"{key}_RF"]) / 2 for r in ok if r["dataset"] == d and r["set"] == s}

    for s in others:
        for d in datasets:
            m = {k: per_seed(d, s, k) for k in ("f1", "oa")}
            base = {k: per_seed(d, "real", k) for k in ("f1", "oa")}
            smote = {k: per_seed(d, "SMOTE", k) for k in ("f1", "oa")}
            if not m["f1"]:
                continue

            def lift(k, ref):
                common = [sd for sd in m[k] if sd in ref[k]]
                return 100 * np.mean([m[k][sd] - ref[k][sd] for sd in common]) if common else float("nan")

            wins = sum(m["f1"][sd] > base["f1"][sd] for sd in m["f1"] if sd in base["f1"])
            print(f"| {d} | {s} | {lift('f1', base):+.1f} | {lift('f1', smote):+.1f} | {lift('oa', base):+.1f} | {lift('oa', smote):+.1f} | {wins}/{len(m['f1'])} |")


if __name__ == "__main__":
    main()
