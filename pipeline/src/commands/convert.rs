//! `hypersynth convert`: any readable cube to a Cloud-Optimized GeoTIFF.

use std::path::Path;

use anyhow::{Result, bail};
use hypersynth_data::{CogWriter, Compression, Cube, CubeSource};

use crate::progress;

/// Rows per block are chosen so that one block holds about this many samples (64 MiB of f32).
const BLOCK_SAMPLES: usize = 16 << 20;

/// Rows of `meta` per streamed block: about [`BLOCK_SAMPLES`] samples, at least one row
/// (for every command that reads a whole scene in row blocks).
pub(crate) fn rows_per_block(meta: &hypersynth_data::CubeMeta) -> usize {
    (BLOCK_SAMPLES / (meta.cols * meta.bands).max(1)).clamp(1, meta.rows)
}

/// Copies the cube at `source` to a COG at `out`, keeping its stored data type, scale,
/// offset, nodata, georeferencing and band metadata. Streams row blocks, so memory does
/// not grow with the scene; the output appears only when complete.
pub fn run(source: &CubeSource, out: &Path, compression: Compression, overwrite: bool) -> Result<()> {
    if out.exists() && !overwrite {
        bail!("{}: output exists (pass --overwrite to replace it)", out.display());
    }
    hypersynth_data::check_outputs(&source.files(), &[out.to_path_buf(), hypersynth_data::stac_item_path(out)])?;
    let cube = Cube::open_source(source)?;
    let meta = cube.meta();
    if !meta.dtype.exact_in_f32() {
        tracing::warn!("{} values pass through float32 on the way; integers beyond 2^24 lose precision", meta.dtype);
    }
    let rows_per_block = rows_per_block(meta);
    let scene = hypersynth_data::SceneMetadata::read(&source.path);
    let bar = progress::bar(meta.rows as u64, "converting", "rows");
    let mut writer = CogWriter::create(out, meta, compression)?.dated(scene.datetime).with_metadata(&scene.items)?;
    for window in cube.row_windows(rows_per_block) {
        let stored = cube.read_stored(window)?;
        writer.write(window, stored.view())?;
        bar.inc(window.rows as u64);
    }
    bar.set_message("writing COG");
    let written = writer.finish()?;
    bar.finish_and_clear();
    tracing::info!("wrote {} and its STAC Item {}", written.display(), hypersynth_data::stac_item_path(&written).display());
    Ok(())
}
