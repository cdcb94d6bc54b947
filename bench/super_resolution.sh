#!/usr/bin/env bash
# Benchmark of issue 19: `train cyclegan` (default settings) + `super-resolve` against GDAL's
# bicubic and Lanczos resampling, PSNR / SSIM / SAM on pixels neither domain held, for three
# degradation recipes (block means; Gaussian blur sigma 1 with every scale-th pixel kept;
# GDAL -r gauss) x scales 2 and 3, on SalinasA and on the EnMAP Potsdam tiles of
# ../shared/data. One table on stdout, progress on stderr (bench/super_resolution.py says
# more; its options pass through).
#
#   bench/super_resolution.sh                     (after scripts/setup.sh; about 15 minutes on 2 cores)
#   bench/super_resolution.sh --known-offset      tells training where each recipe centres its low-res pixels
#   bench/super_resolution.sh --no-train          the resampling rows only (seconds)
#   bench/super_resolution.sh --datasets salinasA --recipes gauss --scales 2 --train-args "--steps 600"
#   HYPERSYNTH_BIN=path/to/hypersynth bench/super_resolution.sh    uses that binary, no cargo build
#   HYPERSYNTH_SHARED_DATA=DIR bench/super_resolution.sh           the data set folder (default ../shared/data)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/python_bench.sh"
exec "$py" bench/super_resolution.py --data "$data" "$@"
