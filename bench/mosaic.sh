# Sourced by the benchmarks that need a large scene: `mosaic N SCENE OUT` writes N x N
# copies of SCENE (damage_salinasA's 86 x 83 pixels, say) side by side to OUT, as a
# DEFLATE-tiled, pixel-interleaved GeoTIFF. Uses the folder "$work" for its virtual rasters.
# The bands' descriptions and metadata (wavelengths) are not kept: fine for scenes whose
# every band holds data, not for EnMAP's, whose absorption bands are nodata throughout.
mosaic() {
    local n=$1 scene=$2 out=$3 parts=() w h
    read -r w h < <(gdalinfo "$scene" | sed -n 's/^Size is \([0-9]*\), \([0-9]*\)$/\1 \2/p')
    for ((i = 0; i < n; i++)); do
        for ((j = 0; j < n; j++)); do
            gdal_translate -q -of VRT -a_ullr $((j * w)) $((-i * h)) $((j * w + w)) $((-i * h - h)) "$scene" "$work/part_${i}_${j}.vrt"
            parts+=("$work/part_${i}_${j}.vrt")
        done
    done
    gdalbuildvrt -q "$work/mosaic.vrt" "${parts[@]}"
    gdal_translate -q -co TILED=YES -co COMPRESS=DEFLATE -co INTERLEAVE=PIXEL "$work/mosaic.vrt" "$out"
    rm -f "$work"/part_*.vrt "$work/mosaic.vrt"
}
