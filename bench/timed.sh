# Sourced by the scene-inference benchmarks (bench/fuse.sh, bench/super_resolve.sh): the
# timing they share, so that every way is timed alike.
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
