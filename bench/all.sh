#!/usr/bin/env bash
# Every benchmark of docs/PERFORMANCE.md in one run, then the table of ratios against the
# goals of issues 8 and 20: synthesis (bench/synthesis.sh), scene inference and memory
# (bench/fuse.sh, bench/super_resolve.sh), training against PyTorch (bench/train_spectral.sh)
# and the GPU providers against the CPU (bench/gpu.sh, which says so and skips when there is
# no GPU).
#
#   bench/all.sh          (after scripts/setup.sh; needs the shared data set; ~19 minutes)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
benches=(synthesis fuse super_resolve train_spectral gpu)
for bench in "${benches[@]}"; do
    echo "== bench/$bench.sh"
    "$root/bench/$bench.sh" | tee "$work/$bench.txt"
    echo
done
echo "== ratios against the goals of issues 8 and 20"
for bench in "${benches[@]}"; do
    grep -hE " = |not measured" "$work/$bench.txt" | sed "s|^|$bench: |"
done
