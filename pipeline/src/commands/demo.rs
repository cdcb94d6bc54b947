//! `hypersynth demo`: the main job on the sample data bundled in the binary.
//!
//! Two SalinasA classes are thinned to 25 training pixels each, as if they were scarce;
//! `train spectral` makes the default generator (the exemplar variation model) of all six
//! classes and `augment` brings the scarce two up to 300 training spectra and writes the
//! quality report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hypersynth_data::{Compression, CubeSource, TableCompression};
use hypersynth_models::spectral_cgan::SpectralCganArchitecture;
use hypersynth_models::training::TrainConfig;
use hypersynth_onnx::SessionOptions;
use hypersynth_spectral::{Layout, QualityConfig, SplitConfig};

use super::augment::{Augment, Selection, Target};
use super::train_spectral::{Synthesis, TrainSpectral};
use crate::labelled::LabelSource;

/// The classes made scarce, and how many training pixels they keep.
const SCARCE: [(u32, usize); 2] = [(1, 25), (13, 25)];
/// What `augment` brings every class below it up to.
const TARGET: usize = 300;

/// The SalinasA sample of the repository (`data/samples/salinasA`, see its README),
/// compiled into the binary so that the demo runs wherever the binary is installed.
const SAMPLE: [(&str, &[u8]); 3] = [
    ("salinasA.tif", include_bytes!("../../../data/samples/salinasA/salinasA.tif")),
    ("salinasA_gt.tif", include_bytes!("../../../data/samples/salinasA/salinasA_gt.tif")),
    ("classes.csv", include_bytes!("../../../data/samples/salinasA/classes.csv")),
];

/// Writes the sample into `dir` (each file atomically) and returns `dir`.
fn write_sample(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the sample folder", dir.display()))?;
    for (name, bytes) in SAMPLE {
        hypersynth_data::write_atomically(&dir.join(name), bytes)?;
    }
    Ok(dir.to_path_buf())
}

/// Runs the demo, writing into `out` (the sample it reads goes to `out/sample`).
pub fn run(out: &Path, threads: Option<usize>) -> Result<()> {
    // augment needs ONNX Runtime: find it before any work.
    hypersynth_onnx::load_runtime(&crate::runtime::search(hypersynth_onnx::Device::Cpu))?;
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create the output folder", out.display()))?;
    let dir = write_sample(&out.join("sample"))?;
    let cube = CubeSource::file(dir.join("salinasA.tif"));
    println!("== hypersynth info {}", cube.path.display());
    let labels = super::info::Labels { raster: dir.join("salinasA_gt.tif"), names: Some(dir.join("classes.csv")) };
    super::info::run(&cube, Some(&labels), false)?;

    let cog = out.join("salinasA_cog.tif");
    println!("\n== hypersynth convert -> {}", cog.display());
    super::convert::run(&cube, &cog, Compression::Deflate, true)?;

    let source = LabelSource::Raster { scenes: vec![(cube, labels.raster)], names: labels.names, listed_in: None };
    let model = out.join("salinasA_cgan.onnx");
    println!(
        "\n== hypersynth train spectral (classes {} thinned to 25 training pixels) -> {}",
        SCARCE.map(|(c, _)| c.to_string()).join(" and "),
        model.display()
    );
    let trained = super::train_spectral::run(&TrainSpectral {
        source: source.clone(),
        out: model.clone(),
        split: SplitConfig { thin: BTreeMap::from(SCARCE), ..Synthesis::default().default_split() },
        architecture: SpectralCganArchitecture::default(),
        train: TrainConfig::default(),
        layout: Layout::default(),
        synthesis: Synthesis::default(),
    })?;
    if let Some((mmd, step)) = trained.best {
        println!("validation MMD {mmd:.4} at step {step}");
    }

    let augmented = out.join("augmented");
    println!("\n== hypersynth augment --target-per-class {TARGET} -> {}", augmented.display());
    let outcome = super::augment::run(&Augment {
        model: model.clone(),
        source,
        run_json: augmented.join("run.json"),
        out: augmented,
        target: Target::PerClass(TARGET),
        seed: 0,
        selection: Selection::default(),
        batch: super::augment::DEFAULT_BATCH,
        hdf5: false,
        compression: TableCompression::default(),
        session: SessionOptions { threads, ..SessionOptions::default() },
        report: Some(QualityConfig::default()),
        when_nothing_to_generate: super::augment::NothingToGenerate::Refuse,
    })?;
    for (class, n) in &outcome.generated {
        println!("class {class}: {n} synthetic spectra");
    }
    let mut wrote = vec![cog, model, trained.run_json, outcome.synthetic, outcome.augmented];
    if let Some((quality, html)) = outcome.report {
        println!("\nmacro-F1 on the report's real test pixels (held out of the recipe fitted again), per training set:");
        for lift in &quality.lift {
            println!("  {:<14} {:<18} {:.3}", lift.classifier.name(), lift.training_set.name(), lift.scores.macro_f1);
        }
        wrote.push(html);
    }
    println!("\nwrote:");
    for path in wrote {
        println!("  {}", path.display());
    }
    Ok(())
}
