//! One task of a job: a stage run on a scene, writing into `OUT/<scene>/<stage>/`, and the
//! `run.json` it finishes with. A task whose `run.json` says done with the same key (the
//! hash of its stage, parameters and input files) is not run again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hypersynth_data::{Compression, CubeSource};
use hypersynth_models::spectral_cgan::SpectralCganArchitecture;
use hypersynth_models::training::TrainConfig;
use hypersynth_onnx::SessionOptions;
use hypersynth_spectral::{ClassifierKind, Layout, QualityConfig, SplitConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::file::{
    AugmentOptions, ClassifyOptions, ConvertOptions, FuseOptions, Job, POOLED, Scene, Stage, SuperResolveOptions, TrainOptions,
};
use crate::commands::augment::{Augment, Selection, Target};
use crate::commands::classify::{self, Classify};
use crate::commands::fuse::Fuse;
use crate::commands::super_resolve::SuperResolve;
use crate::commands::train_spectral::{Synthesis, TrainSpectral};
use crate::commands::{augment, convert, fuse, super_resolve, train_spectral};
use crate::labelled::LabelSource;
use crate::run_record::{FileRecord, to_hex};
use crate::tiling::TileCounts;

/// The name of a task's record in its folder.
pub const RECORD: &str = "run.json";
/// The `train` stage's model in its folder.
const TRAINED_MODEL: &str = "model.onnx";

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Its outputs are complete.
    Done,
    /// It failed; `error` says why.
    Failed,
}

/// A task's `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The scene's id.
    pub scene: String,
    /// The stage's name.
    pub stage: String,
    /// How it ended.
    pub status: Status,
    /// Why it failed.
    pub error: Option<String>,
    /// SHA-256 of the stage, its parameters and its inputs' hashes.
    pub key: String,
    /// The files it read, with sizes and hashes.
    pub inputs: Vec<FileRecord>,
    /// The stage's settings.
    pub parameters: Value,
    /// The files it wrote, with sizes and hashes.
    pub outputs: Vec<FileRecord>,
    /// Its key numbers, for the job summary. JSON has no NaN: a NaN is written as `null`
    /// and read back as NaN, so that such a record is still reused.
    #[serde(deserialize_with = "metrics_with_nulls")]
    pub metrics: BTreeMap<String, f64>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The software that ran it.
    pub hypersynth_version: String,
}

/// Reads a metrics map in which `null` stands for NaN.
fn metrics_with_nulls<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, f64>, D::Error> {
    let raw: BTreeMap<String, Option<f64>> = Deserialize::deserialize(deserializer)?;
    Ok(raw.into_iter().map(|(k, v)| (k, v.unwrap_or(f64::NAN))).collect())
}

/// A (scene, stage) pair of a job.
pub struct Task<'a> {
    /// The job.
    pub job: &'a Job,
    /// The scene.
    pub scene: &'a Scene,
    /// The stage.
    pub stage: &'a Stage,
}

/// What a task's run came to.
#[derive(Debug)]
pub struct Outcome {
    /// The record on disk.
    pub record: TaskRecord,
    /// Whether an earlier run's record was reused without running the stage.
    pub reused: bool,
}

impl Task<'_> {
    /// `OUT/<scene>/<stage>/`; a pooled `train`'s is the job's, `OUT/_pooled/train/`.
    pub fn dir(&self) -> PathBuf {
        if self.pooled() {
            self.job.output.join(POOLED).join(self.stage.name())
        } else {
            stage_dir(self.job, self.scene, self.stage.name())
        }
    }

    /// Whether this is a pooled `train`: one task over every scene of the job, which each
    /// scene's row reaches (the first runs it, the others find it done).
    fn pooled(&self) -> bool {
        matches!(self.stage, Stage::Train(o) if o.pooled)
    }

    /// The scenes whose labelled pixels the task reads: every scene of the job for a
    /// pooled `train`, else its own.
    fn labelled_scenes(&self) -> Vec<&Scene> {
        if self.pooled() { self.job.scenes.iter().collect() } else { vec![self.scene] }
    }

    /// The record of this task on disk, if any can be read.
    pub fn existing_record(&self) -> Option<TaskRecord> {
        let text = std::fs::read_to_string(self.dir().join(RECORD)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Runs the task unless `force` is false and a done record with the same key exists
    /// whose outputs are all there at their recorded sizes; writes its record last,
    /// atomically, whether it succeeded or failed. Errs only when the record cannot be
    /// written.
    pub fn run(&self, force: bool, session: &SessionOptions) -> Result<Outcome> {
        let clock = Instant::now();
        let dir = self.dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create the task's folder", dir.display()))?;
        // A pooled task is reached by every scene, perhaps by several workers or shards at
        // once: one runs it while the others wait, then find it done. The lock goes with
        // the process, so a killed holder lets the next one in.
        let _lock = if self.pooled() { Some(lock(&dir)?) } else { None };
        let (inputs, parameters) = self.inputs_and_parameters();
        let inputs = match inputs.iter().map(|p| FileRecord::of(p)).collect::<Result<Vec<_>>>() {
            Ok(inputs) => inputs,
            Err(e) => return self.finish(&dir, Vec::new(), String::new(), parameters, Err(e), clock),
        };
        let key = key(self.stage.name(), &parameters, &inputs);
        if !force
            && let Some(previous) = self.existing_record()
            && previous.status == Status::Done
            && previous.key == key
            && previous.outputs.iter().all(|o| std::fs::metadata(&o.path).is_ok_and(|m| m.is_file() && m.len() == o.bytes))
        {
            return Ok(Outcome { record: previous, reused: true });
        }
        remove_partial_files(&dir);
        let result = self.execute(&dir, session);
        self.finish(&dir, inputs, key, parameters, result, clock)
    }

    /// Writes the task's record: done with the outputs' hashes and key numbers, or failed
    /// with the error (also when an output cannot be hashed).
    fn finish(
        &self,
        dir: &Path,
        inputs: Vec<FileRecord>,
        key: String,
        parameters: Value,
        result: Result<Produced>,
        clock: Instant,
    ) -> Result<Outcome> {
        let hashed =
            result.and_then(|(files, metrics)| Ok((files.iter().map(|p| FileRecord::of(p)).collect::<Result<Vec<_>>>()?, metrics)));
        let (status, error, outputs, metrics) = match hashed {
            Ok((outputs, metrics)) => (Status::Done, None, outputs, metrics),
            Err(e) => (Status::Failed, Some(format!("{e:#}")), Vec::new(), BTreeMap::new()),
        };
        let record = TaskRecord {
            scene: if self.pooled() { POOLED.into() } else { self.scene.id.clone() },
            stage: self.stage.name().into(),
            status,
            error,
            key,
            inputs,
            parameters,
            outputs,
            metrics,
            seconds: clock.elapsed().as_secs_f64(),
            hypersynth_version: env!("CARGO_PKG_VERSION").into(),
        };
        hypersynth_data::write_atomically(&dir.join(RECORD), serde_json::to_string_pretty(&record)?.as_bytes())?;
        Ok(Outcome { record, reused: false })
    }

    /// The files the task reads (their hashes make its key) and its settings.
    fn inputs_and_parameters(&self) -> (Vec<PathBuf>, Value) {
        let scene = self.scene;
        let labelled: Vec<PathBuf> = self
            .labelled_scenes()
            .into_iter()
            .flat_map(|s| std::iter::once(s.path.clone()).chain(s.labels.clone()).chain(s.classes.clone()))
            .collect();
        let seed = self.job.seed;
        match self.stage {
            Stage::Convert(o) => (vec![scene.path.clone()], json!({"compress": o.compress})),
            Stage::Train(o) => {
                let mut parameters = json!({"generator": o.generator, "steps": o.steps(), "seed": seed});
                if o.pooled {
                    parameters["pooled"] = json!(true);
                }
                (labelled, parameters)
            }
            Stage::Augment(o) => {
                let model = self.augment_model();
                let parameters = json!({"target_per_class": o.target_per_class, "keep_all": o.keep_all, "report": o.report, "compression": o.compression, "seed": seed});
                (std::iter::once(model).chain(labelled).collect(), parameters)
            }
            Stage::Classify(o) => {
                let training = self.classify_training().files();
                (training.into_iter().chain([scene.path.clone()]).collect(), json!({"classifier": o.classifier, "seed": seed}))
            }
            Stage::SuperResolve(o) => (vec![o.model.clone(), scene.path.clone()], json!({"tile": o.tile, "overlap": o.overlap})),
            Stage::Fuse(o) => (
                [Some(o.model.clone()), Some(scene.path.clone()), scene.post.clone()].into_iter().flatten().collect(),
                json!({"tile": o.tile, "overlap": o.overlap, "samples": o.samples, "threshold": o.threshold}),
            ),
        }
    }

    /// The model `augment` runs: the one the job names, else the `train` stage's (the
    /// scene's own, or the pooled one).
    fn augment_model(&self) -> PathBuf {
        match self.stage {
            Stage::Augment(o) if o.model.is_some() => o.model.clone().unwrap_or_default(),
            _ => match self.job.stages.iter().find(|s| matches!(s, Stage::Train(_))) {
                Some(train) => Task { job: self.job, scene: self.scene, stage: train }.dir().join(TRAINED_MODEL),
                None => stage_dir(self.job, self.scene, "train").join(TRAINED_MODEL),
            },
        }
    }

    /// Runs the stage's command into `dir`; returns the files written and key numbers.
    fn execute(&self, dir: &Path, session: &SessionOptions) -> Result<Produced> {
        match self.stage {
            Stage::Convert(o) => self.convert(o, dir),
            Stage::Train(o) => self.train(o, dir),
            Stage::Augment(o) => self.augment(o, dir, session),
            Stage::Classify(o) => self.classify(o, dir),
            Stage::SuperResolve(o) => self.super_resolve(o, dir, session),
            Stage::Fuse(o) => self.fuse(o, dir, session),
        }
    }

    /// The labelled scenes the task reads (one, or all of a pooled task's).
    fn label_source(&self) -> LabelSource {
        LabelSource::Raster {
            scenes: self
                .labelled_scenes()
                .into_iter()
                .map(|s| (CubeSource::file(s.path.clone()), s.labels.clone().unwrap_or_default()))
                .collect(),
            // One table for every scene of a pooled task (checked when the job was read).
            names: self.scene.classes.clone(),
            listed_in: None,
        }
    }

    /// `convert` of the scene to `DIR/ID.tif`.
    fn convert(&self, o: &ConvertOptions, dir: &Path) -> Result<Produced> {
        let out = dir.join(format!("{}.tif", self.scene.id));
        let compression = if o.compress == "zstd" { Compression::Zstd } else { Compression::Deflate };
        convert::run(&CubeSource::file(self.scene.path.clone()), &out, compression, true)?;
        let bytes = std::fs::metadata(&out).map(|m| m.len() as f64).unwrap_or(0.0);
        let item = hypersynth_data::stac_item_path(&out);
        Ok((vec![out, item], BTreeMap::from([("cog_mib".into(), bytes / (1 << 20) as f64)])))
    }

    /// `train spectral` on the task's labelled scenes into `DIR/model.onnx`.
    fn train(&self, o: &TrainOptions, dir: &Path) -> Result<Produced> {
        let synthesis = Synthesis::named(&o.generator).context("checked when the job was read: a known generator")?;
        let trained = train_spectral::run(&TrainSpectral {
            source: self.label_source(),
            out: dir.join(TRAINED_MODEL),
            split: SplitConfig { seed: self.job.seed, ..synthesis.default_split() },
            architecture: SpectralCganArchitecture::default(),
            train: TrainConfig { steps: o.steps(), seed: self.job.seed, ..synthesis.adversarial_defaults() },
            layout: Layout::default(),
            synthesis,
        })?;
        let metrics = match trained.best {
            Some((mmd, step)) => BTreeMap::from([("validation_mmd".into(), mmd), ("best_step".into(), step as f64)]),
            None => BTreeMap::new(),
        };
        let files = std::iter::once(trained.model).chain(trained.side_files).chain([trained.run_json]).collect();
        Ok((files, metrics))
    }

    /// `augment` with the task's model into `DIR`.
    fn augment(&self, o: &AugmentOptions, dir: &Path, session: &SessionOptions) -> Result<Produced> {
        let outcome = augment::run(&Augment {
            model: self.augment_model(),
            source: self.label_source(),
            out: dir.to_path_buf(),
            run_json: dir.join("augment.run.json"),
            target: o.target_per_class.map_or(Target::Balance, Target::PerClass),
            seed: self.job.seed,
            selection: Selection::keeping_all(o.keep_all),
            batch: augment::DEFAULT_BATCH,
            hdf5: false,
            compression: o.compression,
            session: session.clone(),
            report: o.report.then(|| QualityConfig { seed: self.job.seed, ..QualityConfig::default() }),
            // A scene whose classes all have the target already is done, not failed.
            when_nothing_to_generate: augment::NothingToGenerate::WriteRealOnly,
        })?;
        let generated: usize = outcome.generated.values().sum();
        let mut metrics = BTreeMap::from([("synthetic_spectra".into(), generated as f64)]);
        let mut files = vec![outcome.synthetic, outcome.augmented, dir.join("augment.run.json")];
        if let Some((quality, html)) = outcome.report {
            // The classifier two-sample test, averaged over classes and classifiers
            // (0.5: synthetic spectra cannot be told from real ones).
            let c2st: Vec<f64> = quality.classes.iter().flat_map(|c| c.c2st.values().copied()).collect();
            if !c2st.is_empty() {
                metrics.insert("mean_c2st".into(), c2st.iter().sum::<f64>() / c2st.len() as f64);
            }
            files.push(html);
        }
        Ok((files, metrics))
    }

    /// What `classify` fits on: the `augment` stage's `augmented.parquet` when the job has
    /// one, else the scene's labelled pixels.
    fn classify_training(&self) -> LabelSource {
        match self.job.stages.iter().find(|s| matches!(s, Stage::Augment(_))) {
            Some(augment) => LabelSource::Table(Task { job: self.job, scene: self.scene, stage: augment }.dir().join(augment::AUGMENTED)),
            None => self.label_source(),
        }
    }

    /// `classify` of the scene to `DIR/ID.tif` (with its confidence, classifier file and
    /// run record beside it).
    fn classify(&self, o: &ClassifyOptions, dir: &Path) -> Result<Produced> {
        let out = dir.join(format!("{}.tif", self.scene.id));
        let kind = ClassifierKind::from_option_name(&o.classifier).context("checked when the job was read: a known classifier")?;
        let settings = Classify {
            training: classify::Training::Fit { source: self.classify_training(), kind, seed: self.job.seed, synthetic: None },
            scene: CubeSource::file(self.scene.path.clone()),
            out: out.clone(),
            check: None,
        };
        let outcome = classify::run(&settings)?;
        let files = classify::OutputFiles::beside(&out);
        let written = [
            outcome.map.clone(),
            hypersynth_data::aux_xml_path(&outcome.map),
            hypersynth_data::stac_item_path(&outcome.map),
            outcome.confidence.clone(),
            hypersynth_data::stac_item_path(&outcome.confidence),
            files.classifier,
            files.run_json,
        ];
        Ok((written.to_vec(), BTreeMap::from([("pixels_mapped".into(), outcome.mapped as f64)])))
    }

    /// `super-resolve` of the scene to `DIR/ID.tif`.
    fn super_resolve(&self, o: &SuperResolveOptions, dir: &Path, session: &SessionOptions) -> Result<Produced> {
        let out = dir.join(format!("{}.tif", self.scene.id));
        let outcome = super_resolve::run(&SuperResolve {
            model: o.model.clone(),
            input: self.scene.path.clone(),
            out: out.clone(),
            scale: None,
            tile: o.tile,
            overlap: o.overlap,
            batch: crate::tiling::default_batch(session.device),
            reference: None,
            session: session.clone(),
        })?;
        let item = hypersynth_data::stac_item_path(&outcome.output);
        Ok((vec![outcome.output, item, crate::run_record::beside(&out)], tile_metrics(&outcome.tiles, outcome.onnx_time)))
    }

    /// `fuse` of the scene and its post-event scene to `DIR/ID.tif`.
    fn fuse(&self, o: &FuseOptions, dir: &Path, session: &SessionOptions) -> Result<Produced> {
        let out = dir.join(format!("{}.tif", self.scene.id));
        let outcome = fuse::run(&Fuse {
            model: o.model.clone(),
            pre: self.scene.path.clone(),
            post: self.scene.post.clone().context("checked when the job was read: a fuse scene has a post-event scene")?,
            out: out.clone(),
            tile: o.tile,
            overlap: o.overlap,
            batch: crate::tiling::default_batch(session.device),
            samples: o.samples,
            threshold: o.threshold,
            classes: Vec::new(),
            session: session.clone(),
        })?;
        let files = std::iter::once(outcome.probability)
            .chain(outcome.mask)
            .flat_map(|cog| [hypersynth_data::stac_item_path(&cog), cog])
            .chain([crate::run_record::beside(&out)])
            .collect();
        Ok((files, tile_metrics(&outcome.tiles, outcome.onnx_time)))
    }
}

/// What a stage wrote and its key numbers.
type Produced = (Vec<PathBuf>, BTreeMap<String, f64>);

/// The key numbers of a tiled inference.
fn tile_metrics(tiles: &TileCounts, onnx_time: Duration) -> BTreeMap<String, f64> {
    BTreeMap::from([("tiles".into(), tiles.run as f64), ("onnx_seconds".into(), onnx_time.as_secs_f64())])
}

/// Removes what killed runs left half-written in `dir` (`.NAME.PID.partial`, see
/// [`hypersynth_data::AtomicPath`]); checkpoints are kept, so training resumes.
fn remove_partial_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".partial") {
            // One that cannot be removed is only clutter: the run writes new ones.
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// An exclusive lock on `dir/.lock`, held until the file is dropped.
fn lock(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("{}: cannot open the task's lock", path.display()))?;
    file.lock().with_context(|| format!("{}: cannot lock the task", path.display()))?;
    Ok(file)
}

/// `OUT/<scene>/<stage>/`.
pub fn stage_dir(job: &Job, scene: &Scene, stage: &str) -> PathBuf {
    job.output.join(&scene.id).join(stage)
}

/// SHA-256 of the stage's name, its parameters (as JSON) and its inputs' hashes, in order.
fn key(stage: &str, parameters: &Value, inputs: &[FileRecord]) -> String {
    let mut hash = Sha256::new();
    hash.update(stage.as_bytes());
    hash.update(parameters.to_string().as_bytes());
    for input in inputs {
        hash.update(input.sha256.as_bytes());
    }
    to_hex(&hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_with_nan_metrics_reads_back_with_nan() {
        let record = TaskRecord {
            scene: "s".into(),
            stage: "train".into(),
            status: Status::Done,
            error: None,
            key: "k".into(),
            inputs: Vec::new(),
            parameters: Value::Null,
            outputs: Vec::new(),
            metrics: BTreeMap::from([("validation_mmd".into(), f64::NAN), ("best_step".into(), 3.0)]),
            seconds: 1.0,
            hypersynth_version: "0".into(),
        };
        let text = serde_json::to_string(&record).unwrap();
        assert!(text.contains("\"validation_mmd\":null"), "{text}");
        let back: TaskRecord = serde_json::from_str(&text).unwrap();
        assert!(back.metrics["validation_mmd"].is_nan());
        assert_eq!(back.metrics["best_step"], 3.0);
    }
}
