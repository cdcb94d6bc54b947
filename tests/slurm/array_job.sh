#!/usr/bin/env bash
# Issue 7's scheduler test: starts a single-node Slurm cluster on this machine, runs a job
# as a 3-task job array (each task takes its share of the scenes from Slurm's variables),
# merges the shards' records, and checks that every task's status, key numbers and
# product hashes equal those of the same job run by one process.
#
#   tests/slurm/array_job.sh [path/to/hypersynth]      (default: target/debug/hypersynth)
#
# Needs root or sudo (to install slurm-wlm and munge when missing) and the shared data
# set (../shared/data or $HYPERSYNTH_SHARED_DATA); fails, never skips, without them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$(realpath "${1:-$root/target/debug/hypersynth}")
shared=${HYPERSYNTH_SHARED_DATA:-$root/../shared/data}
[ -x "$bin" ] || { echo "slurm test: $bin not found; build first (cargo build)" >&2; exit 1; }
[ -d "$shared/enmap_potsdam" ] || { echo "slurm test: the shared data set is not at $shared" >&2; exit 1; }

work=$(mktemp -d)
# shellcheck source=tests/slurm/cluster.sh
source "$root/tests/slurm/cluster.sh"
# Cleaning up never changes the test's verdict (exit status).
trap 'code=$?; stop_cluster "$work/cluster"; rm -rf "$work" || echo "slurm test: could not remove $work" >&2; exit $code' EXIT
start_cluster "$work/cluster"

# Six scenes: the bundled SalinasA, four EnMAP tiles, and a truncated file.
sample=$root/data/samples/salinasA
head -c 100000 "$sample/salinasA.tif" > "$work/corrupt.tif"
cat > "$work/job.toml" <<JOB
output = "out"
seed = 1

[[scene]]
path = "$sample/salinasA.tif"
labels = "$sample/salinasA_gt.tif"
classes = "$sample/classes.csv"

[[scene]]
glob = "$shared/enmap_potsdam/images/enmap_potsdam_tile_128_*.tif"
labels = "$shared/enmap_potsdam/labels/{name}"
classes = "$shared/enmap_potsdam/classes.csv"

[[scene]]
path = "corrupt.tif"
labels = "$sample/salinasA_gt.tif"

[convert]

[train]
steps = 30

[augment]
target_per_class = 300
report = false
JOB

cd "$work"
# As in docs/JOBS.md: one array task per shard, then the merge.
sbatch --wait --array=0-2 --cpus-per-task=1 -o "$work/shard-%a.log" --wrap "'$bin' run '$work/job.toml' --log-format json" >/dev/null || true
shards=$(ls out/job-summary.shard-*-of-3.json | wc -l)
[ "$shards" -eq 3 ] || { echo "slurm test: $shards of 3 shard summaries written" >&2; cat "$work"/shard-*.log >&2; exit 1; }
code=0; "$bin" run --merge job.toml -q > /dev/null 2>&1 || code=$?
[ "$code" -eq 3 ] || { echo "slurm test: merge exited with $code, expected 3 (the corrupt scene)" >&2; cat "$work"/shard-*.log >&2; exit 1; }

# Statuses, key numbers and product hashes of every task, from the records.
facts() {
    python3 - "$1" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
summary = json.loads((out / "job-summary.json").read_text())
for t in summary["tasks"]:
    record = out / t["scene"] / t["stage"] / "run.json"
    products = []
    if record.exists():
        products = sorted((pathlib.Path(o["path"]).name, o["sha256"]) for o in json.loads(record.read_text())["outputs"]
                          if not o["path"].endswith("run.json"))
    print(t["scene"], t["stage"], t["state"], json.dumps(t["metrics"], sort_keys=True), products)
PY
}
facts out > sharded.txt
mv out out-sharded
code=0; "$bin" run job.toml -q > /dev/null 2>&1 || code=$?
[ "$code" -eq 3 ] || { echo "slurm test: the single run exited with $code, expected 3" >&2; exit 1; }
facts out > single.txt
if ! diff -u single.txt sharded.txt; then
    echo "slurm test: FAILED: the merged job-array result differs from one process's" >&2
    exit 1
fi
tasks=$(wc -l < single.txt)
echo "slurm test: passed: $tasks tasks over 3 array tasks equal one process's run (statuses, metrics, product hashes)"
