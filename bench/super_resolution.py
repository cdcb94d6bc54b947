"""Benchmark of issue 19: does `train cyclegan` + `super-resolve` beat plain resampling on
scenes degraded in several ways, scored on pixels neither domain held?

For each data set (SalinasA; the 18 EnMAP Potsdam tiles), degradation recipe and scale:

- the high-res truth is cut from the data set with GDAL (its band metadata kept);
- the low-res scene is made from it by one of three recipes:
  `mean`  GDAL `-r average` (each low-res pixel the mean of its block, centred on it);
  `gauss` a Gaussian blur of sigma 1 high-res pixel (scipy), then every `scale`-th pixel
          kept, starting with the first (so a low-res pixel sits off its block's centre);
  `gdal-gauss` GDAL `-r gauss` (GDAL's Gaussian kernel, centred on a pixel of each block);
- domain A (low-res), domain B (high-res) and the evaluation pairs do not overlap:
  SalinasA: low-res rows of the first third (A), high-res rows of the second third (B),
  the last third scored; EnMAP: tiles 1-6 low-res (A), tiles 7-12 high-res (B), tiles
  13-18 scored (tiles in file-name order);
- `train cyclegan` with default settings (plus --train-args), then `super-resolve` of every
  evaluation scene (`--tile 24 --overlap 4`);
- scored from the files with numpy against the truth, with GDAL's bicubic (`-r cubic`, what
  hypersynth resamples with) and Lanczos (`-r lanczos`) beside it: PSNR over the truth's
  range (all evaluation pixels pooled), SSIM (7x7 uniform windows, per band, as
  scikit-image), mean spectral angle.

Prints one table on stdout (progress on stderr); `--no-train` prints the resampling rows only;
`--oracle` adds least-squares filters fitted to true pairs of domain B's ground (a bound
for what any method that only filters the bicubic image linearly can reach);
`--known-offset` tells `train cyclegan` where each recipe centres its low-res pixels
(`--psf-offset`), which unpaired scenes cannot tell it.
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import tifffile
from scipy import ndimage

RECIPES = ["mean", "gauss", "gdal-gauss"]
# Where each recipe centres a low-res pixel, in high-res pixels from its block's centre
# (both axes), at scale s: GDAL's average on the block; the first pixel of the block;
# GDAL's gauss on its last pixel (measured: it matches a Gaussian blur sampled there).
PSF_OFFSET = {"mean": lambda s: 0.0, "gauss": lambda s: -(s - 1) / 2, "gdal-gauss": lambda s: (s - 1) / 2}
DATASETS = ["salinasA", "enmap"]
TILE = ["--tile", "24", "--overlap", "4"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def gdal(*args):
    subprocess.run(["gdal_translate", "-q", *map(str, args)], check=True)


def read(path):
    """`[rows, cols, bands]` float64 from a GeoTIFF written either interleave."""
    a = tifffile.imread(path).astype(np.float64)
    bands = int(subprocess.run(["gdalinfo", path], capture_output=True, text=True, check=True).stdout.count("\nBand "))
    if a.ndim == 2:
        return a[:, :, None]
    return np.moveaxis(a, 0, -1) if a.shape[0] == bands and a.shape[-1] != bands else a


def degrade(hr, lr, scale, recipe, work):
    """Writes the low-res version of `hr` to `lr` by `recipe`."""
    info = subprocess.run(["gdalinfo", hr], capture_output=True, text=True, check=True).stdout
    cols, rows = (int(v) for v in info.split("Size is ")[1].split("\n")[0].split(", "))
    size = ["-outsize", cols // scale, rows // scale]
    if recipe == "mean":
        gdal("-r", "average", *size, hr, lr)
    elif recipe == "gdal-gauss":
        gdal("-r", "gauss", *size, hr, lr)
    elif recipe == "gauss":
        # The values of blur + sampling with the grid and metadata of a GDAL decimation:
        # a virtual raster of that decimation made to read the values from a plain TIFF.
        shaped = f"{lr}.grid.tif"
        gdal("-r", "average", *size, hr, shaped)
        truth = np.moveaxis(read(hr), -1, 0)
        blurred = ndimage.gaussian_filter(truth, sigma=(0, 1, 1), mode="reflect")
        values = blurred[:, ::scale, ::scale][:, : rows // scale, : cols // scale].astype(np.float32)
        tifffile.imwrite(f"{lr}.values.tif", values, planarconfig="separate", photometric="minisblack", metadata=None)
        gdal("-of", "VRT", "-ot", "Float32", shaped, f"{lr}.vrt")
        vrt = open(f"{lr}.vrt").read().replace(os.path.basename(shaped), os.path.basename(f"{lr}.values.tif"))
        open(f"{lr}.vrt", "w").write(vrt)
        gdal(f"{lr}.vrt", lr)
    else:
        raise SystemExit(f"unknown recipe {recipe}")


def make_sets(data, dataset, recipe, scale, work):
    """(domain A files, domain B files, [(low-res, truth)] to score, [(low-res, truth)] of
    domain B's ground, for the oracle) in `work`."""
    os.makedirs(work, exist_ok=True)
    if dataset == "salinasA":
        src = f"{data}/salinasA/salinasA.tif"
        info = subprocess.run(["gdalinfo", src], capture_output=True, text=True, check=True).stdout
        cols, rows = (int(v) for v in info.split("Size is ")[1].split("\n")[0].split(", "))
        low_rows, low_cols = rows // scale, cols // scale
        hr = f"{work}/hr.tif"
        gdal("-co", "INTERLEAVE=BAND", "-srcwin", 0, 0, low_cols * scale, low_rows * scale, src, hr)
        lr = f"{work}/lr.tif"
        degrade(hr, lr, scale, recipe, work)
        third = low_rows // 3
        a, b = f"{work}/a.tif", f"{work}/b.tif"
        gdal("-srcwin", 0, 0, low_cols, third, lr, a)
        gdal("-srcwin", 0, third * scale, low_cols * scale, third * scale, hr, b)
        ev_lr, ev_hr = f"{work}/eval_lr.tif", f"{work}/eval_hr.tif"
        gdal("-srcwin", 0, 2 * third, low_cols, low_rows - 2 * third, lr, ev_lr)
        gdal("-srcwin", 0, 2 * third * scale, low_cols * scale, (low_rows - 2 * third) * scale, hr, ev_hr)
        lr_b = f"{work}/b_lr.tif"
        gdal("-srcwin", 0, third, low_cols, third, lr, lr_b)
        return [a], [b], [(ev_lr, ev_hr)], [(lr_b, b)]
    tiles = sorted(glob.glob(f"{data}/enmap_potsdam/images/*.tif"))
    # Bands with data (the tiles' water-absorption bands hold only the nodata marker).
    first = read(tiles[0])
    kept = [f"-b {k + 1}" for k in range(first.shape[2]) if not np.all(first[:, :, k] == -32768)]
    a, b, pairs, b_pairs = [], [], [], []
    for i, tile in enumerate(tiles):
        side = 32 // scale * scale
        hr = f"{work}/hr{i}.tif"
        # Physical values (the tiles store DN with a scale of 0.0001), as hypersynth writes them.
        gdal("-co", "INTERLEAVE=BAND", "-unscale", "-ot", "Float32", *" ".join(kept).split(), "-srcwin", 0, 0, side, side, tile, hr)
        lr = f"{work}/lr{i}.tif"
        degrade(hr, lr, scale, recipe, work)
        if i < 6:
            a.append(lr)
        elif i < 12:
            b.append(hr)
            b_pairs.append((lr, hr))
        else:
            pairs.append((lr, hr))
    return a, b, pairs, b_pairs


def ssim_sum(x, y, data_range):
    """Sum and count of SSIM over the 7x7 windows wholly inside one band."""
    w, n = 7, 49
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    f = lambda v: ndimage.uniform_filter(v, size=w, mode="reflect")
    ux, uy = f(x), f(y)
    cov = n / (n - 1)
    vx, vy, vxy = cov * (f(x * x) - ux * ux), cov * (f(y * y) - uy * uy), cov * (f(x * y) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    p = w // 2
    inner = s[p : s.shape[0] - p, p : s.shape[1] - p]
    return inner.sum(), inner.size


def scores(estimates, truths):
    """PSNR (dB, pooled over the truth's range), SSIM, mean spectral angle (degrees)."""
    lo = min(t.min() for t in truths)
    hi = max(t.max() for t in truths)
    data_range = hi - lo
    sq = sum(((e - t) ** 2).sum() for e, t in zip(estimates, truths))
    count = sum(t.size for t in truths)
    psnr = 10 * np.log10(data_range**2 / (sq / count))
    s_sum = s_n = 0
    for e, t in zip(estimates, truths):
        for band in range(t.shape[2]):
            a, n = ssim_sum(e[:, :, band], t[:, :, band], data_range)
            s_sum, s_n = s_sum + a, s_n + n
    angles = []
    for e, t in zip(estimates, truths):
        norms = np.linalg.norm(e, axis=-1) * np.linalg.norm(t, axis=-1)
        # Spectra of zeros (a dead pixel of the truth) have no angle.
        cos = (e * t).sum(-1)[norms > 0] / norms[norms > 0]
        angles.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return psnr, s_sum / s_n, np.concatenate(angles).mean()


def resampled(lr, like, alg, out):
    info = subprocess.run(["gdalinfo", like], capture_output=True, text=True, check=True).stdout
    cols, rows = info.split("Size is ")[1].split("\n")[0].split(", ")
    gdal("-r", alg, "-outsize", cols, rows, "-ot", "Float32", lr, out)
    return read(out)


def neighbourhoods(image, r=3):
    """`[rows, cols, bands, (2r+1)^2]`: each value's (2r+1) x (2r+1) neighbourhood (reflected at the edges)."""
    padded = np.pad(image, ((r, r), (r, r), (0, 0)), mode="reflect")
    rows, cols, _ = image.shape
    return np.stack([padded[i : i + rows, j : j + cols] for i in range(2 * r + 1) for j in range(2 * r + 1)], -1)


def oracle(train_pairs, pairs, samples=200_000):
    """Rows "oracle-sym" and "oracle-free": one 7x7 filter on the bicubic resampling, shared
    by all bands, fitted by least squares to the truth of domain B's ground (pairs no
    unpaired method has), point-symmetric (it cannot move the image) or free."""
    rng = np.random.default_rng(0)
    x = np.concatenate([neighbourhoods(resampled(lr, hr, "cubic", f"{lr}.cubic.tif")).reshape(-1, 49) for lr, hr in train_pairs])
    y = np.concatenate([read(hr).reshape(-1) for _, hr in train_pairs])
    keep = rng.choice(len(y), size=min(samples, len(y)), replace=False)
    x, y = x[keep], y[keep]
    symmetric = np.zeros((49, 25))
    for i in range(49):
        symmetric[i, min(i, 48 - i)] = 1
    filters = {"oracle-sym": symmetric @ np.linalg.lstsq(x @ symmetric, y, rcond=None)[0], "oracle-free": np.linalg.lstsq(x, y, rcond=None)[0]}
    rows = {}
    for name, w in filters.items():
        rows[name] = ([neighbourhoods(resampled(lr, hr, "cubic", f"{lr}.cubic.tif")) @ w for lr, hr in pairs], None)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="the shared data set folder")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--recipes", default=",".join(RECIPES))
    p.add_argument("--scales", default="2,3")
    p.add_argument("--train-args", default="", help="extra `train cyclegan` arguments")
    p.add_argument("--no-train", action="store_true", help="resampling rows only")
    p.add_argument("--known-offset", action="store_true", help="give `train cyclegan` each recipe's --psf-offset")
    p.add_argument("--oracle", action="store_true", help="also least-squares 7x7 filters fitted to domain B's true pairs")
    p.add_argument("--keep", help="work in this folder and keep it")
    args = p.parse_args()
    binary = os.environ.get("HYPERSYNTH_BIN", "hypersynth")
    root = args.keep or tempfile.mkdtemp(prefix="hypersynth-sr-")
    rows = []
    header = f"{'data set':9} {'recipe':10} {'x':>2} | {'method':8} {'PSNR dB':>8} {'SSIM':>7} {'SAM °':>7} | {'vs bicubic':>10} {'train s':>7}"
    for dataset in args.datasets.split(","):
        for recipe in args.recipes.split(","):
            for scale in map(int, args.scales.split(",")):
                work = f"{root}/{dataset}-{recipe}-x{scale}"
                a, b, pairs, b_pairs = make_sets(args.data, dataset, recipe, scale, work)
                truths = [read(hr) for _, hr in pairs]
                methods = {}
                for alg, name in [("cubic", "bicubic"), ("lanczos", "lanczos")]:
                    methods[name] = ([resampled(lr, hr, alg, f"{lr}.{alg}.tif") for lr, hr in pairs], None)
                if args.oracle:
                    methods.update(oracle(b_pairs, pairs))
                if not args.no_train:
                    model = f"{work}/sr.onnx"
                    log(f"{dataset} {recipe} x{scale}: training on {len(a)} + {len(b)} scenes")
                    clock = time.time()
                    cmd = [binary, "train", "cyclegan", "--domain-a", *a, "--domain-b", *b, "--scale", str(scale), "--out", model, "-q"]
                    if args.known_offset:
                        offset = PSF_OFFSET[recipe](scale)
                        cmd += [f"--psf-offset={offset},{offset}"]
                    subprocess.run(cmd + args.train_args.split(), check=True)
                    seconds = time.time() - clock
                    outs = []
                    for lr, hr in pairs:
                        out = f"{lr}.sr.tif"
                        cmd = [binary, "super-resolve", "--model", model, "--input", lr, "--out", out, "-q", *TILE]
                        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                        outs.append(read(out))
                    methods["model"] = (outs, seconds)
                base = None
                for name, (estimates, seconds) in methods.items():
                    psnr, ssim, sam = scores(estimates, truths)
                    base = psnr if base is None else base
                    gain = "" if name == "bicubic" else f"{psnr - base:+.2f}"
                    rows.append(
                        f"{dataset:9} {recipe:10} {scale:>2} | {name:8} {psnr:8.2f} {ssim:7.4f} {sam:7.3f} | {gain:>10} {'' if seconds is None else f'{seconds:.0f}':>7}"
                    )
                    log(rows[-1])
    print(header)
    print("-" * len(header))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
