//! The CycleGAN training loop: unpaired random crops of two domains, LSGAN adversarial
//! losses, cycle consistency and identity losses, pools of past generated images for the
//! discriminators, Adam with a linearly decaying learning rate, checkpoints.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use hypersynth_spectral::Window;
use ndarray::Array3;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::adam::Adam;
use crate::crops::Crop;
use crate::cyclegan::{CycleganConfig, Degradation, ResnetGenerator};
use crate::losses::Loss;
pub use crate::observe::Observer;
use crate::patchgan::PatchGan;
use crate::training_loop::{self, Family, Schedule};
use crate::{Error, Result, checkpoint, rng};

/// Training settings. The defaults are the reference implementation's for LSGAN, Adam
/// (2e-4, β1 0.5), λ_cycle 10, the pool of 50 and the learning-rate schedule (constant for
/// the first half, then linear decay to 0). The adversarial weight (0.02, not 1) and the
/// identity weight (0, not 0.5) were measured on SalinasA (see `docs/SUPER_RESOLUTION.md`):
/// in the normalised space the cycle losses are about a hundredth of the reference's, so a
/// weight of 1 lets the discriminators' texture win over fidelity, and an identity loss asks
/// the refining generator to leave sharp images as they are, which is not what a deblurring
/// generator does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CycleganTrainConfig {
    /// High-res pixels per low-res pixel along each axis: the degradation generator
    /// averages blocks of this side.
    pub scale: usize,
    /// Updates of the generators (and of the discriminators).
    pub steps: usize,
    /// Crops of each domain per batch.
    pub batch_size: usize,
    /// Side of the square crops, a multiple of `2^downsamplings`.
    pub tile: usize,
    /// Adam's initial learning rate, for all four networks.
    pub lr: f64,
    /// Adam's beta1.
    pub beta1: f64,
    /// Weight of the generators' adversarial losses.
    pub adversarial_weight: f64,
    /// Weight of the cycle-consistency L1 losses (λ_cycle).
    pub cycle_weight: f64,
    /// Weight of the identity L1 losses, as a fraction of `cycle_weight`.
    pub identity_weight: f64,
    /// Past generated images kept per domain for the discriminators (0: none).
    pub pool_size: usize,
    /// The fraction of the steps after which the learning rate decays linearly to 0.
    pub decay_from: f64,
    /// Random flips and 90° rotations of the crops.
    pub augment: bool,
    /// Report losses every this many steps.
    pub log_every: usize,
    /// Write a checkpoint every this many steps (when a checkpoint path is given).
    pub checkpoint_every: usize,
    /// The seed of every random draw.
    pub seed: u64,
    /// Where each low-res pixel is centred, in high-res pixels (rows, columns) from the
    /// centre of its block (see [`Degradation`]); not learned, and left out of records
    /// when it is `[0, 0]`.
    #[serde(default, skip_serializing_if = "is_centred")]
    pub psf_offset: [f64; 2],
}

/// Whether a PSF offset is none.
fn is_centred(offset: &[f64; 2]) -> bool {
    *offset == [0.0; 2]
}

impl Default for CycleganTrainConfig {
    fn default() -> Self {
        Self {
            scale: 2,
            steps: 300,
            batch_size: 4,
            tile: 24,
            lr: 2e-4,
            beta1: 0.5,
            adversarial_weight: 0.02,
            cycle_weight: 10.0,
            identity_weight: 0.0,
            pool_size: 50,
            decay_from: 0.5,
            augment: true,
            log_every: 10,
            checkpoint_every: 200,
            seed: 0,
            psf_offset: [0.0; 2],
        }
    }
}

impl CycleganTrainConfig {
    /// The learning rate of step `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        let start = (self.decay_from * self.steps as f64) as usize;
        if step < start { self.lr } else { self.lr * (self.steps - step) as f64 / (self.steps - start).max(1) as f64 }
    }
}

/// One line of the metrics log.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CycleganRecord {
    /// Updates done.
    pub step: usize,
    /// The learning rate of the step.
    pub lr: f64,
    /// Discriminator A's loss (low-res-like images).
    pub d_a: f32,
    /// Discriminator B's loss (high-res images).
    pub d_b: f32,
    /// The generators' adversarial losses, summed.
    pub g_adversarial: f32,
    /// Mean absolute difference of both round trips to their inputs.
    pub cycle_l1: f32,
    /// Mean absolute difference of the refining generator's output to high-res input.
    pub identity_l1: f32,
}

/// The outcome of training.
#[derive(Debug)]
pub struct Trained {
    /// Low-res → high-res, after the last step.
    pub a_to_b: ResnetGenerator,
    /// High-res → low-res: the learned degradation.
    pub b_to_a: Degradation,
    /// The step training resumed from (0 for a fresh start).
    pub resumed_from: usize,
}

/// Images of one domain, `[channels, rows, cols]` each, in the generators' normalised space.
#[derive(Debug, Clone)]
pub struct Domain {
    /// The images.
    pub images: Vec<Array3<f32>>,
}

impl Domain {
    /// `n` random crops `[n, c, t, t]`: each from an image drawn in proportion to its crop
    /// positions, so that every position of every image is equally likely.
    fn sample(&self, n: usize, config: &CycleganTrainConfig, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        let t = config.tile;
        let positions: Vec<usize> = self.images.iter().map(|i| (i.dim().1 - t + 1) * (i.dim().2 - t + 1)).collect();
        let total: usize = positions.iter().sum();
        let mut values = Vec::with_capacity(n * self.images[0].dim().0 * t * t);
        for _ in 0..n {
            let (mut pick, mut index) = (rng.random_range(0..total), 0);
            while pick >= positions[index] {
                pick -= positions[index];
                index += 1;
            }
            let image = &self.images[index];
            let region = Window::full(image.dim().1, image.dim().2);
            values.extend(Crop::random(region, t, config.augment, rng).cut(image.view()));
        }
        Ok(Tensor::from_vec(values, (n, self.images[0].dim().0, t, t), &Device::Cpu)?)
    }
}

/// The "image buffer" of the reference: the discriminators see generated images from
/// earlier steps too, which damps oscillation.
#[derive(Debug, Default)]
struct ImagePool {
    images: Vec<Tensor>,
}

impl ImagePool {
    /// For each image of `batch` (`[n, ...]`): while the pool is not full, the image (and
    /// it joins the pool); then with probability ½ a random pooled image (which the new one
    /// replaces), else the image itself.
    fn query(&mut self, batch: &Tensor, size: usize, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        if size == 0 {
            return Ok(batch.clone());
        }
        let mut out = Vec::with_capacity(batch.dim(0)?);
        for i in 0..batch.dim(0)? {
            let image = batch.narrow(0, i, 1)?.detach();
            if self.images.len() < size {
                self.images.push(image.clone());
                out.push(image);
            } else if rng.random_bool(0.5) {
                let k = rng.random_range(0..self.images.len());
                out.push(std::mem::replace(&mut self.images[k], image));
            } else {
                out.push(image);
            }
        }
        Ok(Tensor::cat(&out, 0)?)
    }
}

struct State {
    a_to_b: ResnetGenerator,
    b_to_a: Degradation,
    d_a: PatchGan,
    d_b: PatchGan,
    adam_g: Adam,
    adam_d: Adam,
    pool_a: ImagePool,
    pool_b: ImagePool,
    step: usize,
}

/// Trains on unpaired crops of domains `a` (low-res images resampled to the high-res grid)
/// and `b` (high-res images). With `checkpoint`, state is saved there periodically and a
/// run whose checkpoint matches `fingerprint` resumes from it and ends exactly as an
/// uninterrupted run would.
pub fn train(
    model: &CycleganConfig,
    config: &CycleganTrainConfig,
    a: &Domain,
    b: &Domain,
    checkpoint: Option<&Path>,
    fingerprint: &str,
    observer: &mut dyn Observer<CycleganRecord>,
) -> Result<Trained> {
    check(model, config, a, b)?;
    let meta = checkpoint::Meta { fingerprint, model, config };
    let state = training_loop::resume_or_fresh(checkpoint, |p| load_checkpoint(p, &meta), || fresh(model, config))?;
    let mut run = Run { state, meta, a, b };
    // No validation: super-resolution is judged on a reference outside training.
    let schedule = Schedule::new(config.steps, config.seed, None, config.log_every, config.checkpoint_every);
    let resumed_from = training_loop::run(&mut run, &schedule, checkpoint, observer)?;
    Ok(Trained { a_to_b: run.state.a_to_b, b_to_a: run.state.b_to_a, resumed_from })
}

/// CycleGAN's state with its two domains; `meta` holds the settings.
struct Run<'a> {
    state: State,
    meta: CheckpointMeta<'a>,
    a: &'a Domain,
    b: &'a Domain,
}

impl Family for Run<'_> {
    type Record = CycleganRecord;

    fn steps_done(&self) -> usize {
        self.state.step
    }

    fn step(&mut self, rng: &mut ChaCha8Rng) -> Result<CycleganRecord> {
        let record = step(&mut self.state, self.meta.config, self.a, self.b, rng)?;
        self.state.step += 1;
        Ok(record)
    }

    fn validate(&mut self, _: &mut CycleganRecord) -> Result<()> {
        Ok(())
    }

    fn save(&self, path: &Path) -> Result<()> {
        save_checkpoint(path, &self.state, &self.meta)
    }
}

fn check(model: &CycleganConfig, config: &CycleganTrainConfig, a: &Domain, b: &Domain) -> Result<()> {
    if config.scale < 1 || config.tile == 0 || !config.tile.is_multiple_of(model.multiple()) || !config.tile.is_multiple_of(config.scale) {
        return Err(Error::Invalid(format!(
            "the tile ({}) must be a positive multiple of both {} and the scale ({})",
            config.tile,
            model.multiple(),
            config.scale
        )));
    }
    if config.batch_size < 1 || config.steps < 1 {
        return Err(Error::Invalid("the batch size and the steps must be at least 1".into()));
    }
    for (name, domain) in [("A", a), ("B", b)] {
        if domain.images.is_empty() {
            return Err(Error::Invalid(format!("domain {name} has no images")));
        }
        for (i, image) in domain.images.iter().enumerate() {
            let (c, rows, cols) = image.dim();
            if c != model.channels {
                return Err(Error::Invalid(format!("image {} of domain {name} has {c} channels, the model {}", i + 1, model.channels)));
            }
            if rows < config.tile || cols < config.tile {
                return Err(Error::Invalid(format!(
                    "image {} of domain {name} ({rows} rows x {cols} columns) is smaller than one {}-pixel tile",
                    i + 1,
                    config.tile
                )));
            }
        }
    }
    Ok(())
}

fn fresh(model: &CycleganConfig, config: &CycleganTrainConfig) -> Result<State> {
    let mut rng = rng::stream(config.seed, training_loop::STREAM_INIT, 0);
    let a_to_b = ResnetGenerator::new(model, &mut rng)?;
    let b_to_a = Degradation::new(config.scale, config.psf_offset)?;
    let d_a = PatchGan::new(&model.discriminator(), &mut rng)?;
    let d_b = PatchGan::new(&model.discriminator(), &mut rng)?;
    let adam_g = Adam::new(a_to_b.vars().into_iter().chain(b_to_a.vars()).collect(), config.lr, config.beta1, 0.999)?;
    let adam_d = Adam::new(d_a.vars().into_iter().chain(d_b.vars()).collect(), config.lr, config.beta1, 0.999)?;
    Ok(State { a_to_b, b_to_a, d_a, d_b, adam_g, adam_d, pool_a: ImagePool::default(), pool_b: ImagePool::default(), step: 0 })
}

fn l1(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    Ok(x.sub(y)?.abs()?.mean_all()?)
}

/// One update of both generators, then of both discriminators, on fresh crops.
fn step(state: &mut State, config: &CycleganTrainConfig, a: &Domain, b: &Domain, rng: &mut ChaCha8Rng) -> Result<CycleganRecord> {
    let lr = config.lr_at(state.step);
    state.adam_g.set_lr(lr);
    state.adam_d.set_lr(lr);
    let real_a = a.sample(config.batch_size, config, rng)?;
    let real_b = b.sample(config.batch_size, config, rng)?;
    let loss = Loss::Lsgan;

    let fake_b = state.a_to_b.forward(&real_a)?;
    let fake_a = state.b_to_a.forward(&real_b)?;
    let cycle = (l1(&state.b_to_a.forward(&fake_b)?, &real_a)? + l1(&state.a_to_b.forward(&fake_a)?, &real_b)?)?;
    // Identity for the refining generator only: a blur of a low-res image is not the image.
    let identity = l1(&state.a_to_b.forward(&real_b)?, &real_b)?;
    let adversarial = (loss.generator(&state.d_b.forward(&fake_b)?)? + loss.generator(&state.d_a.forward(&fake_a)?)?)?;
    let g_loss = ((adversarial.affine(config.adversarial_weight, 0.0)? + cycle.affine(config.cycle_weight, 0.0)?)?
        + identity.affine(config.cycle_weight * config.identity_weight, 0.0)?)?;
    state.adam_g.step(&g_loss.backward()?)?;

    let pooled_a = state.pool_a.query(&fake_a, config.pool_size, rng)?;
    let pooled_b = state.pool_b.query(&fake_b, config.pool_size, rng)?;
    let d_a = loss.discriminator(&state.d_a.forward(&real_a)?, &state.d_a.forward(&pooled_a)?, 1.0)?;
    let d_b = loss.discriminator(&state.d_b.forward(&real_b)?, &state.d_b.forward(&pooled_b)?, 1.0)?;
    state.adam_d.step(&(&d_a + &d_b)?.backward()?)?;
    Ok(CycleganRecord {
        step: state.step + 1,
        lr,
        d_a: d_a.to_scalar()?,
        d_b: d_b.to_scalar()?,
        g_adversarial: adversarial.to_scalar()?,
        cycle_l1: cycle.to_scalar::<f32>()? / 2.0,
        identity_l1: identity.to_scalar()?,
    })
}

// --- checkpoints ---------------------------------------------------------------------

/// What must match for a checkpoint to be resumed.
type CheckpointMeta<'a> = checkpoint::Meta<'a, CycleganConfig, CycleganTrainConfig>;

fn save_checkpoint(path: &Path, state: &State, meta: &CheckpointMeta<'_>) -> Result<()> {
    let mut tensors = HashMap::new();
    checkpoint::put(&mut tensors, "g_ab", state.a_to_b.tensors());
    checkpoint::put(&mut tensors, "g_ba", state.b_to_a.tensors());
    checkpoint::put(&mut tensors, "d_a", state.d_a.tensors());
    checkpoint::put(&mut tensors, "d_b", state.d_b.tensors());
    checkpoint::put(&mut tensors, "opt", state.adam_g.state("g")?.into_iter().chain(state.adam_d.state("d")?).collect());
    for (name, pool) in [("pool_a", &state.pool_a), ("pool_b", &state.pool_b)] {
        if !pool.images.is_empty() {
            tensors.insert(format!("{name}.images"), Tensor::cat(&pool.images, 0)?);
        }
    }
    checkpoint::put_step(&mut tensors, state.step)?;
    checkpoint::save(path, meta, &tensors)
}

fn load_checkpoint(path: &Path, meta: &CheckpointMeta<'_>) -> Result<Option<State>> {
    let Some(tensors) = checkpoint::load(path, meta)? else { return Ok(None) };
    let mut state = fresh(meta.model, meta.config)?;
    state.a_to_b.load(&checkpoint::section(&tensors, "g_ab"))?;
    state.b_to_a.load(&checkpoint::section(&tensors, "g_ba"))?;
    state.d_a.load(&checkpoint::section(&tensors, "d_a"))?;
    state.d_b.load(&checkpoint::section(&tensors, "d_b"))?;
    let opt = checkpoint::section(&tensors, "opt");
    state.adam_g.restore("g", &opt)?;
    state.adam_d.restore("d", &opt)?;
    for (name, pool) in [("pool_a", &mut state.pool_a), ("pool_b", &mut state.pool_b)] {
        if let Some(images) = tensors.get(&format!("{name}.images")) {
            pool.images = (0..images.dim(0)?).map(|i| images.narrow(0, i, 1)).collect::<candle_core::Result<_>>()?;
        }
    }
    state.step = checkpoint::step(&tensors, path)?;
    Ok(Some(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learning_rate_holds_then_decays_linearly_to_zero() {
        let config = CycleganTrainConfig { steps: 10, lr: 1.0, decay_from: 0.5, ..CycleganTrainConfig::default() };
        let lrs: Vec<f64> = (0..10).map(|s| config.lr_at(s)).collect();
        assert_eq!(lrs, vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2]);
    }

    #[test]
    fn the_pool_fills_then_swaps_about_half_the_images() {
        let mut pool = ImagePool::default();
        let mut rng = rng::stream(1, 0, 0);
        let batch = |v: f32| Tensor::from_vec(vec![v, v + 1.0, v + 2.0, v + 3.0], (4, 1), &Device::Cpu).unwrap();
        assert_eq!(pool.query(&batch(0.0), 4, &mut rng).unwrap().to_vec2::<f32>().unwrap().concat(), vec![0.0, 1.0, 2.0, 3.0]);
        let mut from_pool = 0;
        for k in 1..50 {
            let out = pool.query(&batch(10.0 * k as f32), 4, &mut rng).unwrap().to_vec2::<f32>().unwrap().concat();
            from_pool += out.iter().filter(|&&v| v < 10.0 * k as f32).count();
        }
        assert!((70..=130).contains(&from_pool), "{from_pool} of 196 images came from the pool");
        assert_eq!(pool.images.len(), 4);
    }
}
