//! `hypersynth classify`: fits a pixel classifier on labelled spectra (a spectra table such
//! as `augmented.parquet`, labelled pixels of a scene, a library) or takes a saved one, and
//! maps a scene with it: a COG of class ids with names and colours, a COG of confidences,
//! the classifier file beside them, and with `--check` the map's accuracy on labelled
//! pixels the training never saw.

mod bands;
mod check;
mod map;
mod saved;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hypersynth_data::{ClassRaster, Cube, CubeSource, TableCompression, aux_xml_path, stac_item_path};
use hypersynth_onnx::SessionOptions;
use hypersynth_spectral::{Classifier, ClassifierKind};
use ndarray::{Array2, Axis};
use serde_json::json;

pub use check::{Accuracy, Confusion};
pub use saved::{ClassCard, ClassifierCard, SavedClassifier};

use crate::commands::augment::{self, Augment, Selection, Target};
use crate::labelled::{self, LabelSource, Labelled};
use crate::run_record::RunRecord;

/// Where the classifier comes from.
#[derive(Debug, Clone)]
pub enum Training {
    /// Fitted on these labelled spectra.
    Fit {
        /// The spectra.
        source: LabelSource,
        /// Which classifier.
        kind: ClassifierKind,
        /// Draws the random forest (and the synthetic spectra's noise).
        seed: u64,
        /// Synthetic spectra to add to them.
        synthetic: Option<SyntheticSpectra>,
    },
    /// Read from a classifier file written by an earlier `classify`.
    Saved(PathBuf),
}

/// A spectral model's synthetic spectra added to the training spectra.
#[derive(Debug, Clone)]
pub struct SyntheticSpectra {
    /// The spectral model (`train spectral`'s ONNX).
    pub model: PathBuf,
    /// Every class below this many training spectra is brought to it.
    pub target_per_class: usize,
}

/// Resolved settings of `classify`.
#[derive(Debug, Clone)]
pub struct Classify {
    /// The classifier.
    pub training: Training,
    /// The scene to map.
    pub scene: CubeSource,
    /// The class map (a COG); the other outputs are named after it ([`OutputFiles`]).
    pub out: PathBuf,
    /// A class raster on the scene's grid to score the map on.
    pub check: Option<PathBuf>,
}

/// Every file `classify` may write, named after the map `STEM.tif`.
#[derive(Debug, Clone)]
pub struct OutputFiles {
    /// `STEM.tif`.
    pub map: PathBuf,
    /// `STEM.confidence.tif`.
    pub confidence: PathBuf,
    /// `STEM.classifier.json`.
    pub classifier: PathBuf,
    /// `STEM.run.json`.
    pub run_json: PathBuf,
    /// The folder and stem of the check's files (`STEM.check.*`, `STEM.confusion.*`).
    pub stem: (PathBuf, String),
}

impl OutputFiles {
    /// The files beside `map`.
    pub fn beside(map: &Path) -> Self {
        let stem = map.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "map".into());
        let dir = map.parent().map(Path::to_path_buf).unwrap_or_default();
        let named = |suffix: &str| dir.join(format!("{stem}{suffix}"));
        Self {
            map: map.to_path_buf(),
            confidence: named(".confidence.tif"),
            classifier: named(".classifier.json"),
            run_json: named(".run.json"),
            stem: (dir.clone(), stem.clone()),
        }
    }

    /// Every path, for the check that none replaces an input.
    fn all(&self) -> Vec<PathBuf> {
        let (dir, stem) = &self.stem;
        let mut all = vec![
            self.map.clone(),
            aux_xml_path(&self.map),
            stac_item_path(&self.map),
            self.confidence.clone(),
            stac_item_path(&self.confidence),
            self.classifier.clone(),
            self.run_json.clone(),
        ];
        for suffix in [".check.parquet", ".check.csv", ".confusion.parquet", ".confusion.csv", ".check.html"] {
            all.push(dir.join(format!("{stem}{suffix}")));
        }
        all
    }
}

/// What `classify` did.
#[derive(Debug, Clone)]
pub struct ClassifyOutcome {
    /// The class map.
    pub map: PathBuf,
    /// The confidence map.
    pub confidence: PathBuf,
    /// The classifier file (written when the classifier was fitted).
    pub classifier: Option<PathBuf>,
    /// The check's scores.
    pub accuracy: Option<Accuracy>,
    /// Pixels mapped (with data).
    pub mapped: u64,
}

/// Colours of the classes in map order (Tableau 20), repeated beyond twenty classes.
const PALETTE: [[u8; 3]; 20] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
    [174, 199, 232],
    [255, 187, 120],
    [152, 223, 138],
    [255, 152, 150],
    [197, 176, 213],
    [196, 156, 148],
    [247, 182, 210],
    [199, 199, 199],
    [219, 219, 141],
    [158, 218, 229],
];

/// Runs `classify`.
pub fn run(settings: &Classify) -> Result<ClassifyOutcome> {
    let files = OutputFiles::beside(&settings.out);
    let training_files = match &settings.training {
        Training::Fit { source, synthetic, .. } => [source.files(), synthetic.iter().map(|s| s.model.clone()).collect()].concat(),
        Training::Saved(path) => vec![path.clone()],
    };
    let inputs: Vec<PathBuf> = [training_files, settings.scene.files(), settings.check.iter().cloned().collect()].concat();
    // The model's sidecar card, which it may lack, is guarded too.
    let sidecars = match &settings.training {
        Training::Fit { synthetic: Some(s), .. } => vec![hypersynth_onnx::sidecar_path(&s.model)],
        _ => Vec::new(),
    };
    hypersynth_data::check_outputs(&[&inputs[..], &sidecars[..]].concat(), &files.all())?;
    let cube = Cube::open_source(&settings.scene)?;
    let Ready { saved, bands, check, trained_on } = ready(settings, &cube)?;

    let parameters = json!({
        "classifier": saved.classifier.kind,
        "classifier_file": match &settings.training { Training::Saved(path) => Some(path), Training::Fit { .. } => None },
        "seed": saved.card.seed,
        "check": settings.check,
        "synthetic": match &settings.training {
            Training::Fit { synthetic: Some(s), .. } => Some(json!({"model": s.model, "target_per_class": s.target_per_class})),
            _ => None,
        },
    });
    let record = RunRecord::start("classify", &inputs, parameters)?;
    let categories: Vec<(u32, String, [u8; 3])> =
        saved.card.classes.iter().enumerate().map(|(i, c)| (c.id, c.name.clone(), PALETTE[i % PALETTE.len()])).collect();
    let meta = cube.meta();
    tracing::info!(
        "mapping {} ({} x {} pixels) with the {} of {} classes on {} bands",
        settings.scene.path.display(),
        meta.rows,
        meta.cols,
        saved.classifier.kind.name(),
        categories.len(),
        bands.len()
    );
    let check_pixels = check.as_ref().map(|raster| map::CheckPixels { raster, trained_on: &trained_on });
    let (mapped, confusion) = map::map_scene(&cube, &bands, &saved.classifier, &categories, (&files.map, &files.confidence), check_pixels)?;
    let mut written = vec![mapped.map.clone(), aux_xml_path(&mapped.map), mapped.confidence.clone()];
    // After the map: a run stopped while mapping leaves none of the files a finished run writes.
    let classifier_file = match &settings.training {
        Training::Fit { .. } => Some(saved.save(&files.classifier)?),
        Training::Saved(_) => None,
    };
    written.extend(classifier_file.clone());
    let accuracy = match &confusion {
        Some(confusion) => {
            let names: BTreeMap<u32, String> = saved.card.classes.iter().map(|c| (c.id, c.name.clone())).collect();
            let (scored, accuracy) = score(&files, confusion, &names)?;
            written.extend(scored);
            Some(accuracy)
        }
        None => None,
    };
    let details = json!({
        "pixels_mapped": mapped.mapped,
        "pixels_without_data": mapped.without_data,
        "scene_bands_used": bands.iter().map(|b| b + 1).collect::<Vec<_>>(),
        "check": confusion.as_ref().map(|c| json!({
            "pixels_scored": c.counts.values().sum::<u64>(),
            "trained_on": c.trained_on,
            "without_data": c.without_data,
        })),
    });
    record.finish(&files.run_json, &written, details)?;
    tracing::info!("wrote {} and {}", mapped.map.display(), mapped.confidence.display());
    Ok(ClassifyOutcome { map: mapped.map, confidence: mapped.confidence, classifier: classifier_file, accuracy, mapped: mapped.mapped })
}

/// What mapping needs, every check that can run before the fit and the mapping done: the
/// classifier (fitted on checked spectra, or loaded), the scene's bands it takes, the check
/// raster on the scene's grid, and the scene's pixels the training took.
struct Ready {
    saved: SavedClassifier,
    bands: Vec<usize>,
    check: Option<ClassRaster>,
    trained_on: HashSet<u64>,
}

fn ready(settings: &Classify, cube: &Cube) -> Result<Ready> {
    let prepared = match &settings.training {
        Training::Fit { source, kind, seed, .. } => {
            let data = trainable(labelled::load(source)?)?;
            let trained_on = pixels_of_scene(&data, source, &settings.scene.path, cube.meta().cols);
            Prepared::Fit { data, kind: *kind, seed: *seed, trained_on }
        }
        Training::Saved(path) => Prepared::Saved(SavedClassifier::load(path)?),
    };
    let bands = bands::match_bands(cube.meta(), prepared.wavelengths())?;
    let check = settings.check.as_ref().map(|path| ClassRaster::read(path, cube.meta(), None)).transpose()?;
    let (saved, trained_on) = match prepared {
        Prepared::Fit { data, kind, seed, trained_on } => {
            if check.is_some() && trained_on.is_empty() {
                tracing::warn!(
                    "--check: the training spectra do not say which of the scene's pixels they are, so the score counts \
                     every labelled pixel, any the classifier was fitted on too"
                );
            }
            // The synthetic spectra, the first work, once every check has passed.
            let made = match &settings.training {
                Training::Fit { source, synthetic: Some(synthetic), .. } => {
                    Some(synthesise(synthetic, source, &data, seed, &settings.out)?)
                }
                _ => None,
            };
            (fit(&data, made.as_ref(), kind, seed)?, trained_on)
        }
        Prepared::Saved(saved) => (saved, HashSet::new()),
    };
    Ok(Ready { saved, bands, check, trained_on })
}

/// Writes the check's tables and page beside the map and logs its scores.
fn score(files: &OutputFiles, confusion: &Confusion, names: &BTreeMap<u32, String>) -> Result<(Vec<PathBuf>, Accuracy)> {
    let (dir, stem) = &files.stem;
    let written = check::write(dir, stem, confusion, names, &format!("Accuracy of {}", files.map.display()))?;
    let accuracy = confusion.accuracy();
    if accuracy.pixels == 0 {
        tracing::warn!("--check: no labelled pixel of the check raster was left to score (all trained on or without data)");
    } else {
        tracing::info!(
            "check: {} pixels, overall accuracy {:.4}, kappa {:.4}, macro-F1 {:.4}",
            accuracy.pixels,
            accuracy.overall_accuracy,
            accuracy.kappa,
            accuracy.macro_f1
        );
    }
    Ok((written, accuracy))
}

/// A classifier ready to be fitted (its spectra checked, with the scene's pixels among
/// them) or loaded.
enum Prepared {
    Fit { data: Labelled, kind: ClassifierKind, seed: u64, trained_on: HashSet<u64> },
    Saved(SavedClassifier),
}

impl Prepared {
    /// The wavelengths (nm) of the bands the classifier takes.
    fn wavelengths(&self) -> &[f64] {
        match self {
            Prepared::Fit { data, .. } => &data.wavelengths_nm,
            Prepared::Saved(saved) => &saved.card.wavelengths_nm,
        }
    }
}

/// `data`, refused unless it can train a classifier: two classes, two spectra of each.
fn trainable(data: Labelled) -> Result<Labelled> {
    let source = data.inputs.first().map_or_else(String::new, |p| p.display().to_string());
    if data.labels.is_empty() {
        bail!("{source}: holds no labelled spectra to train a classifier on");
    }
    let counts = class_counts(&data.labels);
    if let Some((id, _)) = counts.iter().find(|&(_, &n)| n < 2) {
        bail!("{source}: class {id} ({}) has one spectrum; a classifier needs at least two of each class", data.class_name(*id));
    }
    if counts.len() < 2 {
        bail!("{source}: holds one class; a classifier needs at least two");
    }
    Ok(data)
}

/// Spectra per class id of `labels`.
fn class_counts(labels: &[u32]) -> BTreeMap<u32, usize> {
    labels.iter().fold(BTreeMap::new(), |mut counts, &l| {
        *counts.entry(l).or_default() += 1;
        counts
    })
}

/// Fits a `kind` classifier on `data` ([`trainable`]) and the synthetic spectra `made`,
/// and writes its card.
fn fit(data: &Labelled, made: Option<&Synthesised>, kind: ClassifierKind, seed: u64) -> Result<SavedClassifier> {
    let counts = class_counts(&data.labels);
    let synthetic_counts = made.map(|m| class_counts(&m.labels)).unwrap_or_default();
    let (spectra, labels) = match made {
        Some(made) => {
            let spectra = ndarray::concatenate(Axis(0), &[data.spectra.view(), made.spectra.view()])?;
            (spectra, [&data.labels[..], &made.labels[..]].concat())
        }
        None => (data.spectra.clone(), data.labels.clone()),
    };
    let spinner = crate::progress::spinner(&format!("fitting the {} on {} spectra", kind.name(), labels.len()));
    let classifier = Classifier::fit(kind, spectra.view(), &labels, seed)?;
    spinner.finish_and_clear();
    let classes = counts
        .iter()
        .map(|(&id, &n)| ClassCard {
            id,
            name: data.class_name(id).to_string(),
            training_count: n,
            synthetic_count: synthetic_counts.get(&id).copied().unwrap_or(0),
        })
        .collect();
    let card = ClassifierCard {
        format: saved::FORMAT.into(),
        version: saved::VERSION,
        software: format!("hypersynth {}", env!("CARGO_PKG_VERSION")),
        classes,
        wavelengths_nm: data.wavelengths_nm.clone(),
        trained_on: data.inputs.clone(),
        synthetic_from: made.map(|m| m.model.clone()),
        data_fingerprint: data.fingerprint(),
        seed,
    };
    Ok(SavedClassifier { card, classifier })
}

/// Synthetic spectra made for the training: `[n, bands]` on the real spectra's bands, with
/// their class ids, and the model that made them.
struct Synthesised {
    spectra: Array2<f32>,
    labels: Vec<u32>,
    model: PathBuf,
}

/// The synthetic spectra `augment` makes with `synthetic`'s model and target for the
/// spectra of `source` (`data`), with the same selection, in a hidden folder beside `out`
/// that is removed afterwards (a killed run leaves it dot-named, never a finished-looking
/// file).
fn synthesise(synthetic: &SyntheticSpectra, source: &LabelSource, data: &Labelled, seed: u64, out: &Path) -> Result<Synthesised> {
    let dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let work = tempfile::Builder::new()
        .prefix(".classify-synthetic.")
        .tempdir_in(dir)
        .with_context(|| format!("{}: cannot make a working folder for the synthetic spectra", dir.display()))?;
    let augmented = augment::run(&Augment {
        model: synthetic.model.clone(),
        source: source.clone(),
        out: work.path().to_path_buf(),
        run_json: work.path().join("run.json"),
        target: Target::PerClass(synthetic.target_per_class),
        seed,
        selection: Selection::default(),
        batch: augment::DEFAULT_BATCH,
        hdf5: false,
        compression: TableCompression::default(),
        session: SessionOptions::default(),
        report: None,
        when_nothing_to_generate: augment::NothingToGenerate::Refuse,
    })?;
    let made = labelled::load(&LabelSource::Table(augmented.synthetic))?;
    labelled::check_same_bands(&synthetic.model, &made.wavelengths_nm, &data.wavelengths_nm, "the training spectra's bands")?;
    tracing::info!("adding {} synthetic spectra of {} to the training spectra", made.labels.len(), synthetic.model.display());
    Ok(Synthesised { spectra: made.spectra, labels: made.labels, model: synthetic.model.clone() })
}

/// The pixels (`row * cols + col`) of the scene at `scene` that `data` took its spectra
/// from, when `source` read that scene; else none.
fn pixels_of_scene(data: &Labelled, source: &LabelSource, scene: &Path, cols: usize) -> HashSet<u64> {
    let LabelSource::Raster { scenes, .. } = source else { return HashSet::new() };
    let same = |a: &Path| std::fs::canonicalize(a).ok().zip(std::fs::canonicalize(scene).ok()).is_some_and(|(a, b)| a == b);
    let Some(k) = scenes.iter().position(|(cube, _)| same(&cube.path)) else { return HashSet::new() };
    (0..data.labels.len())
        .filter_map(|r| data.pixel(r))
        .filter(|p| p.scene as usize == k)
        .map(|p| p.row as u64 * cols as u64 + p.col as u64)
        .collect()
}
