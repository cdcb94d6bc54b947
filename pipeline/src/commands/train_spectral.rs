//! `hypersynth train spectral`: learn each class's spectra, with the exemplar variation
//! model (the default) or a conditional GAN, and export the generator to ONNX with its
//! model card.

use std::path::PathBuf;

use anyhow::{Result, bail};
use hypersynth_data::class_counts;
use hypersynth_models::dagan::DaganArchitecture;
use hypersynth_models::dagan_training::DaganTrainConfig;
use hypersynth_models::spectral_cgan::{SpectralCganArchitecture, SpectralCganConfig};
use hypersynth_models::training::{self, Dataset, StepRecord, TrainConfig, Trained};
use hypersynth_onnx_format::proto::ModelProto;
use hypersynth_onnx_format::{CardClass, FORMAT_VERSION, ModelCard, ModelKind, Normalisation, encode_model};
use hypersynth_spectral::{ExemplarConfig, ExemplarModel, Layout, Normaliser, Split, SplitConfig};
use ndarray::Axis;
use serde_json::json;

mod dagan;

use crate::labelled::{self, LabelSource, Labelled};
use crate::model_split;
use crate::progress::{LogLine, TrainingFiles, TrainingLog};
use crate::run_record::RunRecord;

/// Headroom of the normalisation beyond the training extremes (see [`Normaliser::fit`]).
const NORMALISATION_MARGIN: f64 = 0.05;

/// Resolved settings of `train spectral`.
#[derive(Debug, Clone)]
pub struct TrainSpectral {
    /// The labelled spectra.
    pub source: LabelSource,
    /// The ONNX model to write; `M.run.json`, `M.metrics.csv` and the checkpoint
    /// `M.checkpoint.safetensors` go beside it.
    pub out: PathBuf,
    /// Train / validation / test fractions, seed and thinning.
    pub split: SplitConfig,
    /// The GAN's architecture (its bands and classes come from the data).
    pub architecture: SpectralCganArchitecture,
    /// Training settings.
    pub train: TrainConfig,
    /// The layout of the GAN generator's normalised space.
    pub layout: Layout,
    /// Which generator is made.
    pub synthesis: Synthesis,
}

/// The generator `train spectral` makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Synthesis {
    /// The exemplar variation model ([`ExemplarModel`]): real training spectra varied by
    /// Gaussian noise shaped by every class's scatter. Uses every training pixel (no
    /// validation share); measured to help classifiers most (docs/TRAINING.md).
    Exemplar(ExemplarConfig),
    /// The adversarially trained conditional GAN of `architecture`, `train` and `layout`.
    Gan,
    /// The exemplar-conditioned GAN (DAGAN): another spectrum of a class from a real one
    /// of it and noise, learned on pairs of class-mates of every class at once with the
    /// adversarial settings of `train`. Uses every training pixel, as the exemplar model.
    Dagan(DaganSettings),
}

/// What the exemplar GAN takes beyond the adversarial settings ([`TrainSpectral::train`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DaganSettings {
    /// Its networks and pairs.
    pub architecture: DaganArchitecture,
    /// How classes are drawn for the pairs ([`DaganTrainConfig::class_balance`]).
    pub class_balance: f64,
}

impl Default for DaganSettings {
    fn default() -> Self {
        Self { architecture: DaganArchitecture::default(), class_balance: DaganTrainConfig::default().class_balance }
    }
}

impl Synthesis {
    /// The generators' names, as `--generator` and a job file's `[train] generator` give them.
    pub const NAMES: [&'static str; 3] = ["exemplar", "gan", "dagan"];

    /// The split this generator trains on unless told otherwise (`--test`, `--validation`):
    /// the exemplar model takes every given pixel (no test share: holding back a fifth of a
    /// class of 10 pixels cost the classifiers up to 0.9 points, docs/TRAINING.md, and
    /// `augment` checks the recipe by fitting it again without a test share instead); the
    /// GAN holds back a validation share to choose its checkpoint and a test share for the
    /// report.
    pub fn default_split(&self) -> SplitConfig {
        match self {
            Self::Exemplar(_) | Self::Dagan(_) => SplitConfig { validation: 0.0, test: 0.0, ..SplitConfig::default() },
            Self::Gan => SplitConfig::default(),
        }
    }

    /// The adversarial settings this generator trains with unless told otherwise: the
    /// exemplar GAN's ([`DaganTrainConfig::default`]: more steps, measured in
    /// docs/TRAINING.md), else the conditional GAN's (the exemplar model trains none).
    pub fn adversarial_defaults(&self) -> TrainConfig {
        match self {
            Self::Dagan(_) => DaganTrainConfig::default().adversarial,
            Self::Exemplar(_) | Self::Gan => TrainConfig::default(),
        }
    }

    /// The generator called `name` (one of [`Synthesis::NAMES`]) with its default settings.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "exemplar" => Some(Self::default()),
            "gan" => Some(Self::Gan),
            "dagan" => Some(Self::Dagan(DaganSettings::default())),
            _ => None,
        }
    }
}

impl Default for Synthesis {
    fn default() -> Self {
        Self::Exemplar(ExemplarConfig::default())
    }
}

/// What a finished training produced.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The model file.
    pub model: PathBuf,
    /// Every other file written but the run record: the GAN's metrics log.
    pub side_files: Vec<PathBuf>,
    /// The run record.
    pub run_json: PathBuf,
    /// For the GAN, the validation MMD of the exported generator and its step.
    pub best: Option<(f64, usize)>,
}

/// Trains and exports; see [`TrainSpectral`].
pub fn run(settings: &TrainSpectral) -> Result<TrainOutcome> {
    let files = TrainingFiles::beside(&settings.out);
    files.check(&settings.source.files())?;
    let mut data = labelled::load(&settings.source)?;
    leave_out_lone_spectra(&mut data);
    let class_ids: Vec<u32> = data.classes.iter().map(|c| c.id).collect();
    check_data(&data, &settings.split, &class_ids)?;
    match &settings.synthesis {
        Synthesis::Exemplar(config) => fit_exemplars(settings, config, &data, &class_ids, &files),
        Synthesis::Gan => train_gan(settings, &data, &class_ids, &files),
        Synthesis::Dagan(dagan) => dagan::train(settings, dagan, &data, &class_ids, &files),
    }
}

/// Trains the conditional GAN on the split's training share, choosing the exported
/// generator by its MMD on the validation share, and exports it.
fn train_gan(settings: &TrainSpectral, data: &Labelled, class_ids: &[u32], files: &TrainingFiles) -> Result<TrainOutcome> {
    let split = data.split(&settings.split)?;
    check_counts(data, &split.train, class_ids)?;

    let normaliser = Normaliser::fit(data.spectra.select(Axis(0), &split.train).view(), settings.layout, NORMALISATION_MARGIN)?;
    let dataset = |rows: &[usize]| Dataset {
        spectra: normaliser.apply(data.spectra.select(Axis(0), rows).view()),
        classes: class_indices(data, rows, class_ids),
    };
    let (train_set, validation_set) = (dataset(&split.train), dataset(&split.validation));
    let architecture = SpectralCganConfig::new(normaliser.basis.nrows(), class_ids.len(), settings.architecture.clone());

    let parameters = json!({
        "split": model_split::record(&settings.split),
        "architecture": architecture,
        "training": settings.train,
        "normalisation": format!("{:?}", settings.layout),
    });
    let record = RunRecord::start("train spectral", &data.inputs, parameters.clone())?;
    let fingerprint = data.fingerprint();
    let mut log = TrainingLog::new(files, settings.train.steps, "step,d_loss,g_loss,d_real,d_fake,validation_mmd");
    tracing::info!(
        "training on {} spectra of {} classes ({} bands, {} normalised dimensions; validation {}, test {})",
        split.train.len(),
        class_ids.len(),
        data.spectra.ncols(),
        architecture.bands,
        split.validation.len(),
        split.test.len()
    );
    // A checkpoint resumes only for the same data in the same normalised space.
    let resume_key = format!("{fingerprint} {:?}", settings.layout);
    let trained =
        training::train(&architecture, &settings.train, &train_set, &validation_set, Some(&files.checkpoint), &resume_key, &mut log)?;
    let metrics = log.finish()?;

    let gan = TrainedGan {
        architecture: &architecture,
        normaliser: &normaliser,
        train_set: &train_set,
        train_rows: &split.train,
        trained: &trained,
    };
    let proto = export_gan(settings, data, &fingerprint, &gan)?;
    let model = hypersynth_data::write_atomically(&settings.out, &encode_model(&proto))?;
    record.finish(
        &files.run_json,
        &[model.clone(), metrics.clone()],
        data_details(
            data,
            &split,
            json!({
                "validation_counts": counts(data, &split.validation),
                "best_step": trained.best_step,
                "validation_mmd": trained.best_mmd,
                "resumed_from_step": trained.resumed_from,
            }),
        ),
    )?;
    files.remove_checkpoint();
    tracing::info!("wrote {} (validation MMD {:.4} at step {})", model.display(), trained.best_mmd, trained.best_step);
    Ok(TrainOutcome {
        model,
        side_files: vec![metrics],
        run_json: files.run_json.clone(),
        best: Some((trained.best_mmd, trained.best_step)),
    })
}

/// What training the GAN made, for its export.
struct TrainedGan<'a> {
    architecture: &'a SpectralCganConfig,
    normaliser: &'a Normaliser,
    /// The normalised training spectra.
    train_set: &'a Dataset,
    /// Their rows in the data.
    train_rows: &'a [usize],
    trained: &'a Trained,
}

/// The trained GAN's generator as an ONNX model, with its card.
fn export_gan(settings: &TrainSpectral, data: &Labelled, fingerprint: &str, gan: &TrainedGan<'_>) -> Result<ModelProto> {
    let TrainedGan { architecture, normaliser, train_set, train_rows, trained } = gan;
    let card = spectral_card(
        data,
        card_normalisation(normaliser),
        json!({
            "data_fingerprint": fingerprint,
            "loss": settings.train.loss,
            "steps": settings.train.steps,
            "best_step": trained.best_step,
            "validation_mmd": trained.best_mmd,
            "seed": settings.train.seed,
            "split": model_split::record(&settings.split),
            "architecture": architecture,
            "normalisation": {"layout": format!("{:?}", settings.layout), "residual_noise_dims": normaliser.residual_axes.nrows()},
            "software": format!("hypersynth {}", env!("CARGO_PKG_VERSION")),
        }),
    );
    let train_physical = data.spectra.select(Axis(0), train_rows);
    let residual_spread = normaliser.residual_spread(train_physical.view(), &train_set.classes, architecture.classes);
    Ok(hypersynth_models::export::spectral_generator(
        &trained.generator,
        architecture,
        normaliser,
        &residual_spread,
        &card.to_props(),
        env!("CARGO_PKG_VERSION"),
    )?)
}

/// Fits and exports the exemplar variation model on every training pixel (the split's
/// validation share is not taken: the model selects nothing on it).
fn fit_exemplars(
    settings: &TrainSpectral,
    config: &ExemplarConfig,
    data: &Labelled,
    class_ids: &[u32],
    files: &TrainingFiles,
) -> Result<TrainOutcome> {
    let (split_config, split) = split_without_validation(settings, data, class_ids)?;
    let config = ExemplarConfig { seed: split_config.seed, ..config.clone() };
    let parameters = json!({"split": model_split::record(&split_config), "generator": "exemplar", "exemplar": config});
    let record = RunRecord::start("train spectral", &data.inputs, parameters)?;
    let classes = class_indices(data, &split.train, class_ids);
    let model = ExemplarModel::fit(data.spectra.select(Axis(0), &split.train).view(), &classes, class_ids.len(), &config)?;
    tracing::info!(
        "exemplar variation model of {} spectra of {} classes ({} bands; test {}), spread {}, own weight {}, interpolate {}, {}",
        split.train.len(),
        class_ids.len(),
        data.spectra.ncols(),
        split.test.len(),
        config.spread,
        config.own_weight,
        config.interpolate,
        if config.log_space { "varying logarithms" } else { "varying values" }
    );
    let bands = data.wavelengths_nm.len();
    let card = spectral_card(
        data,
        // The graph works in physical units throughout.
        Normalisation { offset: vec![0.0; bands], scale: vec![1.0; bands], basis: None },
        json!({
            "data_fingerprint": data.fingerprint(),
            "generator": "exemplar",
            "exemplar": config,
            "seed": split_config.seed,
            "split": model_split::record(&split_config),
            "software": format!("hypersynth {}", env!("CARGO_PKG_VERSION")),
        }),
    );
    let proto = hypersynth_models::export::exemplar_generator(&model, &card.to_props(), env!("CARGO_PKG_VERSION"))?;
    let written = hypersynth_data::write_atomically(&settings.out, &encode_model(&proto))?;
    record.finish(&files.run_json, std::slice::from_ref(&written), data_details(data, &split, json!({})))?;
    tracing::info!("wrote {}", written.display());
    Ok(TrainOutcome { model: written, side_files: Vec::new(), run_json: files.run_json.clone(), best: None })
}

/// The split of a generator that chooses nothing on a validation share (the exemplar model
/// and the exemplar GAN): the settings' split without one, and every class checked to keep
/// enough training spectra.
fn split_without_validation(settings: &TrainSpectral, data: &Labelled, class_ids: &[u32]) -> Result<(SplitConfig, Split)> {
    let split_config = SplitConfig { validation: 0.0, ..settings.split.clone() };
    let split = data.split(&split_config)?;
    check_counts(data, &split.train, class_ids)?;
    Ok((split_config, split))
}

/// The card of a spectral-cgan model made from `data`, mapping its outputs by
/// `normalisation`, with `training` as its training record.
fn spectral_card(data: &Labelled, normalisation: Normalisation, training: serde_json::Value) -> ModelCard {
    ModelCard {
        kind: ModelKind::SpectralCgan,
        format_version: FORMAT_VERSION,
        wavelengths_nm: data.wavelengths_nm.clone(),
        classes: data.classes.iter().map(|c| CardClass { id: c.id, name: c.name.clone() }).collect(),
        normalisation,
        training,
        output: None,
    }
}

/// Labelled pixels per class id among `rows`.
fn counts(data: &Labelled, rows: &[usize]) -> std::collections::BTreeMap<u32, usize> {
    class_counts(rows.iter().map(|&r| data.labels[r]))
}

/// What `run.json` records of the data and its split for either generator, with the
/// generator's own `extra` entries (a JSON object) added.
fn data_details(data: &Labelled, split: &Split, extra: serde_json::Value) -> serde_json::Value {
    let details = json!({
        "classes": data.classes,
        "train_counts": counts(data, &split.train),
        "test_counts": counts(data, &split.test),
        "test_pixel_ids": split.test.iter().map(|&r| data.ids[r]).collect::<Vec<_>>(),
        "dropped_bad_bands": data.dropped_bands,
        "dropped_nodata_pixels": data.dropped_pixels,
        "left_out_classes": data.left_out_classes,
    });
    crate::run_record::with_details(details, extra)
}

/// The class index (`0..class_ids.len()`, the model's order) of each of `rows`.
fn class_indices(data: &Labelled, rows: &[usize], class_ids: &[u32]) -> Vec<u32> {
    rows.iter().map(|&r| class_ids.iter().position(|&c| c == data.labels[r]).unwrap_or(0) as u32).collect()
}

/// The card's record of `normaliser`: per-band offsets and scales, or the basis.
fn card_normalisation(normaliser: &Normaliser) -> Normalisation {
    let offset = normaliser.offset.to_vec();
    match normaliser.layout {
        Layout::PerBand => Normalisation { offset, scale: normaliser.basis.diag().to_vec(), basis: None },
        Layout::PrincipalComponents(_) => {
            Normalisation { offset, scale: Vec::new(), basis: Some(normaliser.basis.rows().into_iter().map(|r| r.to_vec()).collect()) }
        }
    }
}

/// Leaves out, with a warning, the classes of one labelled spectrum: there is no
/// variation or class-mate to learn from. Users' label rasters often hold such a class, and
/// refusing the whole run for it would cost them every other class; `augment` leaves a
/// class the model lacks as it is. When every class has one spectrum none is left out, and
/// the run is refused by the count check.
fn leave_out_lone_spectra(data: &mut Labelled) {
    let counts = class_counts(data.labels.iter().copied());
    let lone: Vec<u32> = data.classes.iter().map(|c| c.id).filter(|id| counts.get(id) == Some(&1)).collect();
    if lone.is_empty() || lone.len() == data.classes.len() {
        return;
    }
    for &id in &lone {
        tracing::warn!(
            "{}: class {id} ({}) has one labelled spectrum; left out of the model, so augment will leave it as it is",
            data.inputs[0].display(),
            data.class_name(id)
        );
    }
    data.leave_out(&lone);
}

/// Before the split: every class has spectra with data, and every thinned class exists.
fn check_data(data: &Labelled, split: &SplitConfig, class_ids: &[u32]) -> Result<()> {
    let inputs = data.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    if class_ids.is_empty() {
        bail!("no labelled spectra in {inputs}");
    }
    let all = class_counts(data.labels.iter().copied());
    for &id in class_ids {
        if !all.contains_key(&id) {
            bail!(
                "{}: every pixel labelled class {id} ({}) holds no data in the cube ({} labelled pixels without data in all)",
                data.inputs[0].display(),
                data.class_name(id),
                data.dropped_pixels
            );
        }
    }
    if let Some(id) = split.thin.keys().find(|id| !class_ids.contains(id)) {
        if data.left_out_classes.iter().any(|c| c.id == *id) {
            bail!("--thin names class {id}, which has one labelled spectrum in {inputs} and is left out of the model");
        }
        bail!("--thin names class {id}, which {inputs} does not hold (classes: {class_ids:?})");
    }
    if split.validation + split.test >= 1.0 {
        bail!("--validation {} and --test {} leave nothing to train on; together they must stay below 1", split.validation, split.test);
    }
    Ok(())
}

fn check_counts(data: &Labelled, train_rows: &[usize], class_ids: &[u32]) -> Result<()> {
    let counts = class_counts(train_rows.iter().map(|&r| data.labels[r]));
    for &id in class_ids {
        let n = counts.get(&id).copied().unwrap_or(0);
        if n < 2 {
            bail!(
                "class {id} ({}) has {n} training spectra after the split; at least 2 are needed (lower --validation/--test, relax --thin, or leave the class out)",
                data.class_name(id)
            );
        }
    }
    Ok(())
}

impl LogLine for StepRecord {
    fn step(&self) -> usize {
        self.step
    }

    fn csv(&self) -> String {
        let mmd = self.validation_mmd.map_or(String::new(), |m| format!("{m:.6}"));
        format!("{},{:.5},{:.5},{:.4},{:.4},{mmd}", self.step, self.d_loss, self.g_loss, self.d_real, self.d_fake)
    }

    fn message(&self) -> String {
        let shown = self.validation_mmd.map_or(String::new(), |m| format!(" MMD {m:.4}"));
        format!("D(x) {:.2} D(G(z)) {:.2}{shown}", self.d_real, self.d_fake)
    }
}
