//! `hypersynth train cyclegan`: learn low-res → high-res refinement from unpaired scenes,
//! and export the refining generator to ONNX with its model card.
//!
//! Domain A scenes (low-res) are resampled to the high-res grid by GDAL's cubic convolution
//! as they are read; domain B scenes are high-res. Both domains' spectra are projected onto
//! one set of principal components fitted on both, in which the generators work; the
//! exported graph starts with that projection and ends with its inverse, so the model
//! reads and writes physical bands.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use hypersynth_data::{Cube, Resampling};
use hypersynth_models::cyclegan::{CycleganArchitecture, CycleganConfig};
use hypersynth_models::cyclegan_training::{self, CycleganRecord, CycleganTrainConfig, Domain};
use hypersynth_models::export::cyclegan_generator;
use hypersynth_onnx_format::{FORMAT_VERSION, ModelCard, ModelKind, Normalisation, encode_model};
use hypersynth_spectral::Normaliser;
use serde_json::json;

use crate::components::{self, Sampled, Scene};
use crate::progress::{self, LogLine, TrainingFiles, TrainingLog};
use crate::psf_offset::{self, PsfEstimate};
use crate::run_record::RunRecord;

/// Resolved settings of `train cyclegan`.
#[derive(Debug, Clone)]
pub struct TrainCyclegan {
    /// Low-resolution scenes (domain A).
    pub domain_a: Vec<PathBuf>,
    /// High-resolution scenes (domain B), unpaired with domain A.
    pub domain_b: Vec<PathBuf>,
    /// The ONNX model to write; `M.run.json`, `M.metrics.csv` and the checkpoint go beside it.
    pub out: PathBuf,
    /// Principal components of the spectra the generators work on.
    pub components: usize,
    /// Architecture (the channels are filled in).
    pub architecture: CycleganArchitecture,
    /// Training settings.
    pub train: CycleganTrainConfig,
    /// Measure `train.psf_offset` where a domain-A and a domain-B scene cover the same
    /// ground, replacing the one given ([`crate::psf_offset`]).
    pub estimate_psf_offset: bool,
}

/// What a finished training produced.
#[derive(Debug, Clone)]
pub struct CycleganOutcome {
    /// The model file.
    pub model: PathBuf,
    /// The run record.
    pub run_json: PathBuf,
}

/// Trains and exports; see [`TrainCyclegan`].
pub fn run(settings: &TrainCyclegan) -> Result<CycleganOutcome> {
    check_degradation(settings)?;
    let files = TrainingFiles::beside(&settings.out);
    let inputs: Vec<PathBuf> = settings.domain_a.iter().chain(&settings.domain_b).cloned().collect();
    files.check(&inputs)?;
    let (low, high, wavelengths) = open_domains(settings)?;
    let (settings, estimate) = &with_measured_psf_offset(settings, &high)?;
    // Domain A is resampled at the offset measured, not at the one given.
    let low = if estimate.is_some() { open_domain_a(settings)? } else { low };
    let (low_scenes, high_scenes) = read_domains(&low, &high)?;
    let (a, b, normaliser) = project_domains(&low_scenes, &high_scenes, settings.components)?;
    let k = normaliser.basis.nrows();
    let architecture = CycleganConfig::new(k, settings.architecture.clone());

    let parameters = json!({
        "domain_a": settings.domain_a,
        "domain_b": settings.domain_b,
        "scale": settings.train.scale,
        "components": k,
        "architecture": architecture,
        "training": settings.train,
        "psf_offset_estimate": estimate,
    });
    let mut record = RunRecord::start("train cyclegan", &inputs, parameters)?;
    let fingerprint = record.input_fingerprint()?;
    let mut log = TrainingLog::new(&files, settings.train.steps, "step,lr,d_a,d_b,g_adversarial,cycle_l1,identity_l1");
    tracing::info!(
        "training on {} low-res scene(s) resampled x{} and {} high-res scene(s) ({} bands as {k} principal components)",
        a.images.len(),
        settings.train.scale,
        b.images.len(),
        wavelengths.len()
    );
    let resume_key = format!("{fingerprint} scale={} components={k}", settings.train.scale);
    let trained = cyclegan_training::train(&architecture, &settings.train, &a, &b, Some(&files.checkpoint), &resume_key, &mut log)?;
    let metrics = log.finish()?;

    let card = model_card(settings, &architecture, wavelengths, &fingerprint);
    let proto = cyclegan_generator(
        &trained.a_to_b,
        &architecture,
        &components::projection(&normaliser, 1),
        &components::unprojection(&normaliser),
        &card.to_props(),
        env!("CARGO_PKG_VERSION"),
    )?;
    let model = hypersynth_data::write_atomically(&settings.out, &encode_model(&proto))?;
    record.finish(&files.run_json, &[model.clone(), metrics], json!({"resumed_from_step": trained.resumed_from}))?;
    files.remove_checkpoint();
    tracing::info!("wrote {}", model.display());
    Ok(CycleganOutcome { model, run_json: files.run_json })
}

/// The settings with `train.psf_offset` measured on the domains when they ask for it
/// (`--psf-offset auto`; domain B as opened), and the measurement.
fn with_measured_psf_offset(settings: &TrainCyclegan, domain_b: &[Cube]) -> Result<(TrainCyclegan, Option<PsfEstimate>)> {
    if !settings.estimate_psf_offset {
        return Ok((settings.clone(), None));
    }
    let e = psf_offset::estimate(&settings.domain_a, domain_b, settings.train.scale)?;
    tracing::info!(
        "low-res pixels centred {:+}, {:+} high-res pixels from their blocks' centres, measured on {} and {} ({} x {} pixels; 1 - correlation {:.4} there, {:.4} centred)",
        e.offset[0],
        e.offset[1],
        e.low_res.display(),
        e.high_res.display(),
        e.window.rows,
        e.window.cols,
        e.mismatch,
        e.centred_mismatch
    );
    let train = CycleganTrainConfig { psf_offset: e.offset, ..settings.train.clone() };
    Ok((TrainCyclegan { train, ..settings.clone() }, Some(e)))
}

/// The degradation the settings ask for: a scale of at least 2, each low-res pixel's
/// centre within its block.
fn check_degradation(settings: &TrainCyclegan) -> Result<()> {
    if settings.train.scale < 2 {
        bail!("--scale must be at least 2, not {}", settings.train.scale);
    }
    let half_block = settings.train.scale as f64 / 2.0;
    if settings.train.psf_offset.iter().any(|o| o.abs() > half_block) {
        let [rows, cols] = settings.train.psf_offset;
        bail!(
            "--psf-offset {rows},{cols}: a low-res pixel's centre must lie within its block, at most {half_block} high-res pixels from its centre"
        );
    }
    Ok(())
}

/// Both domains projected on `count` principal components fitted on all their valid
/// pixels, with one scale for all components: the losses and discriminators weigh each
/// direction as it weighs in the image (see docs/SUPER_RESOLUTION.md).
fn project_domains(low: &[Scene], high: &[Scene], count: usize) -> Result<(Domain, Domain, Normaliser)> {
    let sampled: Vec<Sampled<'_>> =
        low.iter().chain(high).map(|(image, valid)| Sampled { image, valid, region: components::whole(image) }).collect();
    let normaliser = components::fit(&sampled, count)?.to_common_scale();
    let domain = |scenes: &[Scene]| -> Result<Domain> {
        Ok(Domain { images: scenes.iter().map(|(image, _)| components::project(image, &normaliser)).collect::<Result<_>>()? })
    };
    Ok((domain(low)?, domain(high)?, normaliser))
}

/// Opens both domains (domain A resampled to the high-res grid at the offset given) and
/// checks, before any work, that every scene has the first high-res scene's bands and holds
/// at least one training tile. Returns the scenes and the bands' wavelengths.
fn open_domains(settings: &TrainCyclegan) -> Result<(Vec<Cube>, Vec<Cube>, Vec<f64>)> {
    let low = open_domain_a(settings)?;
    let high: Vec<Cube> = settings.domain_b.iter().map(Cube::open).collect::<Result<_, _>>()?;
    let first = high.first().context("--domain-b names no scene")?.meta();
    let wavelengths = first
        .wavelengths_nm
        .clone()
        .with_context(|| format!("{}: no band wavelengths; the model card records the bands a model reads", first.path.display()))?;
    for cube in low.iter().chain(&high) {
        let meta = cube.meta();
        if meta.bands != first.bands || meta.wavelengths_nm.as_ref().is_some_and(|w| w != &wavelengths) {
            bail!(
                "{}: its bands differ from those of {} ({} bands); both domains need the same bands",
                meta.path.display(),
                first.path.display(),
                first.bands
            );
        }
        if meta.rows < settings.train.tile || meta.cols < settings.train.tile {
            bail!(
                "{}: {} rows x {} columns on the high-resolution grid, smaller than one {}-pixel training tile; use a smaller --tile",
                meta.path.display(),
                meta.rows,
                meta.cols,
                settings.train.tile
            );
        }
    }
    Ok((low, high, wavelengths))
}

/// Domain A's scenes resampled to the high-res grid, each low-res value placed
/// `train.psf_offset` from its block's centre.
fn open_domain_a(settings: &TrainCyclegan) -> Result<Vec<Cube>> {
    let resampling = Resampling::cubic(settings.train.scale).with_psf_offset(settings.train.psf_offset);
    Ok(settings.domain_a.iter().map(|p| Cube::open_resampled(p, &resampling)).collect::<Result<_, _>>()?)
}

/// Reads both domains' scenes whole.
fn read_domains(low: &[Cube], high: &[Cube]) -> Result<(Vec<Scene>, Vec<Scene>)> {
    let spinner = progress::spinner("reading the scenes");
    let low: Vec<Scene> = low.iter().map(components::read_whole).collect::<Result<_>>()?;
    let high: Vec<Scene> = high.iter().map(components::read_whole).collect::<Result<_>>()?;
    spinner.finish_and_clear();
    Ok((low, high))
}

/// The model card of a generator of `architecture` (on its `channels` principal
/// components) for bands at `wavelengths`, trained on data of fingerprint `fingerprint`.
fn model_card(settings: &TrainCyclegan, architecture: &CycleganConfig, wavelengths: Vec<f64>, fingerprint: &str) -> ModelCard {
    let (bands, k) = (wavelengths.len(), architecture.channels);
    let centred = settings.train.psf_offset == [0.0; 2];
    let input = if centred {
        "the low-res scene resampled to the high-res grid by cubic convolution (GDAL)"
    } else {
        "the low-res scene resampled to the high-res grid by cubic convolution (GDAL), each low-res value placed psf_offset high-res pixels from its block's centre"
    };
    let mut card = ModelCard {
        kind: ModelKind::CycleganSr,
        format_version: FORMAT_VERSION,
        wavelengths_nm: wavelengths,
        classes: Vec::new(),
        // The graph reads physical values and projects them itself.
        normalisation: Normalisation { offset: vec![0.0; bands], scale: vec![1.0; bands], basis: None },
        training: json!({
            "data_fingerprint": fingerprint,
            "scale": settings.train.scale,
            "tile_multiple": architecture.multiple(),
            "input": input,
            "loss": "lsgan",
            "cycle_weight": settings.train.cycle_weight,
            "identity_weight": settings.train.identity_weight,
            "pool_size": settings.train.pool_size,
            "steps": settings.train.steps,
            "seed": settings.train.seed,
            "tile": settings.train.tile,
            "inputs": {"projection": "principal components of both domains' spectra", "components": k},
            "architecture": architecture,
            "software": format!("hypersynth {}", env!("CARGO_PKG_VERSION")),
        }),
        output: None,
    };
    // Read back by super-resolve, which places the low-res values there as it resamples;
    // absent for pixels centred on their blocks, as cards without it mean.
    if !centred {
        card.training["psf_offset"] = json!(settings.train.psf_offset);
    }
    card
}

impl LogLine for CycleganRecord {
    fn step(&self) -> usize {
        self.step
    }

    fn csv(&self) -> String {
        let r = self;
        format!("{},{:.3e},{:.5},{:.5},{:.5},{:.5},{:.5}", r.step, r.lr, r.d_a, r.d_b, r.g_adversarial, r.cycle_l1, r.identity_l1)
    }

    fn message(&self) -> String {
        format!("cycle {:.4} identity {:.4} D {:.3}/{:.3}", self.cycle_l1, self.identity_l1, self.d_a, self.d_b)
    }
}
