#!/usr/bin/env bash
# Benchmark of issue 16: do hypersynth's synthetic spectra make classifiers better on
# pixels that nobody trained on? For each data set of ../shared/data (the EnMAP Potsdam
# mosaic at 10 % training labels; SalinasA with three classes thinned to 10 and to 25
# training pixels; the earthlib spectral library at 10 %), seeds 0, 1, 2 (the seed draws the
# training pixels), and training sets real / + random oversampling / + SMOTE / + hypersynth
# (row "GAN": `train spectral --table T` with default settings, then
# `augment --target-per-class 200 --no-report`), an RBF SVM and a random forest from
# scikit-learn are trained and scored on the untouched labelled pixels: the scarce classes'
# mean F1 and the overall accuracy, then the mean lifts of hypersynth against real only and
# against SMOTE. Prints the table on stdout, progress on stderr (bench/augmentation.py
# says more; all its options pass through).
#
#   bench/augmentation.sh                              (after scripts/setup.sh; about 4 minutes on 2 cores)
#   bench/augmentation.sh --gan-args "--generator gan" the conditional GAN (about 10 minutes)
#   bench/augmentation.sh --gan-args "--generator gan --loss lsgan"    and its settings
#   bench/augmentation.sh --gan-args "--generator dagan"  the exemplar GAN (about 30 minutes; docs/TRAINING.md)
#   bench/augmentation.sh --seeds 0,1,2,3,4 --datasets enmap
#   bench/augmentation.sh --seeds 0,1,2,3,4 --draws 3          each synthetic set made 3 x per seed, scores averaged (7 minutes)
#   bench/augmentation.sh --extra-methods ex:cov=scaled:s=1+svm   numpy prototypes as extra rows
#   HYPERSYNTH_BIN=path/to/hypersynth bench/augmentation.sh       uses that binary, no cargo build
#   HYPERSYNTH_SHARED_DATA=DIR bench/augmentation.sh               the data set folder (default ../shared/data)
# Installs scikit-learn and imbalanced-learn into .venv/ from PyPI when they are missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/python_bench.sh"
if ! "$py" -c "import sklearn, imblearn" 2>/dev/null; then
    echo "installing scikit-learn and imbalanced-learn into .venv/" >&2
    "$py" -m pip install -q scikit-learn imbalanced-learn >&2
fi
exec "$py" bench/augmentation.py --data "$data" "$@"
