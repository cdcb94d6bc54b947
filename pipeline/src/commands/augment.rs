//! `hypersynth augment`: bring scarce classes up to a target with synthetic spectra from a
//! spectral-cgan model run through ONNX Runtime.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};

use anyhow::{Result, bail};
use hypersynth_data::{PixelPosition, SpectraParquetWriter, SpectraRows, TableCompression, class_counts, write_spectra_hdf5};
use hypersynth_onnx::{Input, OnnxSession, SessionOptions};
use hypersynth_onnx_format::{ModelCard, ModelKind};
use hypersynth_spectral::{
    Comparison, ExemplarConfig, LabelledView, NearestRealFilter, Quality, QualityConfig, Split, SplitConfig, TrainingSet, Verdict,
};
use ndarray::{Array1, Array2, ArrayView2, Axis, concatenate};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde_json::json;

use crate::labelled::{self, LabelSource, Labelled, check_same_bands};
use crate::progress;
use crate::run_record::RunRecord;

/// Default spectra per ONNX Runtime call (command line, job file and demo).
pub const DEFAULT_BATCH: usize = 4096;

/// Candidates generated per wanted spectrum at most, when only some are kept.
pub const CANDIDATES_PER_KEPT: usize = 5;

/// Which generated spectra `augment` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Selection {
    /// Only those whose nearest real training spectrum (standardised bands) is of their own
    /// class, the first of up to [`CANDIDATES_PER_KEPT`] x the wanted count per class: no
    /// synthetic spectrum lands where another class's real pixels lie.
    #[default]
    NearestReal,
    /// Every generated spectrum.
    All,
}

impl Selection {
    /// [`Selection::All`] when `keep_all` (`--keep-all`, the job file's `keep_all`), else the default.
    pub fn keeping_all(keep_all: bool) -> Self {
        if keep_all { Self::All } else { Self::default() }
    }

    /// The name in run records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NearestReal => "nearest-real",
            Self::All => "all",
        }
    }
}

/// How many spectra each class should have after augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Every class below `N` training spectra is brought to `N`.
    PerClass(usize),
    /// Every class is brought to the size of the largest.
    Balance,
}

/// Resolved settings of `augment`.
#[derive(Debug, Clone)]
pub struct Augment {
    /// The spectral-cgan model.
    pub model: PathBuf,
    /// The real labelled spectra.
    pub source: LabelSource,
    /// The output folder.
    pub out: PathBuf,
    /// The run record to write (`OUT/run.json` from the command line).
    pub run_json: PathBuf,
    /// The target counts.
    pub target: Target,
    /// Seed of the noise fed to the generator.
    pub seed: u64,
    /// Which generated spectra are written.
    pub selection: Selection,
    /// Spectra per ONNX Runtime call.
    pub batch: usize,
    /// Also write `synthetic.h5`.
    pub hdf5: bool,
    /// The Parquet tables' compression.
    pub compression: TableCompression,
    /// Where the model runs.
    pub session: SessionOptions,
    /// Write the quality report into `OUT/report/` (`None`: no report).
    pub report: Option<QualityConfig>,
    /// When no class is below the target: refuse (the command line), or warn and write the
    /// real spectra alone (a job's task, done with nothing to generate).
    pub when_nothing_to_generate: NothingToGenerate,
}

/// What `augment` does when every class already has the target's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NothingToGenerate {
    /// Refuse, naming the target and the smallest class.
    #[default]
    Refuse,
    /// Say so as a warning and write the real spectra alone.
    WriteRealOnly,
}

/// The refusal when no class is below the target: [`plan`]'s error.
#[derive(Debug)]
pub struct NothingToDo(String);

impl std::fmt::Display for NothingToDo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NothingToDo {}

/// What `augment` wrote.
#[derive(Debug, Clone)]
pub struct AugmentOutcome {
    /// `synthetic.parquet`.
    pub synthetic: PathBuf,
    /// `augmented.parquet`.
    pub augmented: PathBuf,
    /// Synthetic spectra written per class id.
    pub generated: BTreeMap<u32, usize>,
    /// Spectra the generator made per class id (more than written when some were not kept).
    pub candidates: BTreeMap<u32, usize>,
    /// The quality report's numbers and its HTML page, when one was written.
    pub report: Option<(Quality, PathBuf)>,
}

/// What `augment` writes into its output folder (`report/` is a folder).
const OUTPUT_NAMES: [&str; 5] = ["synthetic.parquet", AUGMENTED, "synthetic.h5", "run.json", "report/"];

/// The table of real training rows and synthetic spectra, in the output folder.
pub const AUGMENTED: &str = "augmented.parquet";

/// Runs `augment`; see [`Augment`]. An output folder this run made is removed again when
/// the run fails, so a refusal found mid-run (a model that makes NaN) leaves nothing.
pub fn run(settings: &Augment) -> Result<AugmentOutcome> {
    let made_folder = !settings.out.exists();
    let outcome = augment_into(settings);
    if outcome.is_err() && made_folder && settings.out.is_dir() {
        let _ = std::fs::remove_dir_all(&settings.out);
    }
    outcome
}

/// [`run`], into an output folder it makes when missing.
fn augment_into(settings: &Augment) -> Result<AugmentOutcome> {
    let inputs = [crate::scene_inference::model_files(&settings.model), settings.source.files()].concat();
    hypersynth_data::check_output_folder(&inputs, &settings.out, &OUTPUT_NAMES)?;
    // In a folder still to be made, the record cannot land on an input.
    if settings.run_json.parent().is_some_and(std::path::Path::is_dir) {
        hypersynth_data::check_outputs(&inputs, &[&settings.run_json])?;
    }
    // Batches of one shape (the last of a class excepted), while selection and writing
    // share the cores: without ONNX Runtime's arena every call maps and faults in its
    // buffers anew, which took half of augment's time.
    let options = SessionOptions { fixed_shapes: true, ..settings.session.clone() };
    let (mut session, runtime, card) = crate::runtime::open_model(&settings.model, &options, ModelKind::SpectralCgan, "augment")?;
    let latent = latent_size(&session, &settings.model)?;
    let mut data = labelled::load(&settings.source)?;
    // Labels given without --classes take the names the model was trained with.
    data.name_unnamed(card.classes.iter().map(|c| (c.id, c.name.as_str())));
    check_same_bands(&settings.model, &card.wavelengths_nm, &data.wavelengths_nm, "the data's good bands")?;
    let (train_rows, basis) = splits(&card, &data, settings.seed, settings.report.is_some())?;
    let counts = class_counts(train_rows.iter().map(|&r| data.labels[r]));
    let wanted = match plan(settings.target, &counts, &card) {
        Err(e) if e.is::<NothingToDo>() && settings.when_nothing_to_generate == NothingToGenerate::WriteRealOnly => {
            tracing::warn!("{e}: the real spectra are written alone");
            BTreeMap::new()
        }
        other => other?,
    };
    log_plan(&counts, &wanted, &card);

    std::fs::create_dir_all(&settings.out)
        .map_err(|e| anyhow::anyhow!("{}: cannot create the output folder: {e}", settings.out.display()))?;
    let record = RunRecord::start(
        "augment",
        &[&[settings.model.clone()][..], &data.inputs].concat(),
        json!({
            "target": format!("{:?}", settings.target), "seed": settings.seed, "selection": settings.selection.as_str(),
            "batch": settings.batch, "device": session.device.to_string(), "compression": settings.compression.name(),
        }),
    )?;
    let filter = selection_filter(settings.selection, &data, &train_rows)?;
    let provenance = vec![("hypersynth.model".to_string(), settings.model.display().to_string())];
    let tables = Tables {
        synthetic: settings.out.join("synthetic.parquet"),
        augmented: settings.out.join(AUGMENTED),
        provenance: &provenance,
        compression: settings.compression,
        data: &data,
        real_rows: &train_rows,
        keep: settings.hdf5 || settings.report.is_some(),
    };
    let generator = Generator { latent, filter: filter.as_ref(), card: &card, settings };
    let ((synthetic_path, augmented_path, kept), made) = generator.write(&mut session, &wanted, &tables)?;
    let generated: BTreeMap<u32, usize> = made.iter().map(|(&id, m)| (id, m.kept)).collect();
    let candidates: BTreeMap<u32, usize> = made.iter().map(|(&id, m)| (id, m.tried)).collect();
    let mut outputs = vec![synthetic_path.clone(), augmented_path.clone()];
    let mut report = None;
    if let Some(batches) = kept {
        let synthetic = Batch::concatenate(&batches)?;
        if settings.hdf5 {
            outputs.push(write_hdf5(settings, &data, &synthetic, &provenance)?);
        }
        if let (Some(config), Some(basis)) = (&settings.report, &basis) {
            let (quality, files, page) = write_report(settings, config, &card, &data, basis, &synthetic)?;
            outputs.extend(files);
            report = Some((quality, page));
        }
    }
    record.finish(
        &settings.run_json,
        &outputs,
        json!({
            "real_training_counts": counts,
            "wanted": wanted,
            "generated": generated,
            "candidates": candidates,
            "onnxruntime": runtime.library,
            "execution_provider": session.device.to_string(),
            "report_scores": basis.as_ref().map(ReportBasis::name),
        }),
    )?;
    tracing::info!("wrote {} and {}", synthetic_path.display(), augmented_path.display());
    Ok(AugmentOutcome { synthetic: synthetic_path, augmented: augmented_path, generated, candidates, report })
}

/// The generator's latent size: the second dimension of its input `z`, which must be fixed.
fn latent_size(session: &OnnxSession, model: &Path) -> Result<usize> {
    let latent = session.inputs.iter().find(|t| t.name == "z").and_then(|t| t.shape.get(1).copied()).unwrap_or(-1);
    if latent <= 0 {
        bail!("{}: input \"z\" has no fixed latent size", model.display());
    }
    Ok(latent as usize)
}

/// What decides which synthetic spectra are written: with [`Selection::NearestReal`], the
/// real training spectra (`train_rows` of `data`) they must lie nearest to.
fn selection_filter(selection: Selection, data: &Labelled, train_rows: &[usize]) -> Result<Option<NearestRealFilter>> {
    Ok(match selection {
        Selection::NearestReal => {
            let real = data.spectra.select(Axis(0), train_rows);
            let labels: Vec<u32> = train_rows.iter().map(|&r| data.labels[r]).collect();
            Some(NearestRealFilter::new(real.view(), &labels)?)
        }
        Selection::All => None,
    })
}

/// `synthetic.h5`: the synthetic spectra with their classes and the model they came from.
fn write_hdf5(
    settings: &Augment,
    data: &Labelled,
    (spectra, ids): &(Array2<f32>, Vec<u32>),
    provenance: &[(String, String)],
) -> Result<PathBuf> {
    let names = ids.iter().map(|&id| data.class_name(id)).collect::<Vec<_>>();
    let rows = SpectraRows {
        spectra: spectra.view(),
        class_ids: ids,
        class_names: &names,
        sources: &vec!["gan"; ids.len()],
        wavelengths_nm: &data.wavelengths_nm,
        positions: None,
    };
    Ok(write_spectra_hdf5(&settings.out.join("synthetic.h5"), rows, provenance)?)
}

/// The quality report in `OUT/report/`, scored on the pixels `basis` says, and the
/// warning when the spectra scored do not help. Returns the quality, the files written and
/// the page.
fn write_report(
    settings: &Augment,
    config: &QualityConfig,
    card: &ModelCard,
    data: &Labelled,
    basis: &ReportBasis,
    written: &(Array2<f32>, Vec<u32>),
) -> Result<(Quality, Vec<PathBuf>, PathBuf)> {
    let refit;
    let ((spectra, ids), split, title) = match basis {
        ReportBasis::Untouched(split) | ReportBasis::Seen(split) => {
            (written, split, format!("Quality of the synthetic spectra of {}", settings.model.display()))
        }
        ReportBasis::Refit(split, exemplar) => {
            refit = crate::recipe_check::refit_spectra(card, exemplar, data, split, settings)?;
            let title = format!(
                "Quality of the synthetic spectra of {}'s recipe, fitted again without {} test pixels",
                settings.model.display(),
                split.test.len()
            );
            (&refit, split, title)
        }
    };
    let fake = LabelledView { spectra: spectra.view(), labels: ids };
    let dir = settings.out.join("report");
    let written = crate::report::write_for(&dir, &title, data, (&split.train[..], &split.test[..]), fake, config)?;
    let page = dir.join("report.html");
    say_whether_it_helps(&written.verdict, basis, &page);
    Ok((written.quality, written.files, page))
}

/// Says, after the report, whether the synthetic spectra helped the classes they were made
/// for: their mean F1 on the report's test pixels over its classifiers, trained with and
/// without them (the report's verdict against real pixels only); a warning when they do
/// not help.
fn say_whether_it_helps(verdict: &Verdict, basis: &ReportBasis, html: &std::path::Path) {
    let against_real: Vec<&Comparison> = verdict.comparisons.iter().filter(|c| c.against == TrainingSet::Real).collect();
    let mean = |of: fn(&Comparison) -> f64| against_real.iter().map(|c| of(c)).sum::<f64>() / against_real.len() as f64;
    let (with, real) = (mean(|c| c.with), mean(|c| c.without));
    if !(with.is_finite() && real.is_finite()) {
        return;
    }
    let pixels = basis.scored_pixels();
    if with <= real {
        tracing::warn!(
            "the synthetic spectra do not help: mean F1 of the augmented classes on {pixels} is {with:.3} with them and {real:.3} without; see {}",
            html.display()
        );
    } else {
        tracing::info!("mean F1 of the augmented classes on {pixels}: {with:.3} with the synthetic spectra, {real:.3} without");
    }
}

/// Which pixels the report scores on, and whose synthetic spectra.
enum ReportBasis {
    /// The test split the model records, which it never saw: the spectra written.
    Untouched(Split),
    /// An exemplar model made from every labelled pixel (`train spectral`'s default): its
    /// recipe (these settings) fitted again on all but this split's test share, which it
    /// never saw, and spectra drawn from that fit ([`crate::recipe_check`]).
    Refit(Split, ExemplarConfig),
    /// A model that records no split, or one made from every pixel that cannot be fitted
    /// again here (a GAN, or data other than these): a seeded test share that the model may
    /// have seen, and the spectra written.
    Seen(Split),
}

impl ReportBasis {
    /// The name in run records.
    fn name(&self) -> &'static str {
        match self {
            Self::Untouched(_) => "the model's untouched test split",
            Self::Refit(..) => "the recipe fitted again without a test share",
            Self::Seen(_) => "a test share the model may have seen",
        }
    }

    /// The pixels scored, in words.
    fn scored_pixels(&self) -> &'static str {
        match self {
            Self::Untouched(_) => "the untouched test pixels",
            Self::Refit(..) => "test pixels held out of the recipe fitted again",
            Self::Seen(_) => "test pixels the model may have seen",
        }
    }
}

/// The share of each class a report holds out as test pixels when the model's own split
/// leaves none.
const REPORT_TEST_SHARE: f64 = 0.2;

/// The real rows to augment (the model's training rows), and, when a `report` is made,
/// what it scores on. With a test split recorded in the model's card, the report scores
/// the spectra written on it, so that test pixels never enter the augmented set and the
/// model never saw them. An exemplar model made from every pixel of these data (its card's
/// fingerprint) has its recipe fitted again without a seeded test share (its settings are
/// in its card). Any other model gets a seeded test share for the report, whose pixels it
/// may have seen.
fn splits(card: &ModelCard, data: &Labelled, seed: u64, report: bool) -> Result<(Vec<usize>, Option<ReportBasis>)> {
    let Some(config) = crate::model_split::from_card(card) else {
        tracing::warn!("the model records no training split: the report's test pixels may have been seen in its training");
        let split = SplitConfig { validation: 0.0, test: REPORT_TEST_SHARE, seed, ..SplitConfig::default() };
        let basis = if report { Some(ReportBasis::Seen(data.split(&split)?)) } else { None };
        return Ok(((0..data.labels.len()).collect(), basis));
    };
    let split = data.split(&config)?;
    if !report {
        return Ok((split.train, None));
    }
    if !split.test.is_empty() {
        return Ok((split.train.clone(), Some(ReportBasis::Untouched(split))));
    }
    let held_out = data.split(&SplitConfig { test: REPORT_TEST_SHARE, ..config })?;
    let exemplar = crate::recipe_check::exemplar_settings(card);
    // The fingerprint hashes every spectrum of the model's classes (`train spectral` leaves
    // out classes of one spectrum): only for a model that could be fitted again.
    let made_from_these = exemplar.is_some() && {
        let ids: Vec<u32> = card.classes.iter().map(|c| c.id).collect();
        card.training.get("data_fingerprint").and_then(|f| f.as_str()) == Some(data.fingerprint_of(&ids).as_str())
    };
    let basis = match exemplar {
        Some(exemplar) if made_from_these => ReportBasis::Refit(held_out, exemplar),
        other => {
            let whose = if other.is_some() { " of other data than these" } else { "" };
            tracing::warn!(
                "the model was trained on every labelled pixel{whose}: the report's test pixels may have been seen in its training"
            );
            ReportBasis::Seen(held_out)
        }
    };
    Ok((split.train, Some(basis)))
}

/// Spectra to generate per class id: every class of the model below the target's count
/// (of `counts`, the real training spectra per class id) up to it.
pub(crate) fn plan(target: Target, counts: &BTreeMap<u32, usize>, card: &ModelCard) -> Result<BTreeMap<u32, usize>> {
    let largest = counts.values().copied().max().unwrap_or(0);
    let goal = match target {
        Target::PerClass(n) => n,
        Target::Balance => largest,
    };
    let smallest = counts.values().copied().min().unwrap_or(0);
    if goal <= smallest {
        return Err(NothingToDo(format!(
            "target {goal} is not above any class's training count (the smallest class has {smallest}); nothing to generate"
        ))
        .into());
    }
    Ok(counts.iter().filter(|&(&id, &n)| n < goal && card.classes.iter().any(|c| c.id == id)).map(|(&id, &n)| (id, goal - n)).collect())
}

/// Says which classes [`plan`] leaves as they are, and why.
fn log_plan(counts: &BTreeMap<u32, usize>, wanted: &BTreeMap<u32, usize>, card: &ModelCard) {
    for (&id, &n) in counts.iter().filter(|(id, _)| !wanted.contains_key(id)) {
        if card.classes.iter().any(|c| c.id == id) {
            tracing::info!("class {id}: {n} training spectra, already at or above the target");
        } else {
            tracing::warn!("class {id}: not in the model's classes; left as it is");
        }
    }
}

/// The noise stream of class `id` under `seed`: each class draws from its own, so what it
/// gets does not depend on the batch size or on the other classes.
pub(crate) fn class_noise(seed: u64, id: u32) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::from(id));
    rng
}

/// Draws spectra of class `id` until `n` are kept or, with a `filter`, [`CANDIDATES_PER_KEPT`]
/// x `n` were drawn (without one every spectrum is kept): first `n`, then after a round
/// that dropped some twice what is still missing, at most `batch` per call of `draw`.
/// Hands each round's kept spectra (in the order drawn) to `keep`; `None` when `keep` says
/// stop.
pub(crate) fn fill_class(
    id: u32,
    n: usize,
    batch: usize,
    filter: Option<&NearestRealFilter>,
    draw: &mut dyn FnMut(usize) -> Result<Array2<f32>>,
    keep: &mut dyn FnMut(Array2<f32>) -> bool,
) -> Result<Option<Made>> {
    let budget = if filter.is_some() { n * CANDIDATES_PER_KEPT } else { n };
    let mut this = Made::default();
    while this.kept < n && this.tried < budget {
        let wanted_now = if this.tried == 0 { n } else { 2 * (n - this.kept) };
        let m = wanted_now.min(budget - this.tried).min(batch.max(1));
        let spectra = draw(m)?;
        this.tried += m;
        let spectra = match filter {
            Some(filter) => {
                let kept = filter.keeps(spectra.view(), id)?;
                let rows: Vec<usize> = (0..m).filter(|&i| kept[i]).take(n - this.kept).collect();
                spectra.select(Axis(0), &rows)
            }
            None => spectra,
        };
        this.kept += spectra.nrows();
        if spectra.nrows() > 0 && !keep(spectra) {
            return Ok(None);
        }
    }
    Ok(Some(this))
}

/// One ONNX Runtime call's spectra, all of one class.
struct Batch {
    class_id: u32,
    /// `[n, bands]`.
    spectra: Array2<f32>,
}

impl Batch {
    /// All batches' spectra stacked, with their class ids.
    fn concatenate(batches: &[Batch]) -> Result<(Array2<f32>, Vec<u32>)> {
        let views: Vec<_> = batches.iter().map(|b| b.spectra.view()).collect();
        let ids = batches.iter().flat_map(|b| std::iter::repeat_n(b.class_id, b.spectra.nrows())).collect();
        Ok((concatenate(Axis(0), &views)?, ids))
    }
}

/// The two tables `augment` writes, and what goes into them besides the batches.
struct Tables<'a> {
    synthetic: PathBuf,
    augmented: PathBuf,
    provenance: &'a [(String, String)],
    /// Their pages' compression.
    compression: TableCompression,
    data: &'a Labelled,
    /// The real rows that start `augmented.parquet`.
    real_rows: &'a [usize],
    /// Keep the batches for the HDF5 copy and the report.
    keep: bool,
}

impl Tables<'_> {
    /// Writes the real rows, then every batch from `queue` into both tables until the
    /// generator sends `None`. Returns both paths, and the batches when asked to keep them.
    fn write(&self, queue: Receiver<Option<Batch>>) -> Result<Written> {
        let wavelengths = &self.data.wavelengths_nm;
        let mut synthetic = SpectraParquetWriter::create(&self.synthetic, wavelengths, self.provenance, self.compression)?;
        let mut augmented = SpectraParquetWriter::create(&self.augmented, wavelengths, self.provenance, self.compression)?;
        let real = self.data.spectra.select(Axis(0), self.real_rows);
        let real_ids: Vec<u32> = self.real_rows.iter().map(|&r| self.data.labels[r]).collect();
        let pixels: Option<Vec<PixelPosition>> = self.real_rows.iter().map(|&r| self.data.pixel(r)).collect();
        self.write_rows(&mut [&mut augmented], real.view(), &real_ids, "real", pixels.as_deref())?;
        let mut kept = self.keep.then(Vec::new);
        loop {
            match queue.recv() {
                Ok(Some(batch)) => {
                    let ids = vec![batch.class_id; batch.spectra.nrows()];
                    self.write_rows(&mut [&mut synthetic, &mut augmented], batch.spectra.view(), &ids, "gan", None)?;
                    if let Some(kept) = &mut kept {
                        kept.push(batch);
                    }
                }
                Ok(None) => break,
                // The generator failed and reports why; the unfinished tables are removed.
                Err(_) => bail!("the generator stopped before its last batch"),
            }
        }
        Ok((synthetic.finish()?, augmented.finish()?, kept))
    }

    /// Appends spectra with their class ids, one source and their pixels (if real and from
    /// a cube) to each of `tables`.
    fn write_rows(
        &self,
        tables: &mut [&mut SpectraParquetWriter],
        spectra: ArrayView2<'_, f32>,
        ids: &[u32],
        source: &str,
        positions: Option<&[PixelPosition]>,
    ) -> Result<()> {
        let names: Vec<&str> = ids.iter().map(|&id| self.data.class_name(id)).collect();
        let sources = vec![source; ids.len()];
        let wavelengths_nm = &self.data.wavelengths_nm;
        let rows = SpectraRows { spectra, class_ids: ids, class_names: &names, sources: &sources, wavelengths_nm, positions };
        for table in tables {
            table.write(rows)?;
        }
        Ok(())
    }
}

/// What the generator made for one class.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Made {
    /// Spectra written.
    kept: usize,
    /// Spectra generated.
    tried: usize,
}

impl Made {
    /// Says what was made for class `id` of the `n` wanted: a warning when too few were
    /// kept.
    fn log(&self, id: u32, n: usize) {
        if self.kept < n {
            tracing::warn!(
                "class {id}: only {} of {} generated spectra lay nearest a real spectrum of their own class; wrote {}, not {n}",
                self.kept,
                self.tried,
                self.kept
            );
        } else if self.tried > self.kept {
            tracing::info!(
                "class {id}: {n} synthetic spectra, the first of {} generated nearest a real spectrum of their own class",
                self.tried
            );
        } else {
            tracing::info!("class {id}: {n} synthetic spectra");
        }
    }
}

/// The model's generator with what it needs to fill the wanted counts.
struct Generator<'a> {
    latent: usize,
    /// Keeps the spectra nearest their own class ([`Selection::NearestReal`]).
    filter: Option<&'a NearestRealFilter>,
    card: &'a ModelCard,
    settings: &'a Augment,
}

/// The tables' paths, and the batches when [`Tables::keep`] asked for them.
type Written = (PathBuf, PathBuf, Option<Vec<Batch>>);

impl Generator<'_> {
    /// Fills `wanted` into `tables`: the generator fills the next batch while the last one is
    /// written (a writer thread takes batches through a short queue, and `None` to say the
    /// last one came). Returns what was written and what was made per class.
    fn write(
        &self,
        session: &mut OnnxSession,
        wanted: &BTreeMap<u32, usize>,
        tables: &Tables<'_>,
    ) -> Result<(Written, BTreeMap<u32, Made>)> {
        std::thread::scope(|scope| {
            let (batches, queue) = std::sync::mpsc::sync_channel(2);
            let writer = crate::threads::spawn_scoped(scope, "the Parquet writer", || tables.write(queue))?;
            let made = self.run(session, wanted, &batches);
            if made.is_ok() {
                // A send fails only when the writer already stopped; it tells why.
                let _ = batches.send(None);
            }
            drop(batches);
            let written = writer.join().map_err(|_| anyhow::anyhow!("the Parquet writer thread panicked"))?;
            // The generator's own error first: the writer's then only says that it stopped.
            let made = made?;
            Ok((written?, made))
        })
    }

    /// Runs the generator for every class in `wanted` and sends each batch of kept spectra
    /// to `batches`; stops early when the receiver is gone. Each class draws its noise from
    /// its own stream of the seed, so what it gets does not depend on the batch size or on
    /// the other classes.
    fn run(
        &self,
        session: &mut OnnxSession,
        wanted: &BTreeMap<u32, usize>,
        batches: &SyncSender<Option<Batch>>,
    ) -> Result<BTreeMap<u32, Made>> {
        let total: usize = wanted.values().sum();
        let bar = progress::bar(total as u64, "generating", "spectra");
        let mut made = BTreeMap::new();
        for (&id, &n) in wanted {
            let index = self.card.classes.iter().position(|c| c.id == id).unwrap_or(0) as i64;
            let mut rng = class_noise(self.settings.seed, id);
            let mut draw = |m| self.batch(session, &mut rng, index, m, id);
            let mut keep = |spectra: Array2<f32>| {
                bar.inc(spectra.nrows() as u64);
                batches.send(Some(Batch { class_id: id, spectra })).is_ok()
            };
            let Some(this) = fill_class(id, n, self.settings.batch, self.filter, &mut draw, &mut keep)? else {
                return Ok(made); // the writer stopped; it reports why
            };
            this.log(id, n);
            bar.inc(n.saturating_sub(this.kept) as u64);
            made.insert(id, this);
        }
        bar.finish_and_clear();
        Ok(made)
    }

    /// One ONNX Runtime call: `m` spectra of class index `index` (class id `id`).
    fn batch(&self, session: &mut OnnxSession, rng: &mut ChaCha8Rng, index: i64, m: usize, id: u32) -> Result<Array2<f32>> {
        let z: Vec<f32> = (0..m * self.latent).map(|_| StandardNormal.sample(rng)).collect();
        let z = Array2::from_shape_vec((m, self.latent), z)?.into_dyn();
        let classes = Array1::from_elem(m, index).into_dyn();
        let out = session.run(vec![("z", Input::F32(z.view())), ("class_index", Input::I64(classes.view()))])?;
        let block = out.into_iter().next().ok_or_else(|| anyhow::anyhow!("the model returned no output"))?;
        let spectra = block.into_dimensionality::<ndarray::Ix2>()?;
        if !spectra.iter().all(|v| v.is_finite()) {
            bail!("{}: the model produced values that are not numbers for class {id}", self.settings.model.display());
        }
        Ok(spectra)
    }
}
