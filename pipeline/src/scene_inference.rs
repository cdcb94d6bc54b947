//! One path for a scene through an image model, which `fuse` and `super-resolve`
//! configure: open the model ([`SceneModel::open`]: its contract met, its card's kind),
//! check the scene against its card ([`SceneModel::check_bands`], [`SceneModel::grid`]),
//! run it tile by tile ([`SceneModel::run`]) and record what ran
//! ([`Inference::record`]). The commands add only what differs: their inputs, how the
//! model's output maps to physical values, and what they write.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hypersynth_data::CubeMeta;
use hypersynth_onnx::{Input, OnnxSession, RuntimeInfo, SessionOptions};
use hypersynth_onnx_format::{DROPOUT_SWITCH, ModelCard, ModelKind};
use ndarray::{Array4, ArrayView4, Axis, Zip, arr0, concatenate};
use serde_json::{Value, json};

use crate::progress;
use crate::tiling::{TileCounts, TileGrid, TileSource, WriteWindow, run_tiled};

/// The files a model is read from: the ONNX file and its sidecar card `M.onnx.json`.
pub fn model_files(model: &Path) -> Vec<PathBuf> {
    vec![model.to_path_buf(), hypersynth_onnx::sidecar_path(model)]
}

/// An image model opened for a scene: its session, the runtime it runs on and its card.
pub struct SceneModel {
    /// The model file (for messages).
    pub path: PathBuf,
    /// The open session.
    pub session: OnnxSession,
    /// The ONNX Runtime it runs on.
    pub runtime: RuntimeInfo,
    /// The model's card.
    pub card: ModelCard,
    /// Passes per batch of tiles ([`SceneModel::set_samples`]).
    samples: usize,
}

/// What a run over a scene did.
#[derive(Debug, Clone, Copy)]
pub struct Inference {
    /// Tiles run and skipped.
    pub tiles: TileCounts,
    /// Time spent inside ONNX Runtime.
    pub onnx_time: Duration,
}

impl SceneModel {
    /// Opens the image model at `model` for `command`: its contract met, its card's kind
    /// `kind`. It is fed batches of tiles of one shape ([`SessionOptions::fixed_shapes`]).
    pub fn open(model: &Path, options: &SessionOptions, kind: ModelKind, command: &str) -> Result<Self> {
        let options = SessionOptions { fixed_shapes: true, ..options.clone() };
        let (session, runtime, card) = crate::runtime::open_model(model, &options, kind, command)?;
        Ok(Self { path: model.to_path_buf(), session, runtime, card, samples: 1 })
    }

    /// `scene` must have the card's bands (the count, and the centres within 0.5 nm where
    /// the file states them).
    pub fn check_bands(&self, scene: &CubeMeta) -> Result<()> {
        let bands = self.card.wavelengths_nm.len();
        if scene.bands != bands {
            bail!("{}: {} bands, but the model {} reads {bands} per scene", scene.path.display(), scene.bands, self.path.display());
        }
        if let Some(w) = &scene.wavelengths_nm
            && let Some((b, (have, want))) = w.iter().zip(&self.card.wavelengths_nm).enumerate().find(|(_, (a, b))| (**a - **b).abs() > 0.5)
        {
            bail!("{}: band {} is at {have} nm, the model {} expects {want} nm", scene.path.display(), b + 1, self.path.display());
        }
        Ok(())
    }

    /// The tiles of a `rows` x `cols` scene: `tile` must be a multiple of the card's tile
    /// multiple, and `overlap` less than half of it.
    pub fn grid(&self, rows: usize, cols: usize, tile: usize, overlap: usize) -> Result<TileGrid> {
        let multiple = self.card.tile_multiple();
        if !tile.is_multiple_of(multiple) {
            bail!(
                "{}: needs tiles a multiple of {multiple} pixels wide; the tile side {tile} is not a multiple of {multiple}",
                self.path.display()
            );
        }
        TileGrid::new(rows, cols, tile, overlap)
    }

    /// Runs the model `samples` times per batch of tiles (1 when never called). Beyond one,
    /// the passes run with the model's dropout on, which needs the boolean input
    /// [`DROPOUT_SWITCH`] with a default; the output of [`SceneModel::run`] then is the
    /// passes' mean channels followed by their standard deviations.
    pub fn set_samples(&mut self, samples: usize) -> Result<()> {
        if samples > 1 && !self.session.dropout_switch {
            bail!(
                "{}: has no boolean input {DROPOUT_SWITCH:?} with a default, which hypersynth's models trained with dropout \
                 have; {samples} samples per tile need it to run with dropout on",
                self.path.display()
            );
        }
        self.samples = samples.max(1);
        Ok(())
    }

    /// Runs the model over every tile of `grid` with data in every source (see
    /// [`run_tiled`]), `batch` tiles per call (each run as [`SceneModel::set_samples`]
    /// says), with a progress bar. `map_output` turns the model's output batch into
    /// `out_channels` physical values; the blended pixels reach `write` as
    /// `(window, [rows, cols, out_channels])`, column stripe by stripe ([`run_tiled`]).
    pub fn run(
        &mut self,
        grid: &TileGrid,
        batch: usize,
        sources: &[TileSource<'_>],
        out_channels: usize,
        map_output: &mut (dyn FnMut(Array4<f32>) -> Result<Array4<f32>> + Send),
        write: &mut WriteWindow<'_>,
    ) -> Result<Inference> {
        let mut onnx_time = Duration::ZERO;
        let (session, path, samples) = (&mut self.session, &self.path, self.samples);
        let mut infer = |input: ArrayView4<'_, f32>| {
            let output = if samples > 1 {
                sample_tiles(session, path, input, samples, &mut onnx_time)?
            } else {
                infer_tiles(session, path, input, false, &mut onnx_time)?
            };
            map_output(output)
        };
        let doing = if self.card.kind == ModelKind::Pix2pix { "fusing" } else { "super-resolving" };
        let bar = progress::bar(grid.len() as u64, doing, "tiles");
        let tiles = run_tiled(grid, batch, sources, out_channels, &mut infer, write, &bar)?;
        bar.finish_and_clear();
        if tiles.run == 0 {
            let scenes: Vec<String> = sources.iter().map(|s| s.cube.meta().path.display().to_string()).collect();
            tracing::warn!(
                "{}: no pixel holds data in every good band, so the output holds none (a band without data anywhere must \
                 be marked bad, bbl=0 in its metadata, to be left out)",
                scenes.join(" and ")
            );
        }
        Ok(Inference { tiles, onnx_time })
    }
}

impl Inference {
    /// The run record's outcome fields of a run of `model`: the device and runtime, the
    /// tiles run and skipped, the model calls and the seconds in ONNX Runtime; `more` is
    /// added to them.
    pub fn record(&self, model: &SceneModel, more: Value) -> Value {
        let fields = json!({
            "device": model.session.device.to_string(),
            "onnx_runtime": model.runtime.build_info,
            "tiles_run": self.tiles.run,
            "tiles_skipped": self.tiles.skipped,
            "batches": self.tiles.batches,
            "onnx_seconds": self.onnx_time.as_secs_f64(),
        });
        crate::run_record::with_details(fields, more)
    }
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

/// Runs `session` `samples` times on a batch of tiles `[n, c, h, w]` with its dropout on;
/// returns the passes' mean channels followed by their standard deviations (population),
/// `[n, 2 c', h, w]`.
fn sample_tiles(
    session: &mut OnnxSession,
    model: &Path,
    input: ArrayView4<'_, f32>,
    samples: usize,
    onnx_time: &mut Duration,
) -> Result<Array4<f32>> {
    let mut sums: Option<(Array4<f64>, Array4<f64>)> = None;
    for _ in 0..samples {
        let pass = infer_tiles(session, model, input, true, onnx_time)?;
        let (sum, squares) = sums.get_or_insert_with(|| (Array4::zeros(pass.dim()), Array4::zeros(pass.dim())));
        Zip::from(sum).and(squares).and(&pass).for_each(|sum, squares, &v| {
            *sum += f64::from(v);
            *squares += f64::from(v) * f64::from(v);
        });
    }
    let (sum, squares) = sums.context("at least one pass")?;
    let n = samples as f64;
    let mean = sum.mapv(|s| (s / n) as f32);
    let spread = Zip::from(&sum).and(&squares).map_collect(|&s, &q| (q / n - (s / n) * (s / n)).max(0.0).sqrt() as f32);
    Ok(concatenate![Axis(1), mean, spread])
}

/// Runs `session` on a batch of tiles `[n, c, h, w]` fed as its `image` input (with
/// `dropout`, its dropout switched on) and returns its first output, `[n, c', h, w]`; the
/// call's time is added to `onnx_time`.
fn infer_tiles(
    session: &mut OnnxSession,
    model: &Path,
    input: ArrayView4<'_, f32>,
    dropout: bool,
    onnx_time: &mut Duration,
) -> Result<Array4<f32>> {
    let started = Instant::now();
    let tile = input.dim().2;
    let switch = arr0(true);
    let mut inputs = vec![("image", Input::F32(input.into_dyn()))];
    if dropout {
        inputs.push((DROPOUT_SWITCH, Input::Bool(switch.view().into_dyn())));
    }
    let output = session.run(inputs).with_context(|| format!("{}: running {tile}-pixel tiles", model.display()))?.remove(0);
    *onnx_time += started.elapsed();
    output.into_dimensionality().context("the model's output is not 4-D")
}
