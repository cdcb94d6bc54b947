//! `hypersynth convert`: any readable cube to a Cloud-Optimized GeoTIFF.

use std::path::Path;

use anyhow::{Result, bail};
use hypersynth_data::{CogWriter, Compression, Cube, CubeSource};

use crate::progress;

/// Copies the cube at `source` to a COG at `out`, keeping its stored data type, scale,
/// offset, nodata, georeferencing and band metadata. Streams windows of a few file blocks
/// ([`Cube::stream_windows`]), so memory grows with neither the scene's size nor its
/// width; the output appears only when complete.
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
    let scene = hypersynth_data::SceneMetadata::read(&source.path);
    let bar = progress::bar((meta.rows * meta.cols) as u64, "converting", "pixels");
    let mut writer = CogWriter::create(out, meta, compression)?.dated(scene.datetime).with_metadata(&scene.items)?;
    for window in cube.stream_windows() {
        let stored = cube.read_stored_once(window)?;
        writer.write(window, stored.view())?;
        bar.inc((window.rows * window.cols) as u64);
    }
    bar.set_message("writing COG");
    let written = writer.finish()?;
    bar.finish_and_clear();
    tracing::info!("wrote {} and its STAC Item {}", written.display(), hypersynth_data::stac_item_path(&written).display());
    Ok(())
}
