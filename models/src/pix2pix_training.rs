//! The Pix2Pix training loop: random crops of a paired scene, adversarial loss plus
//! λ·L1, Adam, validation on a held-out region, checkpoints.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use hypersynth_spectral::Window;
use ndarray::{Array2, Array3, ArrayView3, s};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::adam::Adam;
use crate::crops::Crop;
use crate::losses::{self, Loss};
pub use crate::observe::Observer;
use crate::patchgan::PatchGan;
use crate::pix2pix::{Pix2pixConfig, UNet};
use crate::training_loop::{self, Family, Schedule};
use crate::{Error, Result, checkpoint, rng};

/// A co-registered input and target held in memory for training.
#[derive(Debug, Clone)]
pub struct PairedScene {
    /// `[channels, rows, cols]`, as the U-Net reads them.
    pub input: Array3<f32>,
    /// `[out channels, rows, cols]`, in `[0, 1]`.
    pub target: Array3<f32>,
    /// `[rows, cols]`: `true` where input and target both have data; the L1 loss and the
    /// validation count these pixels only.
    pub valid: Array2<bool>,
}

/// Training settings; the defaults are those of the reference implementation where it has
/// one (Adam 2e-4, β1 0.5, λ_L1 100), and measured on `damage_salinasA` otherwise (see
/// `docs/TRAINING.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pix2pixTrainConfig {
    /// The adversarial loss: `non-saturating` (the reference's "vanilla") or `lsgan`.
    pub loss: Loss,
    /// Generator (and discriminator) updates.
    pub steps: usize,
    /// Tiles per batch.
    pub batch_size: usize,
    /// Side of the square training tiles, a multiple of `2^depth`.
    pub tile: usize,
    /// Adam's learning rate, for both networks.
    pub lr: f64,
    /// Adam's beta1.
    pub beta1: f64,
    /// Weight of the L1 distance to the target in the generator's loss.
    pub l1_weight: f64,
    /// Random flips and 90° rotations of the training tiles.
    pub augment: bool,
    /// Validate on the held-out region every this many steps, and at the end.
    pub validate_every: usize,
    /// Report losses every this many steps.
    pub log_every: usize,
    /// Write a checkpoint every this many steps (when a checkpoint path is given).
    pub checkpoint_every: usize,
    /// The seed of every random draw.
    pub seed: u64,
}

impl Default for Pix2pixTrainConfig {
    fn default() -> Self {
        Self {
            loss: Loss::NonSaturating,
            steps: 600,
            batch_size: 8,
            tile: 32,
            lr: 2e-4,
            beta1: 0.5,
            l1_weight: 100.0,
            augment: true,
            validate_every: 100,
            log_every: 10,
            checkpoint_every: 200,
            seed: 0,
        }
    }
}

/// One line of the metrics log.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pix2pixRecord {
    /// Updates done.
    pub step: usize,
    /// Discriminator loss.
    pub d_loss: f32,
    /// The generator's adversarial loss.
    pub g_adversarial: f32,
    /// Mean absolute difference between output and target over valid pixels.
    pub g_l1: f32,
    /// Mean sigmoid(D) on real pairs.
    pub d_real: f32,
    /// Mean sigmoid(D) on generated pairs.
    pub d_fake: f32,
    /// On the held-out region, when validated: intersection over union of output and
    /// target above 0.5 (first channel), and mean absolute difference.
    pub validation: Option<Validation>,
}

/// How well the generator does on the held-out region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Validation {
    /// Intersection over union of output > 0.5 and target > 0.5 (first channel).
    pub iou: f64,
    /// Mean absolute difference between output and target.
    pub l1: f64,
}

/// The outcome of training.
#[derive(Debug)]
pub struct Trained {
    /// The generator after the last step (no selection on the held-out region, so that its
    /// numbers there stay an honest estimate).
    pub generator: UNet,
    /// Its validation on the held-out region.
    pub validation: Validation,
    /// The step training resumed from (0 for a fresh start).
    pub resumed_from: usize,
}

struct State {
    generator: UNet,
    discriminator: PatchGan,
    adam_g: Adam,
    adam_d: Adam,
    step: usize,
}

/// Where in the scene training draws its tiles and where it validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Regions {
    /// Tiles are drawn inside it.
    pub train: Window,
    /// The held-out region validation scores.
    pub validation: Window,
}

/// Trains on tiles drawn from the training region of `scene`, validating on the held-out
/// one. With `checkpoint`, state is saved there periodically and a run whose checkpoint
/// matches `fingerprint` resumes from it and ends exactly as an uninterrupted run would.
pub fn train(
    model: &Pix2pixConfig,
    config: &Pix2pixTrainConfig,
    scene: &PairedScene,
    regions: Regions,
    checkpoint: Option<&Path>,
    fingerprint: &str,
    observer: &mut dyn Observer<Pix2pixRecord>,
) -> Result<Trained> {
    let Regions { train: train_region, validation: validation_region } = regions;
    check(model, config, scene, train_region, validation_region)?;
    let meta = CheckpointMeta { fingerprint, model, config, train_region, validation_region };
    let state = training_loop::resume_or_fresh(checkpoint, |p| load_checkpoint(p, &meta), || fresh(model, config))?;
    let mut run = Run { state, meta, scene, validation: Validation::default() };
    let schedule = Schedule::new(config.steps, config.seed, Some(config.validate_every), config.log_every, config.checkpoint_every);
    let resumed_from = training_loop::run(&mut run, &schedule, checkpoint, observer)?;
    if resumed_from == config.steps {
        run.validation = validate(&mut run.state.generator, model, scene, validation_region)?;
    }
    Ok(Trained { generator: run.state.generator, validation: run.validation, resumed_from })
}

/// Pix2pix's state with what its steps read; `meta` holds the settings and regions.
struct Run<'a> {
    state: State,
    meta: CheckpointMeta<'a>,
    scene: &'a PairedScene,
    /// The last validation.
    validation: Validation,
}

impl Family for Run<'_> {
    type Record = Pix2pixRecord;

    fn steps_done(&self) -> usize {
        self.state.step
    }

    fn step(&mut self, rng: &mut ChaCha8Rng) -> Result<Pix2pixRecord> {
        let record = step(&mut self.state, self.meta.model, self.meta.config, self.scene, self.meta.train_region, rng)?;
        self.state.step += 1;
        Ok(record)
    }

    fn validate(&mut self, record: &mut Pix2pixRecord) -> Result<()> {
        self.validation = validate(&mut self.state.generator, self.meta.model, self.scene, self.meta.validation_region)?;
        record.validation = Some(self.validation);
        Ok(())
    }

    fn save(&self, path: &Path) -> Result<()> {
        save_checkpoint(path, &self.state, &self.meta)
    }
}

fn check(model: &Pix2pixConfig, config: &Pix2pixTrainConfig, scene: &PairedScene, train: Window, validation: Window) -> Result<()> {
    let (channels, rows, cols) = scene.input.dim();
    if channels != model.in_channels || scene.target.dim().0 != model.out_channels {
        return Err(Error::Invalid(format!(
            "the scene has {channels} input and {} target channels, the model {} and {}",
            scene.target.dim().0,
            model.in_channels,
            model.out_channels
        )));
    }
    if scene.target.dim() != (model.out_channels, rows, cols) || scene.valid.dim() != (rows, cols) {
        return Err(Error::Invalid("input, target and valid mask differ in size".into()));
    }
    if config.tile == 0 || !config.tile.is_multiple_of(model.multiple()) {
        return Err(Error::Invalid(format!("the tile ({}) must be a positive multiple of {}", config.tile, model.multiple())));
    }
    if train.rows < config.tile || train.cols < config.tile {
        return Err(Error::Invalid(format!(
            "the training region ({} rows x {} columns) is smaller than one {}-pixel tile",
            train.rows, train.cols, config.tile
        )));
    }
    for region in [train, validation] {
        if region.row + region.rows > rows || region.col + region.cols > cols || region.rows == 0 || region.cols == 0 {
            return Err(Error::Invalid(format!("region {region:?} lies outside the {rows} x {cols} scene")));
        }
    }
    if config.batch_size < 1 {
        return Err(Error::Invalid("the batch size must be at least 1".into()));
    }
    Ok(())
}

fn fresh(model: &Pix2pixConfig, config: &Pix2pixTrainConfig) -> Result<State> {
    let mut rng = rng::stream(config.seed, training_loop::STREAM_INIT, 0);
    let generator = UNet::new(model, &mut rng)?;
    let discriminator = PatchGan::new(&model.discriminator(), &mut rng)?;
    let adam_g = Adam::new(generator.vars(), config.lr, config.beta1, 0.999)?;
    let adam_d = Adam::new(discriminator.vars(), config.lr, config.beta1, 0.999)?;
    Ok(State { generator, discriminator, adam_g, adam_d, step: 0 })
}

/// One discriminator and one generator update on a fresh batch.
fn step(
    state: &mut State,
    model: &Pix2pixConfig,
    config: &Pix2pixTrainConfig,
    scene: &PairedScene,
    region: Window,
    rng: &mut ChaCha8Rng,
) -> Result<Pix2pixRecord> {
    let (input, target, valid) = sample_batch(scene, region, config, rng)?;
    let fake = state.generator.forward(&input, model, true, rng)?;

    let pair = |output: &Tensor| Tensor::cat(&[&input, output], 1);
    let judged_real = state.discriminator.forward(&pair(&target)?)?;
    let judged_fake = state.discriminator.forward(&pair(&fake.detach())?)?;
    // Halved as in the reference, which slows D relative to G.
    let d_loss = config.loss.discriminator(&judged_real, &judged_fake, 1.0)?.affine(0.5, 0.0)?;
    state.adam_d.step(&d_loss.backward()?)?;

    let judged = state.discriminator.forward(&pair(&fake)?)?;
    let adversarial = config.loss.generator(&judged)?;
    let l1 = (fake.sub(&target)?.abs()?.broadcast_mul(&valid)?.sum_all()? / (valid.sum_all()?.to_scalar::<f32>()? as f64).max(1.0))?;
    let g_loss = (&adversarial + l1.affine(config.l1_weight, 0.0)?)?;
    state.adam_g.step(&g_loss.backward()?)?;
    Ok(Pix2pixRecord {
        step: state.step + 1,
        d_loss: d_loss.to_scalar()?,
        g_adversarial: adversarial.to_scalar()?,
        g_l1: l1.to_scalar()?,
        d_real: losses::mean_probability(&judged_real)?,
        d_fake: losses::mean_probability(&judged_fake)?,
        validation: None,
    })
}

/// `batch_size` random tiles inside `region`, each flipped and rotated at random when
/// augmenting: input `[n, c, t, t]`, target `[n, o, t, t]` and valid mask `[n, 1, t, t]`.
fn sample_batch(
    scene: &PairedScene,
    region: Window,
    config: &Pix2pixTrainConfig,
    rng: &mut ChaCha8Rng,
) -> Result<(Tensor, Tensor, Tensor)> {
    let t = config.tile;
    let valid = scene.valid.view().insert_axis(ndarray::Axis(0));
    let (mut inputs, mut targets, mut masks) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..config.batch_size {
        let crop = Crop::random(region, t, config.augment, rng);
        inputs.extend(crop.cut(scene.input.view()));
        targets.extend(crop.cut(scene.target.view()));
        masks.extend(crop.cut(valid.view()).into_iter().map(|v| f32::from(u8::from(v))));
    }
    let n = config.batch_size;
    let dev = &Device::Cpu;
    Ok((
        Tensor::from_vec(inputs, (n, scene.input.dim().0, t, t), dev)?,
        Tensor::from_vec(targets, (n, scene.target.dim().0, t, t), dev)?,
        Tensor::from_vec(masks, (n, 1, t, t), dev)?,
    ))
}

/// Runs the generator (inference mode) over `region` with up to `2^depth` pixels of
/// context around it, and compares with the target.
fn validate(generator: &mut UNet, model: &Pix2pixConfig, scene: &PairedScene, region: Window) -> Result<Validation> {
    let output = predict(generator, model, scene.input.view(), region)?;
    let (mut intersection, mut union, mut l1, mut n) = (0usize, 0usize, 0f64, 0usize);
    for r in 0..region.rows {
        for c in 0..region.cols {
            let (row, col) = (region.row + r, region.col + c);
            if !scene.valid[[row, col]] {
                continue;
            }
            let (p, t) = (output[[0, r, c]], scene.target[[0, row, col]]);
            intersection += usize::from(p > 0.5 && t > 0.5);
            union += usize::from(p > 0.5 || t > 0.5);
            l1 += f64::from((p - t).abs());
            n += 1;
        }
    }
    Ok(Validation { iou: if union == 0 { 1.0 } else { intersection as f64 / union as f64 }, l1: l1 / n.max(1) as f64 })
}

/// The generator's output `[out, rows, cols]` over `region` of `input` `[c, h, w]`: the
/// region with up to `2^depth` pixels of context, padded by edge replication to a multiple
/// of `2^depth`, in one pass.
pub fn predict(generator: &mut UNet, model: &Pix2pixConfig, input: ArrayView3<'_, f32>, region: Window) -> Result<Array3<f32>> {
    let (channels, rows, cols) = input.dim();
    let m = model.multiple();
    let (r0, c0) = (region.row.saturating_sub(m), region.col.saturating_sub(m));
    let (r1, c1) = ((region.row + region.rows + m).min(rows), (region.col + region.cols + m).min(cols));
    let (h, w) = (r1 - r0, c1 - c0);
    let (ph, pw) = (h.div_ceil(m) * m, w.div_ceil(m) * m);
    let values: Vec<f32> = input.slice(s![.., r0..r1, c0..c1]).iter().copied().collect();
    let x = Tensor::from_vec(values, (1, channels, h, w), &Device::Cpu)?.pad_with_same(2, 0, ph - h)?.pad_with_same(3, 0, pw - w)?;
    let mut unused = rng::stream(0, 0, 0);
    let y = generator.forward(&x, model, false, &mut unused)?;
    let (dr, dc) = (region.row - r0, region.col - c0);
    let y = y.squeeze(0)?.narrow(1, dr, region.rows)?.narrow(2, dc, region.cols)?;
    let out = model.out_channels;
    Array3::from_shape_vec((out, region.rows, region.cols), y.flatten_all()?.to_vec1::<f32>()?).map_err(|e| Error::Invalid(e.to_string()))
}

// --- checkpoints ---------------------------------------------------------------------

/// What must match for a checkpoint to be resumed.
#[derive(Serialize)]
struct CheckpointMeta<'a> {
    fingerprint: &'a str,
    model: &'a Pix2pixConfig,
    config: &'a Pix2pixTrainConfig,
    train_region: Window,
    validation_region: Window,
}

fn save_checkpoint(path: &Path, state: &State, meta: &CheckpointMeta<'_>) -> Result<()> {
    let mut tensors = HashMap::new();
    checkpoint::put(&mut tensors, "g", state.generator.tensors());
    checkpoint::put(&mut tensors, "d", state.discriminator.tensors());
    checkpoint::put(&mut tensors, "opt", state.adam_g.state("g")?.into_iter().chain(state.adam_d.state("d")?).collect());
    checkpoint::put_step(&mut tensors, state.step)?;
    checkpoint::save(path, meta, &tensors)
}

fn load_checkpoint(path: &Path, meta: &CheckpointMeta<'_>) -> Result<Option<State>> {
    let Some(tensors) = checkpoint::load(path, meta)? else { return Ok(None) };
    let mut state = fresh(meta.model, meta.config)?;
    state.generator.load(&checkpoint::section(&tensors, "g"))?;
    state.discriminator.load(&checkpoint::section(&tensors, "d"))?;
    let opt = checkpoint::section(&tensors, "opt");
    state.adam_g.restore("g", &opt)?;
    state.adam_d.restore("d", &opt)?;
    state.step = checkpoint::step(&tensors, path)?;
    Ok(Some(state))
}
