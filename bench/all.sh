#!/usr/bin/env bash
# Every benchmark of docs/PERFORMANCE.md in one run, then the table of ratios against the
# goals of issue 8: synthesis (bench/synthesis.sh), scene inference and memory
# (bench/fuse.sh), training against PyTorch (bench/train_spectral.sh) and the GPU providers
# against the CPU (bench/gpu.sh, which says so and skips when there is no GPU).
#
#   bench/all.sh          (after scripts/setup.sh; needs the shared data set; ~12 minutes)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for bench in synthesis fuse train_spectral gpu; do
    echo "== bench/$bench.sh"
    "$root/bench/$bench.sh" | tee "$work/$bench.txt"
    echo
done
echo "== ratios against the goals of issue 8"
for bench in synthesis fuse train_spectral gpu; do
    grep -hE " = |not measured" "$work/$bench.txt" | sed "s|^|$bench: |"
done
