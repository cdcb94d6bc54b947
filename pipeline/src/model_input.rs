//! Whether a scene fits an image model's card: its bands, and the tiles it is cut into.

use std::path::Path;

use anyhow::{Result, bail};
use hypersynth_data::CubeMeta;
use hypersynth_onnx_format::ModelCard;

/// `scene` must have the card's bands (the count, and the centres within 0.5 nm where the
/// file states them).
pub fn check_bands(scene: &CubeMeta, card: &ModelCard, model: &Path) -> Result<()> {
    let bands = card.wavelengths_nm.len();
    if scene.bands != bands {
        bail!("{}: {} bands, but the model {} reads {bands} per scene", scene.path.display(), scene.bands, model.display());
    }
    if let Some(w) = &scene.wavelengths_nm
        && let Some((b, (have, want))) = w.iter().zip(&card.wavelengths_nm).enumerate().find(|(_, (a, b))| (**a - **b).abs() > 0.5)
    {
        bail!("{}: band {} is at {have} nm, the model {} expects {want} nm", scene.path.display(), b + 1, model.display());
    }
    Ok(())
}

/// `tile` must be a multiple of the card's tile multiple.
pub fn check_tile(tile: usize, card: &ModelCard, model: &Path) -> Result<()> {
    let multiple = card.tile_multiple();
    if !tile.is_multiple_of(multiple) {
        bail!("{}: needs tiles a multiple of {multiple} pixels wide; --tile {tile} is not a multiple of {multiple}", model.display());
    }
    Ok(())
}
