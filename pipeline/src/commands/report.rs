//! `hypersynth report`: the quality report for any pair of real and synthetic spectra,
//! including synthetic spectra made by other tools.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hypersynth_onnx_format::{ModelCard, decode_model, metadata_props};
use hypersynth_spectral::{LabelledView, QualityConfig, SplitConfig};

use crate::labelled::{self, LabelSource, check_same_bands};
use crate::report;
use crate::run_record::RunRecord;

/// Where the real test rows come from.
#[derive(Debug, Clone)]
pub enum TestSplit {
    /// The split recorded in a hypersynth model's card, so that the test rows are those
    /// its training never saw.
    FromModel(PathBuf),
    /// A fresh stratified split: this fraction of each class, shuffled with this seed.
    Fraction {
        /// Fraction of each class held out as test rows.
        test: f64,
        /// Seed of the shuffle.
        seed: u64,
        /// Deal square blocks of this many pixels a side instead of single pixels.
        blocks: Option<usize>,
    },
}

/// Resolved settings of `report`.
#[derive(Debug, Clone)]
pub struct Report {
    /// The real labelled spectra.
    pub real: LabelSource,
    /// A CSV or Parquet table of synthetic spectra.
    pub synthetic: PathBuf,
    /// How the real rows are split into training and test rows.
    pub split: TestSplit,
    /// The output folder; the report goes into `OUT/report/`, `OUT/run.json` beside it.
    pub out: PathBuf,
    /// Seeds, folds and caps of the computation.
    pub quality: QualityConfig,
}

/// Runs `report`; returns the report folder.
pub fn run(settings: &Report) -> Result<PathBuf> {
    let model = match &settings.split {
        TestSplit::FromModel(model) => Some(model.clone()),
        TestSplit::Fraction { .. } => None,
    };
    let inputs = [settings.real.files(), vec![settings.synthetic.clone()], model.into_iter().collect()].concat();
    hypersynth_data::check_output_folder(&inputs, &settings.out, &["run.json", "report/"])?;
    let real = labelled::load(&settings.real)?;
    let synthetic = labelled::load(&LabelSource::Table(settings.synthetic.clone()))?;
    if synthetic.labels.is_empty() {
        bail!("{}: holds no labelled synthetic spectra; the report compares them with the real ones", settings.synthetic.display());
    }
    check_same_bands(&settings.synthetic, &synthetic.wavelengths_nm, &real.wavelengths_nm, "the real spectra's good bands")?;
    if let Some(id) = synthetic.labels.iter().find(|id| !real.classes.iter().any(|c| c.id == **id)) {
        bail!(
            "{}: holds spectra of class {id}, which the real spectra do not have; the report scores synthetic spectra of \
             the real classes only",
            settings.synthetic.display()
        );
    }
    let split = match &settings.split {
        TestSplit::FromModel(model) => model_split(model)?,
        TestSplit::Fraction { test, seed, blocks } => {
            SplitConfig { validation: 0.0, test: *test, seed: *seed, blocks: *blocks, ..SplitConfig::default() }
        }
    };
    let rows = real.split(&split)?;
    if rows.test.is_empty() {
        match &settings.split {
            TestSplit::FromModel(model) => bail!(
                "{}: was made from every labelled pixel (its split holds no test rows), so none is untouched; give --test F \
                 instead (a share the model has seen)",
                model.display()
            ),
            TestSplit::Fraction { .. } => bail!("the split leaves no real test rows; raise --test"),
        }
    }
    std::fs::create_dir_all(&settings.out).with_context(|| format!("{}: cannot create the output folder", settings.out.display()))?;
    let inputs = [&real.inputs[..], &synthetic.inputs[..]].concat();
    let record =
        RunRecord::start("report", &inputs, serde_json::json!({"split": format!("{:?}", settings.split), "seed": settings.quality.seed}))?;
    let dir = settings.out.join("report");
    let title = format!("Quality of {}", settings.synthetic.display());
    let fake = LabelledView { spectra: synthetic.spectra.view(), labels: &synthetic.labels };
    let written = report::write_for(&dir, &title, &real, (&rows.train, &rows.test), fake, &settings.quality)?.files;
    let details = serde_json::json!({
        "train_rows": rows.train.len(),
        "test_pixel_ids": rows.test.iter().map(|&r| real.ids[r]).collect::<Vec<_>>(),
    });
    record.finish(&settings.out.join("run.json"), &written, details)?;
    Ok(dir)
}

/// The split recorded in the card of the hypersynth model at `path`.
fn model_split(path: &Path) -> Result<SplitConfig> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read the model", path.display()))?;
    let model = decode_model(&bytes).with_context(|| format!("{}: not an ONNX model", path.display()))?;
    let card = ModelCard::from_props(&metadata_props(&model))
        .with_context(|| format!("{}: unreadable model card", path.display()))?
        .with_context(|| format!("{}: the model has no hypersynth card, so no recorded split; use --test instead", path.display()))?;
    crate::model_split::from_card(&card)
        .with_context(|| format!("{}: the model card records no training split; use --test instead", path.display()))
}
