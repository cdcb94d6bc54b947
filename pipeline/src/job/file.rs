//! The job file (TOML): where outputs go, the scenes, and the stages run on each, read and
//! checked before any work starts. Errors name the file and the line. See `docs/JOBS.md`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use hypersynth_onnx::Device;
use hypersynth_spectral::ClassifierKind;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::commands::train_spectral::Synthesis;

/// A validated job.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job file.
    pub path: PathBuf,
    /// The output root: scene `S`'s stage `T` writes into `output/S/T/`.
    pub output: PathBuf,
    /// Seed of every stage.
    pub seed: u64,
    /// Where models run.
    pub device: Device,
    /// The scenes, in the job file's order, ids unique.
    pub scenes: Vec<Scene>,
    /// The stages run on every scene, in this order.
    pub stages: Vec<Stage>,
}

/// One scene of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scene {
    /// Names the scene's output folder: the `id` given, else the file's stem.
    pub id: String,
    /// The cube.
    pub path: PathBuf,
    /// Its class raster, for stages that need labels.
    pub labels: Option<PathBuf>,
    /// `class_id,name` CSV of the labels.
    pub classes: Option<PathBuf>,
    /// The post-event scene on the same grid, for `fuse` (the cube is the pre-event one).
    pub post: Option<PathBuf>,
}

/// A stage and its options.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// The cube as a Cloud-Optimized GeoTIFF (`convert`).
    Convert(ConvertOptions),
    /// A spectral cGAN trained on the scene's labelled pixels (`train spectral`).
    Train(TrainOptions),
    /// Synthetic spectra for the scene's scarce classes (`augment`), from the model of the
    /// `train` stage or a given one.
    Augment(AugmentOptions),
    /// The scene's class map (`classify`), by a classifier fitted on the `augment` stage's
    /// `augmented.parquet`, or on the scene's labelled pixels when the job has no
    /// `[augment]`.
    Classify(ClassifyOptions),
    /// The scene super-resolved by a cyclegan-sr model (`super-resolve`).
    SuperResolve(SuperResolveOptions),
    /// The damage map of the scene (pre-event) and its `post` scene by a pix2pix model
    /// (`fuse`).
    Fuse(FuseOptions),
}

impl Stage {
    /// The stage's name, which is also its output folder's.
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Convert(_) => "convert",
            Stage::Train(_) => "train",
            Stage::Augment(_) => "augment",
            Stage::Classify(_) => "classify",
            Stage::SuperResolve(_) => "super-resolve",
            Stage::Fuse(_) => "fuse",
        }
    }
}

/// `[convert]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvertOptions {
    /// `deflate` or `zstd`.
    #[serde(default = "deflate")]
    pub compress: String,
}

fn deflate() -> String {
    "deflate".into()
}

/// `[train]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainOptions {
    /// The generator: `exemplar` (the default), `gan` or `dagan`.
    #[serde(default = "exemplar")]
    pub generator: String,
    /// The training steps of either GAN (`None`: the generator's default,
    /// [`TrainOptions::steps`]).
    #[serde(default)]
    pub steps: Option<usize>,
    /// One model over every scene's labelled pixels (same bands, one class table), in
    /// `OUT/_pooled/train/` ([`POOLED`]), instead of one model per scene.
    #[serde(default)]
    pub pooled: bool,
}

/// The output folder of the job-level task of a pooled `[train]`; no scene may take its id.
pub const POOLED: &str = "_pooled";

fn exemplar() -> String {
    Synthesis::NAMES[0].into()
}

impl TrainOptions {
    /// The training steps: as the job file says, else the generator's default (as
    /// `train spectral`'s; 0 for a generator the job file check refuses).
    pub fn steps(&self) -> usize {
        self.steps.unwrap_or_else(|| Synthesis::named(&self.generator).map_or(0, |s| s.adversarial_defaults().steps))
    }
}

/// `[classify]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyOptions {
    /// `rbf-svm` (the default), `random-forest` or `knn`.
    #[serde(default = "rbf_svm")]
    pub classifier: String,
}

fn rbf_svm() -> String {
    ClassifierKind::RbfSvm.option_name().into()
}

/// `[augment]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentOptions {
    /// A spectral-cgan model for every scene; absent, the `train` stage's model.
    pub model: Option<PathBuf>,
    /// Bring every class below this many training spectra up to it; absent, balance the
    /// classes to the largest.
    pub target_per_class: Option<usize>,
    /// Keep every generated spectrum, not only those nearest a real spectrum of their own
    /// class.
    #[serde(default)]
    pub keep_all: bool,
    /// Write the quality report into the stage's `report/`.
    #[serde(default = "yes")]
    pub report: bool,
    /// The Parquet tables' compression (`zstd`, `lz4`, `snappy` or `none`).
    #[serde(default)]
    pub compression: hypersynth_data::TableCompression,
}

fn yes() -> bool {
    true
}

/// `[super-resolve]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuperResolveOptions {
    /// The cyclegan-sr model.
    pub model: PathBuf,
    /// Tile side on the high-res grid.
    #[serde(default = "super_resolve_tile")]
    pub tile: usize,
    /// Pixels shared by neighbouring tiles.
    #[serde(default = "super_resolve_overlap")]
    pub overlap: usize,
}

fn super_resolve_tile() -> usize {
    crate::commands::super_resolve::DEFAULT_TILE
}

fn super_resolve_overlap() -> usize {
    crate::commands::super_resolve::DEFAULT_OVERLAP
}

/// `[fuse]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FuseOptions {
    /// The pix2pix model.
    pub model: PathBuf,
    /// Tile side.
    #[serde(default = "fuse_tile")]
    pub tile: usize,
    /// Pixels shared by neighbouring tiles.
    #[serde(default = "fuse_overlap")]
    pub overlap: usize,
    /// Passes per tile with the model's dropout on (1: once, as it is).
    #[serde(default = "fuse_samples")]
    pub samples: usize,
    /// Also write a 0/1 mask of probability >= this.
    pub threshold: Option<f64>,
}

fn fuse_tile() -> usize {
    crate::commands::fuse::DEFAULT_TILE
}

fn fuse_overlap() -> usize {
    crate::commands::fuse::DEFAULT_OVERLAP
}

fn fuse_samples() -> usize {
    crate::commands::fuse::DEFAULT_SAMPLES
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    output: Spanned<PathBuf>,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    device: Option<Spanned<String>>,
    #[serde(default)]
    scene: Vec<Spanned<RawScene>>,
    convert: Option<Spanned<ConvertOptions>>,
    train: Option<Spanned<TrainOptions>>,
    augment: Option<Spanned<AugmentOptions>>,
    classify: Option<Spanned<ClassifyOptions>>,
    #[serde(rename = "super-resolve")]
    super_resolve: Option<Spanned<SuperResolveOptions>>,
    fuse: Option<Spanned<FuseOptions>>,
}

/// A `[[scene]]` table: one file (`path`) or every file a pattern matches (`glob`).
/// `labels`, `classes` and `post` may hold `{stem}` and `{name}`, replaced by the scene
/// file's stem and name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScene {
    path: Option<String>,
    glob: Option<String>,
    id: Option<String>,
    labels: Option<String>,
    classes: Option<String>,
    post: Option<String>,
}

impl Job {
    /// Reads and checks the job file at `path`: its syntax and keys, that the scenes exist
    /// (patterns matching at least one file) with unique ids, that at least one stage is
    /// given, and that model files and label files exist. Relative paths are relative to
    /// the job file's folder.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read the job file", path.display()))?;
        let raw: RawJob = toml::from_str(&text).map_err(|e| anyhow!("{}: {}", path.display(), one_line(&e.to_string())))?;
        // Paths in the job resolve against its folder, made absolute so that records and
        // summaries do not depend on where the job was started.
        let absolute = std::fs::canonicalize(path).with_context(|| format!("{}: cannot resolve the job file's folder", path.display()))?;
        let file = JobText { path, text: &text, base: absolute.parent().unwrap_or(Path::new("/")) };

        let device = match &raw.device {
            Some(d) => d.get_ref().parse().map_err(|e| anyhow!("{}: {e}", file.at(d.span())))?,
            None => Device::Cpu,
        };
        let scenes = file.scenes(&raw.scene)?;
        let stages = file.stages(&raw, &scenes)?;
        if stages.iter().any(|s| matches!(s, Stage::Train(_) | Stage::Augment(_) | Stage::Classify(_)))
            && let Some(scene) = scenes.iter().find(|s| s.labels.is_none())
        {
            bail!("{}: scene {:?} has no labels, which [train], [augment] and [classify] need", path.display(), scene.id);
        }
        for scene in &scenes {
            for file in scene.labels.iter().chain(&scene.classes).chain(&scene.post) {
                existing(file).with_context(|| format!("{}: scene {:?}", path.display(), scene.id))?;
            }
        }
        Ok(Self { path: path.to_path_buf(), output: file.resolve(raw.output.get_ref()), seed: raw.seed, device, scenes, stages })
    }
}

/// The job file being read: where its errors point and its relative paths resolve.
struct JobText<'a> {
    path: &'a Path,
    text: &'a str,
    /// The job file's folder, absolute.
    base: &'a Path,
}

impl JobText<'_> {
    /// `FILE line N` for the value at `span`.
    fn at(&self, span: Range<usize>) -> String {
        format!("{} line {}", self.path.display(), line_of(self.text, span.start))
    }

    /// `p` against the job file's folder.
    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() { p.to_path_buf() } else { self.base.join(p) }
    }

    /// The model file a stage at `span` names, which must exist.
    fn model(&self, model: &Path, span: Range<usize>) -> Result<PathBuf> {
        existing(&self.resolve(model)).map_err(|e| anyhow!("{}: {e}", self.at(span)))
    }

    /// Every `[[scene]]` table's scenes, ids unique; at least one.
    fn scenes(&self, tables: &[Spanned<RawScene>]) -> Result<Vec<Scene>> {
        let mut scenes: Vec<Scene> = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for entry in tables {
            let line = line_of(self.text, entry.span().start);
            for scene in expand(entry.get_ref(), self.base).map_err(|e| anyhow!("{}: {e}", self.at(entry.span())))? {
                if let Some(first) = seen.insert(scene.id.clone(), line) {
                    bail!("{}: scene id {:?} is already used on line {first}; give one of them an `id`", self.at(entry.span()), scene.id);
                }
                scenes.push(scene);
            }
        }
        if scenes.is_empty() {
            bail!("{}: no [[scene]] given", self.path.display());
        }
        Ok(scenes)
    }

    /// The stages the job gives, each checked; at least one.
    fn stages(&self, raw: &RawJob, scenes: &[Scene]) -> Result<Vec<Stage>> {
        let mut stages = Vec::new();
        if let Some(c) = &raw.convert {
            if !["deflate", "zstd"].contains(&c.get_ref().compress.as_str()) {
                bail!("{}: [convert] compress must be deflate or zstd, not {:?}", self.at(c.span()), c.get_ref().compress);
            }
            stages.push(Stage::Convert(c.get_ref().clone()));
        }
        if let Some(t) = &raw.train {
            stages.push(Stage::Train(self.train(t, scenes)?));
        }
        if let Some(a) = &raw.augment {
            stages.push(Stage::Augment(self.augment(a, raw.train.is_some())?));
        }
        if let Some(c) = &raw.classify {
            let options = c.get_ref();
            if ClassifierKind::from_option_name(&options.classifier).is_none() {
                let names: Vec<&str> = ClassifierKind::ALL.map(ClassifierKind::option_name).to_vec();
                bail!("{}: [classify] classifier must be one of {}, not {:?}", self.at(c.span()), names.join(", "), options.classifier);
            }
            stages.push(Stage::Classify(options.clone()));
        }
        if let Some(s) = &raw.super_resolve {
            let mut options = s.get_ref().clone();
            check_tiles("[super-resolve]", options.tile, options.overlap).map_err(|e| anyhow!("{}: {e}", self.at(s.span())))?;
            options.model = self.model(&options.model, s.span())?;
            stages.push(Stage::SuperResolve(options));
        }
        if let Some(f) = &raw.fuse {
            stages.push(Stage::Fuse(self.fuse(f, scenes)?));
        }
        if stages.is_empty() {
            bail!("{}: no stage given; add [convert], [train], [augment], [classify], [super-resolve] or [fuse]", self.path.display());
        }
        Ok(stages)
    }

    /// `[train]`: at least one step, a known generator; pooled only over scenes that share
    /// their class table and none of which is named as the pooled folder.
    fn train(&self, t: &Spanned<TrainOptions>, scenes: &[Scene]) -> Result<TrainOptions> {
        let options = t.get_ref();
        if options.steps == Some(0) {
            bail!("{}: [train] steps must be at least 1", self.at(t.span()));
        }
        if Synthesis::named(&options.generator).is_none() {
            bail!("{}: [train] generator must be one of {}, not {:?}", self.at(t.span()), Synthesis::NAMES.join(", "), options.generator);
        }
        if options.pooled {
            if let Some(scene) = scenes.iter().find(|s| s.id == POOLED) {
                bail!(
                    "{}: a pooled [train] writes into {POOLED}/, which is scene {:?}'s id; give it another `id`",
                    self.at(t.span()),
                    scene.id
                );
            }
            if scenes.iter().any(|s| s.classes != scenes[0].classes) {
                bail!("{}: a pooled [train] needs every scene to name the same `classes` table (or none)", self.at(t.span()));
            }
        }
        Ok(options.clone())
    }

    /// `[augment]`: a wanted count of at least 1, and a model that exists or a `[train]`
    /// stage to make one.
    fn augment(&self, a: &Spanned<AugmentOptions>, has_train: bool) -> Result<AugmentOptions> {
        let mut options = a.get_ref().clone();
        if options.target_per_class == Some(0) {
            bail!("{}: [augment] target_per_class must be at least 1", self.at(a.span()));
        }
        match &options.model {
            Some(model) => options.model = Some(self.model(model, a.span())?),
            None if !has_train => bail!("{}: [augment] needs a model, or a [train] stage to make one", self.at(a.span())),
            None => {}
        }
        Ok(options)
    }

    /// `[fuse]`: tiles, threshold and samples in range, a model that exists, and a
    /// post-event scene for every scene.
    fn fuse(&self, f: &Spanned<FuseOptions>, scenes: &[Scene]) -> Result<FuseOptions> {
        let mut options = f.get_ref().clone();
        check_tiles("[fuse]", options.tile, options.overlap).map_err(|e| anyhow!("{}: {e}", self.at(f.span())))?;
        if let Some(t) = options.threshold.filter(|t| !(0.0..=1.0).contains(t)) {
            bail!("{}: [fuse] threshold must lie between 0 and 1, not {t}", self.at(f.span()));
        }
        if options.samples == 0 {
            bail!("{}: [fuse] samples must be at least 1", self.at(f.span()));
        }
        options.model = self.model(&options.model, f.span())?;
        if let Some(scene) = scenes.iter().find(|s| s.post.is_none()) {
            bail!("{}: [fuse] needs a post-event scene, but scene {:?} has no `post`", self.at(f.span()), scene.id);
        }
        Ok(options)
    }
}

/// The scenes of one `[[scene]]` table.
fn expand(raw: &RawScene, base: &Path) -> Result<Vec<Scene>> {
    let paths: Vec<PathBuf> = match (&raw.path, &raw.glob) {
        (Some(path), None) => vec![existing(&base.join(path))?],
        (None, Some(pattern)) => {
            let full = base.join(pattern);
            let mut found: Vec<PathBuf> = glob::glob(&full.to_string_lossy())
                .map_err(|e| anyhow!("glob {pattern:?}: {e}"))?
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow!("glob {pattern:?}: {e}"))?;
            found.sort();
            if found.is_empty() {
                bail!("glob {pattern:?} matches no file");
            }
            found
        }
        _ => bail!("a [[scene]] needs either `path` or `glob`"),
    };
    if raw.id.is_some() && paths.len() > 1 {
        bail!("`id` names one scene, but the glob matches {} files", paths.len());
    }
    paths
        .into_iter()
        .map(|path| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let fill =
                |template: &Option<String>| template.as_ref().map(|t| base.join(t.replace("{stem}", &stem).replace("{name}", &name)));
            let id = raw.id.clone().unwrap_or_else(|| stem.clone());
            if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
                bail!("scene id {id:?} cannot name a folder");
            }
            Ok(Scene { id, labels: fill(&raw.labels), classes: fill(&raw.classes), post: fill(&raw.post), path })
        })
        .collect()
}

/// A stage's tiles: a side of at least 1 pixel, an overlap below half of it.
fn check_tiles(stage: &str, tile: usize, overlap: usize) -> Result<()> {
    if tile == 0 || 2 * overlap >= tile {
        bail!("{stage} overlap ({overlap}) must be less than half of tile ({tile}), and tile at least 1");
    }
    Ok(())
}

/// `path` if it is a file (or a path of GDAL's virtual file systems, which GDAL checks when
/// it opens it), else an error naming it.
fn existing(path: &Path) -> Result<PathBuf> {
    if hypersynth_data::is_virtual(path) || path.is_file() { Ok(path.to_path_buf()) } else { bail!("{}: file not found", path.display()) }
}

/// The 1-based line holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// TOML's multi-line parse messages on one line.
fn one_line(message: &str) -> String {
    message.split('\n').map(str::trim).filter(|l| !l.is_empty() && *l != "|").collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(text: &str) -> Result<Job> {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.tif", "b.tif", "a_gt.tif", "b_gt.tif", "m.onnx"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let path = dir.path().join("job.toml");
        std::fs::write(&path, text).unwrap();
        Job::load(&path).map(|mut j| {
            j.output = j.output.strip_prefix(dir.path().canonicalize().unwrap()).unwrap().to_path_buf();
            j
        })
    }

    #[test]
    fn scenes_from_paths_and_globs_with_label_templates() {
        let j = job("output = \"out\"\n[[scene]]\nglob = \"?.tif\"\nlabels = \"{stem}_gt.tif\"\n[train]\nsteps = 5\n[augment]\n").unwrap();
        let ids: Vec<&str> = j.scenes.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(j.scenes[1].labels.as_ref().unwrap().ends_with("b_gt.tif"));
        assert_eq!(j.output, Path::new("out"));
        assert_eq!(j.stages.iter().map(Stage::name).collect::<Vec<_>>(), ["train", "augment"]);
        assert!(matches!(&j.stages[1], Stage::Augment(o) if !o.keep_all), "augment selects by default");
        let j = job("output = \"out\"\n[[scene]]\npath = \"a.tif\"\nlabels = \"a_gt.tif\"\n[train]\n[augment]\nkeep_all = true\n").unwrap();
        assert!(matches!(&j.stages[1], Stage::Augment(o) if o.keep_all));
    }

    #[test]
    fn the_augment_stage_takes_a_table_compression_by_name() {
        let scene = "output = \"out\"\n[[scene]]\npath = \"a.tif\"\nlabels = \"a_gt.tif\"\n[augment]\nmodel = \"m.onnx\"\n";
        let j = job(scene).unwrap();
        assert!(matches!(&j.stages[0], Stage::Augment(o) if o.compression == hypersynth_data::TableCompression::default()));
        let j = job(&format!("{scene}compression = \"snappy\"\n")).unwrap();
        assert!(matches!(&j.stages[0], Stage::Augment(o) if o.compression == hypersynth_data::TableCompression::Snappy));
        let e = format!("{:#}", job(&format!("{scene}compression = \"gzip\"\n")).unwrap_err());
        assert!(e.contains("line 7") && e.contains("\"gzip\" is not a table compression"), "{e}");
    }

    #[test]
    fn a_pooled_train_needs_one_class_table_and_its_folder_free() {
        let scenes =
            "output = \"out\"\n[[scene]]\npath = \"a.tif\"\nlabels = \"a_gt.tif\"\n[[scene]]\npath = \"b.tif\"\nlabels = \"b_gt.tif\"\n";
        let j = job(&format!("{scenes}[train]\npooled = true\n")).unwrap();
        assert!(matches!(&j.stages[0], Stage::Train(o) if o.pooled));
        let e = format!("{:#}", job(&format!("{scenes}classes = \"m.onnx\"\n[train]\npooled = true\n")).unwrap_err());
        assert!(e.contains("the same `classes` table"), "{e}");
        let named = scenes.replace("path = \"b.tif\"", "path = \"b.tif\"\nid = \"_pooled\"");
        let e = format!("{:#}", job(&format!("{named}[train]\npooled = true\n")).unwrap_err());
        assert!(e.contains("which is scene \"_pooled\"'s id"), "{e}");
        assert!(job(&format!("{named}[train]\n")).is_ok(), "a scene may be called so when nothing is pooled");
    }

    #[test]
    fn the_train_stage_names_a_generator_as_the_command_line_does() {
        let scene = "output = \"out\"\n[[scene]]\npath = \"a.tif\"\nlabels = \"a_gt.tif\"\n";
        let j = job(&format!("{scene}[train]\n")).unwrap();
        assert!(matches!(&j.stages[0], Stage::Train(o) if Synthesis::named(&o.generator) == Some(Synthesis::default())));
        let j = job(&format!("{scene}[train]\ngenerator = \"gan\"\n")).unwrap();
        assert!(matches!(&j.stages[0], Stage::Train(o) if Synthesis::named(&o.generator) == Some(Synthesis::Gan)));
        // Each GAN trains for its own default steps unless the job file says.
        let dagan = Synthesis::named("dagan").unwrap();
        let j = job(&format!("{scene}[train]\ngenerator = \"dagan\"\n")).unwrap();
        assert!(matches!(&j.stages[0], Stage::Train(o) if o.steps() == dagan.adversarial_defaults().steps));
        let j = job(&format!("{scene}[train]\ngenerator = \"gan\"\nsteps = 7\n")).unwrap();
        assert!(matches!(&j.stages[0], Stage::Train(o) if o.steps() == 7));
        let err = job(&format!("{scene}[train]\ngenerator = \"vae\"\n")).unwrap_err().to_string();
        assert!(err.contains("line 5") && err.contains("generator must be one of exemplar, gan, dagan, not \"vae\""), "{err}");
    }

    #[test]
    fn mistakes_name_the_line() {
        let err = |text: &str| format!("{:#}", job(text).unwrap_err());
        let e = err("output = \"out\"\n[[scene]]\npath = \"a.tif\"\n[convert]\ncompres = \"zstd\"\n");
        assert!(e.contains("line 5") && e.contains("compres"), "{e}");
        let e = err("output = \"out\"\n[[scene]]\npath = \"a.tif\"\n[[scene]]\npath = \"missing.tif\"\n[convert]\n");
        assert!(e.contains("line 4") && e.contains("missing.tif: file not found"), "{e}");
        let e = err("output = \"out\"\n[[scene]]\npath = \"a.tif\"\n[[scene]]\nglob = \"a.*\"\n[convert]\n");
        assert!(e.contains("line 4") && e.contains("already used on line 2"), "{e}");
        let e = err("output = \"out\"\n[[scene]]\npath = \"a.tif\"\n[augment]\n");
        assert!(e.contains("line 4") && e.contains("needs a model"), "{e}");
        let e = err("output = \"out\"\n[[scene]]\npath = \"a.tif\"\n[train]\n");
        assert!(e.contains("has no labels"), "{e}");
        let e = err("output = \"out\"\ndevice = \"gpu\"\n[[scene]]\npath = \"a.tif\"\n[convert]\n");
        assert!(e.contains("line 2"), "{e}");
        let e = err("output = \"out\"\n[[scene]]\npath = \"a.tif\"\n");
        assert!(e.contains("no stage given"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn any_job_text_is_read_or_refused_without_panicking(text in "[ -~\n]{0,300}") {
            let _ = job(&text);
            let _ = job(&format!("output = \"out\"\n[[scene]]\npath = \"a.tif\"\n{text}"));
        }

        #[test]
        fn fuse_options_are_refused_exactly_when_they_cannot_tile_or_sample(
            tile in 0usize..80, overlap in 0usize..80, samples in 0usize..3, threshold in -1.0..2.0f64,
        ) {
            let text = format!(
                "output = \"out\"\n[[scene]]\npath = \"a.tif\"\npost = \"b.tif\"\n[fuse]\nmodel = \"m.onnx\"\ntile = {tile}\noverlap = {overlap}\nsamples = {samples}\nthreshold = {threshold:?}\n"
            );
            let valid = tile >= 1 && 2 * overlap < tile && samples >= 1 && (0.0..=1.0).contains(&threshold);
            let read = job(&text);
            proptest::prop_assert_eq!(read.is_ok(), valid, "{:?}", read.err().map(|e| format!("{e:#}")));
        }
    }
}
