#!/usr/bin/env bash
# Profile of one stage of `super-resolve` (issue 20): turning the finished staging GeoTIFF
# into the output COG, which `data::CogWriter::finish` does with GDAL's COG driver
# (DEFLATE, predictor, 256-pixel blocks, NUM_THREADS=ALL_CPUS, overviews by default).
# The staging file is made as CogWriter makes it (uncompressed, tiled 256, band-interleaved,
# float32) from the input bench/super_resolve.sh uses, resampled x2 by gdalwarp: 500 x 500 and
# 1,000 x 1,000 x 224 bands. Each conversion is timed with gdal_translate, shorter of two
# runs, beside the variants that could replace it and a plain tiled DEFLATE GeoTIFF (what the
# Python way of bench/super_resolve.sh writes). The staging file holds the resampled input,
# not a model's output: values of the same kind and range, so DEFLATE meets similar data.
#
#   bench/cog_writing.sh        (needs the shared data set and GDAL's command-line tools and
#                                Python bindings in /usr/bin/python3; about 4 minutes on 2 cores)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${HYPERSYNTH_SHARED_DATA:-$root/../shared/data}
scene=$shared/enmap_potsdam/mosaic/enmap_potsdam_mosaic.tif
[ -f "$scene" ] || { echo "bench/cog_writing.sh: $shared has no EnMAP mosaic (set HYPERSYNTH_SHARED_DATA)" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export GDAL_NUM_THREADS=ALL_CPUS
staging=(-co TILED=YES -co BLOCKXSIZE=256 -co BLOCKYSIZE=256 -co INTERLEAVE=BAND -co PHOTOMETRIC=MINISBLACK)
cog=(-of COG -co BLOCKSIZE=256 -co NUM_THREADS=ALL_CPUS)

# Seconds of the shorter of two runs of gdal_translate with the given options.
convert_seconds() {
    local best="" s e d
    for _ in 1 2; do
        s=$(date +%s.%N)
        gdal_translate -q "$@" "$work/out.tif" >/dev/null 2>>"$work/gdal.log"
        e=$(date +%s.%N)
        rm -f "$work/out.tif"
        d=$(echo "$e - $s" | bc)
        if [ -z "$best" ] || [ "$(echo "$d < $best" | bc)" = 1 ]; then best=$d; fi
    done
    printf "%.2f" "$best"
}

printf "%-11s %-62s %8s\n" "staging" "conversion" "seconds"
for side in 250 500; do
    /usr/bin/python3 "$root/bench/repeat_scene.py" "$scene" "$work/in.tif" $side $side
    gdalwarp -q -r cubic -ts $((2 * side)) $((2 * side)) "${staging[@]}" "$work/in.tif" "$work/staging.tif"
    rm -f "$work/in.tif"
    size="$((2 * side)) x $((2 * side))"
    while IFS='|' read -r what options; do
        # shellcheck disable=SC2086 # options are words on purpose
        printf "%-11s %-62s %8s\n" "$size" "$what" "$(convert_seconds $options "$work/staging.tif")"
    done <<EOF
COG, DEFLATE + predictor, overviews (CogWriter's)|${cog[*]} -co COMPRESS=DEFLATE -co PREDICTOR=YES
COG, DEFLATE + predictor, no overviews|${cog[*]} -co COMPRESS=DEFLATE -co PREDICTOR=YES -co OVERVIEWS=NONE
COG, DEFLATE + predictor, overviews uncompressed|${cog[*]} -co COMPRESS=DEFLATE -co PREDICTOR=YES -co OVERVIEW_COMPRESS=NONE
COG, DEFLATE level 1 + predictor, overviews|${cog[*]} -co COMPRESS=DEFLATE -co PREDICTOR=YES -co LEVEL=1
COG, ZSTD + predictor, overviews|${cog[*]} -co COMPRESS=ZSTD -co PREDICTOR=YES
COG, DEFLATE without predictor, overviews|${cog[*]} -co COMPRESS=DEFLATE -co PREDICTOR=NO
GeoTIFF, tiled, band-interleaved, DEFLATE (the Python way's)|-of GTiff -co TILED=YES -co INTERLEAVE=BAND -co COMPRESS=DEFLATE -co NUM_THREADS=ALL_CPUS
EOF
    rm -f "$work/staging.tif"
done
# With GDAL_NUM_THREADS set (as hypersynth sets it), GDAL 3.6 reports libtiff's "Bad value
# 223 for ExtraSamples" for every 224-band pixel-interleaved block it decodes in threads and
# decodes it another way; the COGs are byte-identical to those made without it.
if [ -s "$work/gdal.log" ]; then
    echo "(GDAL printed $(wc -l < "$work/gdal.log") lines on stderr, $(grep -c ExtraSamples "$work/gdal.log" || true) of them libtiff's ExtraSamples complaint)"
fi
