# Sourced by the scene-inference benchmarks (bench/fuse.sh, bench/super_resolve.sh), after
# their options are read (`root`, and `batch`, empty for hypersynth's default): what they
# share, so that every way is set up and timed alike.
#
# Sourcing it makes the work folder `work` (removed on exit), builds hypersynth (`bin`),
# checks the project's Python (`py`, with rasterio installed when missing) and the system
# Python with GDAL's bindings (`gdal_py`), and sets the batch of both ways: `batch_args`
# for hypersynth, `py_batch` for the Python way (hypersynth's default on the CPU is 1).
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$root"
cargo build -q
bin="$root/target/debug/hypersynth"
py="$root/.venv/bin/python"
gdal_py=/usr/bin/python3
"$py" -c "import rasterio" 2>/dev/null || "$root/.venv/bin/pip" install -q rasterio
"$gdal_py" -c "from osgeo import gdal" || { echo "$0: $gdal_py has no GDAL bindings (apt install python3-gdal)" >&2; exit 1; }
py_batch=${batch:-1}
batch_args=()
[ -n "$batch" ] && batch_args=(--batch "$batch")
#
# timed OUT PRODUCT CMD...: runs CMD twice (the first run also loads libraries and files that
# other work pushed out of the page cache), removing PRODUCT.tif and its records before
# each; writes "best-seconds peak-KiB" to OUT.
timed() {
    local out=$1 product=$2 start end best=""; shift 2
    for _ in 1 2; do
        rm -f "$product.tif" "$product.run.json" "$product.stac.json"
        start=$(date +%s.%N)
        /usr/bin/time -f "%M" -o "$out.rss" "$@" >/dev/null
        end=$(date +%s.%N)
        best=$(awk -v s="$(awk "BEGIN { print $end - $start }")" -v b="${best:-inf}" 'BEGIN { print (b == "inf" || s < b + 0) ? s : b }')
    done
    echo "$best $(cat "$out.rss")" > "$out"
}

# best_of_two CMD...: runs CMD twice; prints the line (of the two it printed) whose first
# number, the seconds of its job, is smaller.
best_of_two() {
    local a b
    a=$("$@" 2>/dev/null)
    b=$("$@" 2>/dev/null)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); print (x[1] <= y[1]) ? a : b }'
}
