//! `hypersynth train pix2pix`: learn a damage map from co-registered pre- and post-event
//! scenes and a damage raster, and export the generator to ONNX with its model card.
//!
//! Both scenes' spectra are projected onto the leading principal components of the
//! training region's spectra (one shared basis, so that pre and post channels are
//! comparable); the exported graph starts with that projection, so the model reads the
//! physical bands of both scenes.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use hypersynth_data::{Cube, CubeMeta, Window};
use hypersynth_models::export::pix2pix_generator;
use hypersynth_models::pix2pix::{Pix2pixArchitecture, Pix2pixConfig};
use hypersynth_models::pix2pix_training::{self, PairedScene, Pix2pixRecord, Pix2pixTrainConfig, Regions};
use hypersynth_onnx_format::{DamageOutput, FORMAT_VERSION, ModelCard, ModelKind, Normalisation, OutputMapping, encode_model};
use hypersynth_spectral::Normaliser;
use ndarray::{Array2, Axis};
use serde_json::json;

use crate::components::{self, Sampled};
use crate::progress::{self, LogLine, TrainingFiles, TrainingLog};
use crate::run_record::RunRecord;
use crate::scene_inference::check_same_size;

/// Which side of the scene is held out for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// The last columns.
    Right,
    /// The first columns.
    Left,
    /// The first rows.
    Top,
    /// The last rows.
    Bottom,
}

/// The held-out part of the scene: `fraction` of its columns or rows on one `side`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Holdout {
    /// Where.
    pub side: Side,
    /// How much, in (0, 1).
    pub fraction: f64,
}

impl Holdout {
    /// The training and validation regions of a `rows` x `cols` scene.
    pub fn regions(&self, rows: usize, cols: usize) -> Result<Regions> {
        if !(self.fraction > 0.0 && self.fraction < 1.0) {
            bail!("--holdout must lie strictly between 0 and 1, not {}", self.fraction);
        }
        let split = |len: usize| ((len as f64 * self.fraction).round() as usize).clamp(1, len - 1);
        let full = Window::full(rows, cols);
        Ok(match self.side {
            Side::Right => {
                let held = split(cols);
                Regions { train: Window { cols: cols - held, ..full }, validation: Window { col: cols - held, cols: held, ..full } }
            }
            Side::Left => {
                let held = split(cols);
                Regions { train: Window { col: held, cols: cols - held, ..full }, validation: Window { cols: held, ..full } }
            }
            Side::Bottom => {
                let held = split(rows);
                Regions { train: Window { rows: rows - held, ..full }, validation: Window { row: rows - held, rows: held, ..full } }
            }
            Side::Top => {
                let held = split(rows);
                Regions { train: Window { row: held, rows: rows - held, ..full }, validation: Window { rows: held, ..full } }
            }
        })
    }
}

/// Resolved settings of `train pix2pix`.
#[derive(Debug, Clone)]
pub struct TrainPix2pix {
    /// The pre-event scene.
    pub pre: PathBuf,
    /// The post-event scene, on the same grid.
    pub post: PathBuf,
    /// The damage raster on the same grid: 0/1, or a severity in [0, 1].
    pub target: PathBuf,
    /// What the target holds; `None`: a severity when the raster is of floats, else 0/1.
    pub target_kind: Option<DamageOutput>,
    /// The ONNX model to write; `M.run.json`, `M.metrics.csv` and the checkpoint
    /// `M.checkpoint.safetensors` go beside it.
    pub out: PathBuf,
    /// The part of the scene held out for validation.
    pub holdout: Holdout,
    /// Principal components per scene the U-Net reads.
    pub components: usize,
    /// Architecture (input and output channels are filled in).
    pub architecture: Pix2pixArchitecture,
    /// Training settings.
    pub train: Pix2pixTrainConfig,
}

/// What a finished training produced.
#[derive(Debug, Clone)]
pub struct Pix2pixOutcome {
    /// The model file.
    pub model: PathBuf,
    /// The run record.
    pub run_json: PathBuf,
    /// Intersection over union on the held-out region (threshold 0.5).
    pub validation_iou: f64,
}

/// Trains and exports; see [`TrainPix2pix`].
pub fn run(settings: &TrainPix2pix) -> Result<Pix2pixOutcome> {
    let files = TrainingFiles::beside(&settings.out);
    files.check(&[&settings.pre, &settings.post, &settings.target])?;
    let Prepared { scene, normaliser, wavelengths, output, regions } = prepare(settings)?;
    let k = normaliser.basis.nrows();
    let architecture = Pix2pixConfig::new(2 * k, 1, settings.architecture.clone());

    let parameters = json!({
        "output": output.as_str(),
        "holdout": settings.holdout,
        "train_region": regions.train,
        "validation_region": regions.validation,
        "components": k,
        "architecture": architecture,
        "training": settings.train,
    });
    let mut record =
        RunRecord::start("train pix2pix", &[settings.pre.clone(), settings.post.clone(), settings.target.clone()], parameters)?;
    let fingerprint = record.input_fingerprint()?;
    let header = "step,d_loss,g_adversarial,g_l1,d_real,d_fake,validation_iou,validation_l1";
    let mut log = TrainingLog::new(&files, settings.train.steps, header);
    tracing::info!(
        "training on {} x {} pixels, validating on {} x {} ({} bands per scene as {k} principal components)",
        regions.train.rows,
        regions.train.cols,
        regions.validation.rows,
        regions.validation.cols,
        wavelengths.len()
    );
    let resume_key = format!("{fingerprint} components={k}");
    let trained = pix2pix_training::train(&architecture, &settings.train, &scene, regions, Some(&files.checkpoint), &resume_key, &mut log)?;
    let metrics = log.finish()?;

    let card = model_card(settings, &architecture, output, wavelengths, &fingerprint, trained.validation.iou);
    let proto = pix2pix_generator(
        &trained.generator,
        &architecture,
        &components::projection(&normaliser, 2),
        &card.to_props(),
        env!("CARGO_PKG_VERSION"),
    )?;
    let model = hypersynth_data::write_atomically(&settings.out, &encode_model(&proto))?;
    record.finish(
        &files.run_json,
        &[model.clone(), metrics],
        json!({
            "validation_iou": trained.validation.iou,
            "validation_l1": trained.validation.l1,
            "resumed_from_step": trained.resumed_from,
            "valid_pixels": scene.valid.iter().filter(|&&v| v).count(),
        }),
    )?;
    files.remove_checkpoint();
    tracing::info!("wrote {} (IoU {:.3} on the held-out region)", model.display(), trained.validation.iou);
    Ok(Pix2pixOutcome { model, run_json: files.run_json, validation_iou: trained.validation.iou })
}

/// A paired scene read, checked and projected for training, with what the card records.
struct Prepared {
    /// Both scenes' principal components stacked, the target, the valid pixels.
    scene: PairedScene,
    /// The principal components, fitted on the training region of both scenes.
    normaliser: Normaliser,
    wavelengths: Vec<f64>,
    output: DamageOutput,
    /// Where training draws its tiles and where it validates.
    regions: Regions,
}

/// Opens and checks the three rasters, reads them whole and projects both scenes on the
/// principal components fitted on the training region.
fn prepare(settings: &TrainPix2pix) -> Result<Prepared> {
    let pre = Cube::open(&settings.pre)?;
    let post = Cube::open(&settings.post)?;
    let target = Cube::open(&settings.target)?;
    check_inputs(pre.meta(), post.meta(), target.meta())?;
    let output =
        settings.target_kind.unwrap_or(if target.meta().dtype.is_float() { DamageOutput::Severity } else { DamageOutput::Probability });
    let wavelengths = pre
        .meta()
        .wavelengths_nm
        .clone()
        .with_context(|| format!("{}: no band wavelengths; the model card records the bands a model reads", settings.pre.display()))?;
    let (rows, cols) = (pre.meta().rows, pre.meta().cols);
    let regions = settings.holdout.regions(rows, cols)?;
    let spinner = progress::spinner("reading the scenes");
    let pre_pixels = components::read_whole(&pre)?;
    let post_pixels = components::read_whole(&post)?;
    let (target_values, target_valid) = read_target(&target)?;
    spinner.finish_and_clear();
    let valid = &(&pre_pixels.1 & &post_pixels.1) & &target_valid;

    let sampled = [&pre_pixels.0, &post_pixels.0].map(|image| Sampled { image, valid: &valid, region: regions.train });
    let normaliser = components::fit(&sampled, settings.components)?;
    let input = ndarray::concatenate(
        Axis(0),
        &[components::project(&pre_pixels.0, &normaliser)?.view(), components::project(&post_pixels.0, &normaliser)?.view()],
    )?;
    let scene = PairedScene { input, target: target_values.insert_axis(Axis(0)), valid };
    Ok(Prepared { scene, normaliser, wavelengths, output, regions })
}

/// The model card of a U-Net of `architecture` (on `in_channels / 2` principal components
/// per scene) for bands at `wavelengths`, trained on data of fingerprint `fingerprint` and
/// reaching `validation_iou` on the held-out region.
fn model_card(
    settings: &TrainPix2pix,
    architecture: &Pix2pixConfig,
    output: DamageOutput,
    wavelengths: Vec<f64>,
    fingerprint: &str,
    validation_iou: f64,
) -> ModelCard {
    let (bands, k) = (wavelengths.len(), architecture.in_channels / 2);
    ModelCard {
        kind: ModelKind::Pix2pix,
        format_version: FORMAT_VERSION,
        wavelengths_nm: wavelengths,
        classes: Vec::new(),
        // The graph reads physical values and projects them itself.
        normalisation: Normalisation { offset: vec![0.0; 2 * bands], scale: vec![1.0; 2 * bands], basis: None },
        training: json!({
            "data_fingerprint": fingerprint,
            "output": output.as_str(),
            "loss": settings.train.loss,
            "l1_weight": settings.train.l1_weight,
            "steps": settings.train.steps,
            "seed": settings.train.seed,
            "tile": settings.train.tile,
            "tile_multiple": architecture.multiple(),
            "holdout": settings.holdout,
            "validation_iou": validation_iou,
            "inputs": {"projection": "shared principal components of pre and post spectra", "components_per_scene": k},
            "architecture": architecture,
            "software": format!("hypersynth {}", env!("CARGO_PKG_VERSION")),
        }),
        output: Some(OutputMapping { offset: vec![0.0], scale: vec![1.0] }),
    }
}

/// Pre, post and target must share one co-registered grid; pre and post one set of bands;
/// the target one band.
fn check_inputs(pre: &CubeMeta, post: &CubeMeta, target: &CubeMeta) -> Result<()> {
    for other in [post, target] {
        check_same_size(pre, other, "all inputs must share one grid")?;
        if other.georef.geotransform.is_some() && other.georef.geotransform != pre.georef.geotransform {
            bail!("{}: its geotransform differs from the pre-event scene's; all inputs must be co-registered", other.path.display());
        }
    }
    if post.bands != pre.bands || post.wavelengths_nm != pre.wavelengths_nm {
        bail!("{}: its bands differ from the pre-event scene's ({} bands in {})", post.path.display(), pre.bands, pre.path.display());
    }
    if target.bands != 1 {
        bail!("{}: {} bands; the damage target needs one", target.path.display(), target.bands);
    }
    Ok(())
}

/// The target's values, checked to lie in [0, 1], and its validity.
fn read_target(cube: &Cube) -> Result<(Array2<f32>, Array2<bool>)> {
    let (values, valid) = components::read_whole(cube)?;
    let values = values.index_axis_move(Axis(2), 0);
    if let Some(((r, c), v)) = values.indexed_iter().find(|(_, v)| !v.is_nan() && !(0.0..=1.0).contains(*v)) {
        bail!("{}: value {v} at row {r}, column {c}; the damage target holds 0/1 or probabilities in [0, 1]", cube.meta().path.display());
    }
    Ok((values.mapv(|v| if v.is_nan() { 0.0 } else { v }), valid))
}

impl LogLine for Pix2pixRecord {
    fn step(&self) -> usize {
        self.step
    }

    fn csv(&self) -> String {
        let (iou, l1) = self.validation.map_or((String::new(), String::new()), |v| (format!("{:.4}", v.iou), format!("{:.5}", v.l1)));
        format!(
            "{},{:.5},{:.5},{:.5},{:.4},{:.4},{iou},{l1}",
            self.step, self.d_loss, self.g_adversarial, self.g_l1, self.d_real, self.d_fake
        )
    }

    fn message(&self) -> String {
        let shown = self.validation.map_or(String::new(), |v| format!(" IoU {:.3}", v.iou));
        format!("L1 {:.3} D(x) {:.2} D(G) {:.2}{shown}", self.g_l1, self.d_real, self.d_fake)
    }
}
