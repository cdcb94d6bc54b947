# Sourced by the benchmarks that drive a Python script over the shared data set: checks
# .venv/ (scripts/setup.sh makes it) and the data set folder, builds hypersynth unless
# HYPERSYNTH_BIN names a binary, and sets `root` (the checkout, also the working folder),
# `py` (the project's Python) and `data` (the shared data set, $HYPERSYNTH_SHARED_DATA or
# ../shared/data).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
py="$root/.venv/bin/python"
if [[ ! -x $py ]]; then
    echo "no $py: run scripts/setup.sh first" >&2
    exit 1
fi
data=${HYPERSYNTH_SHARED_DATA:-$root/../shared/data}
if [[ ! -d $data ]]; then
    echo "no shared data set at $data (set HYPERSYNTH_SHARED_DATA)" >&2
    exit 1
fi
if [[ -z ${HYPERSYNTH_BIN:-} ]]; then
    cargo build -q
    export HYPERSYNTH_BIN="$root/target/debug/hypersynth"
fi
