//! The quality report: `report/metrics.parquet` and `metrics.csv` (tidy, built with
//! Polars), `summary.md` and a self-contained `report.html` with SVG plots.

mod plots;
mod render;

pub(crate) use render::{Table, escape, html_page};
pub(crate) mod table;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hypersynth_spectral::{LabelledView, Quality, QualityConfig, Verdict, quality};
use ndarray::{Array2, Axis};

use crate::labelled::Labelled;

pub use table::{MetricRow, metric_rows};

/// What a report is computed from.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// The page title.
    pub title: &'a str,
    /// Real training rows (the reference for copying, and what classifiers learn from).
    pub train: LabelledView<'a>,
    /// Real test rows, untouched by training: the reference for every likeness metric
    /// and the rows every classifier is scored on.
    pub test: LabelledView<'a>,
    /// Synthetic rows.
    pub synthetic: LabelledView<'a>,
    /// Class names by id.
    pub class_names: &'a BTreeMap<u32, String>,
    /// Band centres, nm.
    pub wavelengths_nm: &'a [f64],
}

/// A written report.
#[derive(Debug, Clone)]
pub struct Written {
    /// Its numbers.
    pub quality: Quality,
    /// Its conclusion.
    pub verdict: Verdict,
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// Computes the report and writes it into `dir` (created if needed), every file
/// atomically.
pub fn write(dir: &Path, input: &ReportInput<'_>, config: &QualityConfig) -> Result<Written> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the report folder", dir.display()))?;
    let progress = crate::progress::spinner("computing the quality report");
    let quality = quality(input.train, input.test, input.synthetic, config)?;
    let name = |class: u32| input.class_names.get(&class).cloned().unwrap_or_default();
    let verdict = hypersynth_spectral::verdict(&quality, &name, config.seed);
    progress.finish_and_clear();
    let mut frame = table::frame(&metric_rows(&quality, input.class_names))?;
    let mut written = table::write(&mut frame, dir, "metrics")?.to_vec();
    written
        .push(hypersynth_data::write_atomically(&dir.join("summary.md"), render::summary_markdown(input, &quality, &verdict).as_bytes())?);
    written.push(hypersynth_data::write_atomically(&dir.join("report.html"), render::report_html(input, &quality, &verdict)?.as_bytes())?);
    tracing::info!("wrote the quality report to {}", dir.display());
    Ok(Written { quality, verdict, files: written })
}

/// Writes the report into `dir` for the `train` and `test` rows of `real` and the
/// `synthetic` spectra.
pub fn write_for(
    dir: &Path,
    title: &str,
    real: &Labelled,
    (train, test): (&[usize], &[usize]),
    synthetic: LabelledView<'_>,
    config: &QualityConfig,
) -> Result<Written> {
    let pick = |rows: &[usize]| (real.spectra.select(Axis(0), rows), rows.iter().map(|&r| real.labels[r]).collect::<Vec<_>>());
    let (train, test) = (pick(train), pick(test));
    fn view((spectra, labels): &(Array2<f32>, Vec<u32>)) -> LabelledView<'_> {
        LabelledView { spectra: spectra.view(), labels }
    }
    let names: BTreeMap<u32, String> = real.classes.iter().map(|c| (c.id, c.name.clone())).collect();
    let input = ReportInput {
        title,
        train: view(&train),
        test: view(&test),
        synthetic: LabelledView { spectra: synthetic.spectra.reborrow(), labels: synthetic.labels },
        class_names: &names,
        wavelengths_nm: &real.wavelengths_nm,
    };
    write(dir, &input, config)
}
