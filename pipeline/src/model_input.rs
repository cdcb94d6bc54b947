//! What image models read and how they are run: whether a scene fits a model's card (its
//! bands, the tiles it is cut into), whether paired scenes share a grid, and one timed
//! ONNX Runtime call on a batch of tiles.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hypersynth_data::CubeMeta;
use hypersynth_onnx::{Input, OnnxSession, RuntimeInfo, SessionOptions, check_contract};
use hypersynth_onnx_format::{ModelCard, ModelKind};
use ndarray::{Array4, ArrayView4};

/// The files a model is read from: the ONNX file and its sidecar card `M.onnx.json`.
pub fn model_files(model: &Path) -> Vec<std::path::PathBuf> {
    vec![model.to_path_buf(), hypersynth_onnx::sidecar_path(model)]
}

/// Opens the image model at `model` for `command`: its contract met, its card's kind
/// `kind`. It is fed batches of tiles of one shape ([`SessionOptions::fixed_shapes`]).
/// Returns the session, the runtime it runs on, and the card.
pub fn open_image_model(
    model: &Path,
    options: &SessionOptions,
    kind: ModelKind,
    command: &str,
) -> Result<(OnnxSession, RuntimeInfo, ModelCard)> {
    let options = SessionOptions { fixed_shapes: true, ..options.clone() };
    let (session, runtime) = crate::runtime::open_session(model, &options)?;
    check_contract(&session)?;
    let card = session.card.clone().context("checked above: the model has a card")?;
    if card.kind != kind {
        bail!("{}: a {} model; {command} needs a {} model", model.display(), card.kind.as_str(), kind.as_str());
    }
    Ok((session, runtime, card))
}

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
        bail!(
            "{}: needs tiles a multiple of {multiple} pixels wide; the tile side {tile} is not a multiple of {multiple}",
            model.display()
        );
    }
    Ok(())
}

/// `other` must have the pre-event scene's rows and columns; `rule` ends the message.
pub fn check_same_size(pre: &CubeMeta, other: &CubeMeta, rule: &str) -> Result<()> {
    if (other.rows, other.cols) != (pre.rows, pre.cols) {
        bail!(
            "{}: {} rows x {} columns, but the pre-event scene {} has {} x {}; {rule}",
            other.path.display(),
            other.rows,
            other.cols,
            pre.path.display(),
            pre.rows,
            pre.cols
        );
    }
    Ok(())
}

/// Runs `session` on a batch of tiles `[n, c, h, w]` fed as its `image` input and returns
/// its first output, `[n, c', h, w]`; the call's time is added to `onnx_time`.
pub fn infer_tiles(session: &mut OnnxSession, model: &Path, input: ArrayView4<'_, f32>, onnx_time: &mut Duration) -> Result<Array4<f32>> {
    let started = Instant::now();
    let tile = input.dim().2;
    let output = session
        .run(vec![("image", Input::F32(input.into_dyn()))])
        .with_context(|| format!("{}: running {tile}-pixel tiles", model.display()))?
        .remove(0);
    *onnx_time += started.elapsed();
    output.into_dimensionality().context("the model's output is not 4-D")
}
