#!/usr/bin/env python3
"""The spectral cGAN of `hypersynth train spectral` (default settings), trained in PyTorch on
the CPU, for bench/train_spectral.sh to compare steps/s with.

Mirrors models/src/spectral_cgan.rs, training.rs, losses.rs, adam.rs and the default
principal-components normalisation (spectral/src/normalise.rs): the same architecture,
initialisation bounds, non-saturating loss, Adam settings (TTUR), batch size, d_steps, EMA
generator, validation MMD every 100 steps and checkpoint every 250 steps. Random numbers
come from torch's generator (seeded) rather than hypersynth's ChaCha streams, so the two
runs see different batches, noise and dropout masks: same work, not the same numbers.

Timed: the training loop only (every step's D and G updates, the EMA update, the loss and
D(x) / D(G(z)) read-outs hypersynth logs, validation and checkpoints), like the `seconds`
of hypersynth's run.json, which starts after the data are loaded and normalised.
Not timed: Python and torch start-up, reading the Parquet table, the split, the PCA fit,
and building the networks; nor does this script write the metrics CSV or export ONNX.

    .venv-torch/bin/python bench/torch_train_spectral.py TABLE.parquet STEPS [--rust-checkpoint M.checkpoint.safetensors]

Prints a few lines about the run on stderr and one JSON line on stdout: steps, seconds,
steps_per_s, torch version, threads, and the parameter counts of G and D, PyTorch's and
hypersynth's (read from its checkpoint when given, else from the architecture formula).
"""
import argparse
import json
import os
import struct
import sys
import tempfile
import time

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from torch import nn

# SpectralCganConfig::new and TrainConfig::default.
LATENT, EMBEDDING, G_WIDTHS, D_WIDTHS, DROPOUT, SLOPE = 32, 16, (128, 256), (256, 128), 0.4, 0.2
BATCH, D_STEPS, LR_G, LR_D, BETAS, EPS, EMA = 128, 2, 1e-4, 4e-4, (0.5, 0.999), 1e-8, 0.995
VALIDATE_EVERY, CHECKPOINT_EVERY, VALIDATION_ROWS = 100, 250, 256
# `train spectral` defaults: 20 % validation, 20 % test, 12 principal components, 5 % headroom.
VALIDATION, TEST, COMPONENTS, MARGIN = 0.2, 0.2, 12, 0.05


# --- data, split and normalisation (not timed) ----------------------------------------------

def load(path, seed):
    """Training and validation spectra, normalised as hypersynth does, with class indices."""
    table = pq.read_table(path)
    ids = table.column("class_id").to_numpy().astype(np.int64)
    x = np.stack([table.column(n).to_numpy().astype(np.float32) for n in table.column_names if n != "class_id"], 1)
    x, ids = x[ids != 0], ids[ids != 0]  # label 0 is unlabelled
    classes = np.searchsorted(np.unique(ids), ids)  # class index = rank of the class id
    # Stratified split as spectral/src/split.rs (same rounding and counts; numpy's shuffle).
    rng, train, val = np.random.default_rng(seed), [], []
    for c in np.unique(classes):
        rows = rng.permutation(np.flatnonzero(classes == c))
        n = len(rows)
        n_test = min(int(np.floor(n * TEST + 0.5)), n - 1)
        n_val = min(int(np.floor(n * VALIDATION + 0.5)), n - n_test - 1)
        val += list(rows[n_test:n_test + n_val])
        train += list(rows[n_test + n_val:])
    train, val = np.sort(train), np.sort(val)
    # Normaliser::fit with Layout::PrincipalComponents(12): the leading principal axes of
    # the training rows (f64), each axis's training range x 1.05 mapped to (-1, 1).
    xt = x[train].astype(np.float64)
    centre = xt.mean(0)
    values, vectors = np.linalg.eigh(np.cov(xt - centre, rowvar=False))
    rotation = vectors[:, np.argsort(values)[::-1][:COMPONENTS]]
    coords = (xt - centre) @ rotation
    lo, hi = coords.min(0), coords.max(0)
    half = np.where(hi - lo > 1e-9 * (hi - lo).max(), (hi - lo) / 2 * (1 + MARGIN), 1.0)

    def normalise(rows):
        return torch.from_numpy((((x[rows] - centre) @ rotation - (hi + lo) / 2) / half).astype(np.float32))

    return normalise(train), torch.from_numpy(classes[train]), normalise(val), torch.from_numpy(classes[val])


# --- networks (models/src/spectral_cgan.rs) -----------------------------------------------
# nn.Linear's default initialisation is uniform in ±1/sqrt(in) for weight and bias, as
# Linear::new; nn.Embedding's is N(0, 1), as Embedding::new; nn.BatchNorm1d's momentum 0.1,
# eps 1e-5 and unbiased running variance are BatchNorm's.

class Generator(nn.Module):
    """z ++ embedding -> (Linear -> BatchNorm -> LeakyReLU(0.2)) x 2 -> Linear -> Tanh."""

    def __init__(self, dims, classes):
        super().__init__()
        self.embedding = nn.Embedding(classes, EMBEDDING)
        layers, width = [], LATENT + EMBEDDING
        for w in G_WIDTHS:
            layers += [nn.Linear(width, w), nn.BatchNorm1d(w), nn.LeakyReLU(SLOPE)]
            width = w
        self.body = nn.Sequential(*layers, nn.Linear(width, dims), nn.Tanh())

    def forward(self, z, c):
        return self.body(torch.cat([z, self.embedding(c)], 1))


class Discriminator(nn.Module):
    """spectrum ++ embedding -> (Linear -> LeakyReLU(0.2) -> Dropout(0.4)) x 2 -> Linear(1)."""

    def __init__(self, dims, classes):
        super().__init__()
        self.embedding = nn.Embedding(classes, EMBEDDING)
        layers, width = [], dims + EMBEDDING
        for w in D_WIDTHS:
            layers += [nn.Linear(width, w), nn.LeakyReLU(SLOPE), nn.Dropout(DROPOUT)]
            width = w
        self.body = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, x, c):
        return self.body(torch.cat([x, self.embedding(c)], 1)).squeeze(1)


def formula_counts(dims, classes):
    """Trainable parameters of hypersynth's G and D, from the layer shapes in spectral_cgan.rs."""
    linear = lambda i, o: i * o + o  # noqa: E731
    g, width = classes * EMBEDDING, LATENT + EMBEDDING
    for w in G_WIDTHS:
        g, width = g + linear(width, w) + 2 * w, w  # Linear + BatchNorm gamma and beta
    g += linear(width, dims)
    d, width = classes * EMBEDDING, dims + EMBEDDING
    for w in D_WIDTHS:
        d, width = d + linear(width, w), w
    return g, d + linear(width, 1)


def checkpoint_counts(path):
    """Trainable parameters of G and D in hypersynth's checkpoint (safetensors: 8-byte header
    length, then a JSON header of shapes): G's tensors less its running statistics, and D's."""
    with open(path, "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    count = lambda keep: sum(int(np.prod(v["shape"])) for k, v in header.items() if keep(k))  # noqa: E731
    return count(lambda k: k.startswith("g.") and "running_" not in k), count(lambda k: k.startswith("d."))


# --- training (models/src/training.rs) ----------------------------------------------------

def bce(logits, target):
    # losses.rs `bce`: mean(softplus(x) - t x), the same function PyTorch computes fused.
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def mmd_rbf(x, y):
    """spectral/src/metrics.rs `mmd_rbf`, in f64: RBF kernel with gamma = 1 / the median
    (upper, as select_nth at len/2) squared distance of the pooled set."""
    pooled = torch.cat([x, y]).double()
    d = torch.cdist(pooled, pooled, compute_mode="donot_use_mm_for_euclid_dist").square()  # exact, as metrics.rs
    i, j = torch.triu_indices(len(pooled), len(pooled), 1)
    pairs = d[i, j]
    median = torch.kthvalue(pairs, len(pairs) // 2 + 1).values
    k = torch.exp(-d / median if median > 0 else -d)
    m, n = len(x), len(y)
    within = lambda b: (b.sum() - len(b)) / (len(b) * (len(b) - 1))  # noqa: E731 (diagonal k = 1 left out)
    return float(within(k[:m, :m]) + within(k[m:, m:]) - 2 * k[:m, m:].mean())


def validate(generator, val_x, val_c, classes, seed):
    """Mean per-class MMD of validation spectra (at most 256) and as many generated ones
    (at least 64), from fixed noise, with the generator in inference mode."""
    rng = torch.Generator().manual_seed(seed)
    generator.eval()
    scores = []
    with torch.no_grad():
        for c in range(classes):
            real = val_x[val_c == c]
            if len(real) < 2:
                continue
            if len(real) > VALIDATION_ROWS:
                real = real[torch.randperm(len(real), generator=rng)[:VALIDATION_ROWS]]
            n = max(len(real), 64)
            fake = generator(torch.randn(n, LATENT, generator=rng), torch.full((n,), c))
            scores.append(mmd_rbf(real, fake))
    generator.train()
    return sum(scores) / len(scores) if scores else float("inf")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table")
    parser.add_argument("steps", type=int)
    parser.add_argument("--rust-checkpoint", help="hypersynth's M.checkpoint.safetensors, to count its parameters")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="default: all cores, as hypersynth")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    train_x, train_c, val_x, val_c = load(args.table, args.seed)
    dims, classes = train_x.shape[1], int(train_c.max()) + 1
    # Class-balanced batches as `sample_batch`: a class drawn uniformly among those with
    # training rows, then one of its rows. Rows are sorted by class so that class k's are
    # train_x[start[k] : start[k] + count[k]].
    order = torch.argsort(train_c, stable=True)
    train_x, train_c = train_x[order], train_c[order]
    count = torch.bincount(train_c, minlength=classes)
    start = torch.cumsum(count, 0) - count
    present = torch.nonzero(count).squeeze(1)

    def random_classes():
        return present[torch.randint(len(present), (BATCH,))]

    def sample_batch():
        k = random_classes()
        return train_x[start[k] + (torch.rand(BATCH) * count[k]).long()], k

    g, d = Generator(dims, classes), Discriminator(dims, classes)
    ema, best = Generator(dims, classes), Generator(dims, classes)
    ema.load_state_dict(g.state_dict())
    best.load_state_dict(g.state_dict())
    opt_g = torch.optim.Adam(g.parameters(), lr=LR_G, betas=BETAS, eps=EPS)  # adam.rs: no weight decay,
    opt_d = torch.optim.Adam(d.parameters(), lr=LR_D, betas=BETAS, eps=EPS)  # eps added after the sqrt
    counts = {"g": sum(p.numel() for p in g.parameters()), "d": sum(p.numel() for p in d.parameters())}
    rust_g, rust_d = checkpoint_counts(args.rust_checkpoint) if args.rust_checkpoint else formula_counts(dims, classes)
    checkpoint = os.path.join(tempfile.mkdtemp(), "checkpoint.pt")
    best_mmd, validation_seconds = float("inf"), 0.0

    start_time = time.perf_counter()
    for step in range(1, args.steps + 1):
        for _ in range(D_STEPS):
            real, real_c = sample_batch()
            fake_c = random_classes()
            # G in training mode (batch statistics, running ones updated), then detached.
            fake = g(torch.randn(BATCH, LATENT), fake_c).detach()
            # Two passes, each with its own dropout masks, as `step` does.
            judged_real, judged_fake = d(real, real_c), d(fake, fake_c)
            loss_d = bce(judged_real, 1.0) + bce(judged_fake, 0.0)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            record = (loss_d.item(), torch.sigmoid(judged_real).mean().item(), torch.sigmoid(judged_fake).mean().item())
        c = random_classes()
        # Non-saturating G loss; as in candle, backward also computes D's (unused) gradients.
        loss_g = bce(d(g(torch.randn(BATCH, LATENT), c), c), 1.0)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        record += (loss_g.item(),)
        with torch.no_grad():  # Generator::ema_update: parameters averaged, running statistics taken
            for shadow, p in zip(ema.parameters(), g.parameters()):
                shadow.mul_(EMA).add_(p, alpha=1 - EMA)
            for shadow, b in zip(ema.buffers(), g.buffers()):
                shadow.copy_(b)
        if step % VALIDATE_EVERY == 0 or step == args.steps:
            t = time.perf_counter()
            mmd = validate(ema, val_x, val_c, classes, args.seed)
            if mmd < best_mmd:
                best_mmd = mmd
                best.load_state_dict(ema.state_dict())
            validation_seconds += time.perf_counter() - t
        if step % CHECKPOINT_EVERY == 0 or step == args.steps:
            torch.save({"g": g.state_dict(), "d": d.state_dict(), "ema": ema.state_dict(), "best": best.state_dict(),
                        "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "step": step}, checkpoint)
    seconds = time.perf_counter() - start_time

    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads: {len(train_x)} training spectra, "
          f"{dims} normalised dimensions, {classes} classes; last losses D {record[0]:.4f} G {record[3]:.4f}, "
          f"D(x) {record[1]:.2f} D(G(z)) {record[2]:.2f}; best validation MMD {best_mmd:.4f}; "
          f"validation {validation_seconds:.2f} s of {seconds:.1f} s", file=sys.stderr)
    print(json.dumps({
        "steps": args.steps, "seconds": round(seconds, 3), "steps_per_s": round(args.steps / seconds, 2),
        "validation_seconds": round(validation_seconds, 3), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "params_g": counts["g"], "params_d": counts["d"], "rust_params_g": rust_g, "rust_params_d": rust_d,
        "rust_params_from": "checkpoint" if args.rust_checkpoint else "formula",
    }))


if __name__ == "__main__":
    main()
