//! The adversarial training of the exemplar GAN ([`crate::dagan`]): the discriminator
//! learns to tell (exemplar, real class-mate) from (exemplar, generated), the generator to
//! make class-mates it cannot tell apart. Batches draw classes by a power of their pixel
//! count ([`DaganTrainConfig::class_balance`]), so that every class is learned from and the
//! large classes, which measure the variation, still carry most of it.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use ndarray::Array2;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::adam::Adam;
use crate::checkpoint;
use crate::dagan::{DaganConfig, Discriminator, Generator};
use crate::losses::{self, Loss, WEIGHT_CLIP};
use crate::observe::Observer;
use crate::spectral_cgan::class_tensor;
use crate::training::{StepRecord, TrainConfig};
use crate::training_loop::{self, Family, Schedule};
use crate::{Error, Result, rng};

/// What the exemplar GAN trains with beyond the adversarial settings it shares with the
/// conditional GAN ([`TrainConfig`]: loss, steps, learning rates, batch, EMA, seed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaganTrainConfig {
    /// The adversarial settings.
    #[serde(flatten)]
    pub adversarial: TrainConfig,
    /// A class is drawn for a pair with probability proportional to its pixel count raised
    /// to this power (0: every class alike, 1: by pixel count).
    pub class_balance: f64,
}

impl Default for DaganTrainConfig {
    fn default() -> Self {
        // 4000 steps: 2000 gained SalinasA at 10 pixels +1.2 points, 4000 +2.2, with
        // EnMAP at 3 % unchanged (docs/TRAINING.md).
        Self { adversarial: TrainConfig { steps: 4000, ..TrainConfig::default() }, class_balance: 0.5 }
    }
}

/// Standardised-log spectra ([`hypersynth_spectral::LogScale`]) with their classes, each
/// one's class-mates that a real pair may join it with, and the axes the networks see them
/// along.
#[derive(Debug, Clone)]
pub struct PairData {
    /// `[components, bands]`: the leading principal axes of the within-class variation
    /// ([`hypersynth_spectral::within_class_axes`]).
    pub axes: Array2<f32>,
    /// `[n, bands]`.
    pub spectra: Array2<f32>,
    /// Class index per row (`0..classes`).
    pub classes: Vec<u32>,
    /// Per row, the rows of its class it is paired with ([`hypersynth_spectral::class_mates`]).
    pub mates: Vec<Vec<usize>>,
}

/// The trained generator (its moving average when on) and where training started.
#[derive(Debug)]
pub struct DaganTrained {
    /// The generator to export.
    pub generator: Generator,
    /// The step training resumed from (0 for a fresh start).
    pub resumed_from: usize,
}

/// Everything a training run changes; what a checkpoint holds.
struct State {
    generator: Generator,
    discriminator: Discriminator,
    ema: Option<Generator>,
    adam_g: Adam,
    adam_d: Adam,
    step: usize,
}

/// Trains the exemplar GAN on `data`. With `checkpoint`, state is saved there
/// periodically, and a run whose checkpoint matches `fingerprint` (data and settings)
/// resumes from it and ends as an uninterrupted run would.
pub fn train(
    model: &DaganConfig,
    config: &DaganTrainConfig,
    data: &PairData,
    checkpoint: Option<&Path>,
    fingerprint: &str,
    observer: &mut dyn Observer<StepRecord>,
) -> Result<DaganTrained> {
    let sampler = PairSampler::new(model, config, data)?;
    let meta = checkpoint::Meta { fingerprint, model, config };
    let axes = Tensor::from_vec(data.axes.iter().copied().collect(), data.axes.dim(), &Device::Cpu)?;
    let state =
        training_loop::resume_or_fresh(checkpoint, |p| load_checkpoint(p, &meta, &axes), || fresh(model, &config.adversarial, &axes))?;
    let mut run = Run { state, model, config: &config.adversarial, sampler, meta };
    let a = &config.adversarial;
    let schedule = Schedule::new(a.steps, a.seed, None, a.log_every, a.checkpoint_every);
    let resumed_from = training_loop::run(&mut run, &schedule, checkpoint, observer)?;
    let State { generator, ema, .. } = run.state;
    let mut generator = ema.unwrap_or(generator);
    if model.architecture.calibrate_moves {
        generator.move_scale = calibrate_moves(&generator, model, &run.sampler, a.seed)?;
    }
    Ok(DaganTrained { generator, resumed_from })
}

/// Moves drawn per class to measure their size.
const CALIBRATION_DRAWS: usize = 512;

/// Per class index (`[classes, 1]`), the [`Generator::move_scale`] that makes the mean
/// squared size of `generator`'s moves (along its axes) that of the class's real pairs: each
/// of its rows with every class-mate it is paired with (the current scale times the factor
/// measured, so calibrating again changes little). A class of ten pixels gets the shape of its
/// variation from the shared generator and its size from its own pairs, the one thing they
/// measure well enough and what the shared generator learns worst for it (on the earthlib
/// library 0.4 to 6 times the pairs' size for the classes of ten, docs/TRAINING.md). A
/// class without pairs keeps its factor.
fn calibrate_moves(generator: &Generator, model: &DaganConfig, sampler: &PairSampler<'_>, seed: u64) -> Result<Tensor> {
    let data = sampler.data;
    let axes_t = generator.axes.t()?;
    let mean_square_along =
        |t: &Tensor| -> Result<f64> { Ok(t.matmul(&axes_t)?.sqr()?.sum_all()?.to_scalar::<f32>()? as f64 / t.dim(0)?.max(1) as f64) };
    let current: Vec<f32> = generator.move_scale.flatten_all()?.to_vec1()?;
    let mut rng = rng::stream(seed, training_loop::STREAM_AFTER, 0);
    let mut scales = current.clone();
    for (class, rows) in sampler.rows_of.iter().enumerate().filter(|(_, rows)| !rows.is_empty()) {
        let (exemplars, mates): (Vec<usize>, Vec<usize>) = rows.iter().flat_map(|&r| data.mates[r].iter().map(move |&m| (r, m))).unzip();
        let real = mean_square_along(&(sampler.gather(&mates)? - sampler.gather(&exemplars)?)?)?;
        let drawn: Vec<usize> = (0..CALIBRATION_DRAWS).map(|i| rows[i % rows.len()]).collect();
        let exemplar = sampler.gather(&drawn)?;
        let z = rng::normal(&mut rng, drawn.len(), model.architecture.latent)?;
        let moved = generator.forward(&exemplar, &z, &class_tensor(&vec![class as u32; drawn.len()])?)?;
        let generated = mean_square_along(&(moved - &exemplar)?)?;
        if generated > 0.0 {
            scales[class] = current[class] * (real / generated).sqrt() as f32;
        }
    }
    Ok(Tensor::from_vec(scales, (current.len(), 1), &Device::Cpu)?)
}

/// Draws the batches: exemplars by class (by [`DaganTrainConfig::class_balance`]), and for
/// real pairs one of each exemplar's class-mates.
struct PairSampler<'a> {
    data: &'a PairData,
    /// Per class index, its rows that have class-mates.
    rows_of: Vec<Vec<usize>>,
    /// The cumulative probability of each class.
    cumulative: Vec<f64>,
    /// The last class with rows (drawn where rounding leaves the cumulative sum below 1).
    last: usize,
}

impl<'a> PairSampler<'a> {
    fn new(model: &DaganConfig, config: &DaganTrainConfig, data: &'a PairData) -> Result<Self> {
        let a = &config.adversarial;
        if data.spectra.ncols() != model.bands || data.classes.len() != data.spectra.nrows() || data.mates.len() != data.classes.len() {
            return Err(Error::Invalid(format!(
                "{} pair spectra of {} bands, {} classes, {} mate lists for a model of {} bands",
                data.spectra.nrows(),
                data.spectra.ncols(),
                data.classes.len(),
                data.mates.len(),
                model.bands
            )));
        }
        if a.batch_size < 2 || a.steps == 0 || a.d_steps == 0 || !(0.0..=1.0).contains(&config.class_balance) {
            return Err(Error::Invalid("batch size must be at least 2, steps and d-steps at least 1, the class balance in [0, 1]".into()));
        }
        if a.loss.needs_autoencoder() || a.loss.needs_second_derivatives() {
            return Err(Error::Invalid(format!(
                "the exemplar GAN trains with minimax, non-saturating, lsgan, hinge or wgan-clip, not {:?}",
                a.loss
            )));
        }
        if !data.spectra.iter().all(|v| v.is_finite()) {
            return Err(Error::Invalid("training spectra contain NaN or infinite values".into()));
        }
        let mut rows_of = vec![Vec::new(); model.classes];
        for (row, &c) in data.classes.iter().enumerate() {
            if !data.mates[row].is_empty() {
                rows_of
                    .get_mut(c as usize)
                    .ok_or_else(|| Error::Invalid(format!("class index {c} of {} classes", model.classes)))?
                    .push(row);
            }
        }
        let weights: Vec<f64> =
            rows_of.iter().map(|r| if r.is_empty() { 0.0 } else { (r.len() as f64).powf(config.class_balance) }).collect();
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            return Err(Error::Invalid("no class has two training spectra to pair".into()));
        }
        let cumulative = weights.iter().scan(0.0, |sum, w| Some(*sum + w / total).inspect(|s| *sum = *s)).collect();
        let last = weights.iter().rposition(|&w| w > 0.0).unwrap_or(0);
        Ok(Self { data, rows_of, cumulative, last })
    }

    /// `n` exemplars (`[n, bands]`) with their classes.
    fn exemplars(&self, n: usize, rng: &mut ChaCha8Rng) -> Result<(Vec<usize>, Tensor, Vec<u32>)> {
        let rows: Vec<usize> = (0..n)
            .map(|_| {
                let u: f64 = rng.random();
                let class = self.cumulative.iter().position(|&p| u < p).unwrap_or(self.last);
                let members = &self.rows_of[class];
                members[rng.random_range(0..members.len())]
            })
            .collect();
        let classes = rows.iter().map(|&r| self.data.classes[r]).collect();
        Ok((rows.clone(), self.gather(&rows)?, classes))
    }

    /// A class-mate of each of `rows`.
    fn mates(&self, rows: &[usize], rng: &mut ChaCha8Rng) -> Result<Tensor> {
        let mates: Vec<usize> = rows.iter().map(|&r| self.data.mates[r][rng.random_range(0..self.data.mates[r].len())]).collect();
        self.gather(&mates)
    }

    fn gather(&self, rows: &[usize]) -> Result<Tensor> {
        let bands = self.data.spectra.ncols();
        let values: Vec<f32> = rows.iter().flat_map(|&r| self.data.spectra.row(r).to_vec()).collect();
        Ok(Tensor::from_vec(values, (rows.len(), bands), &Device::Cpu)?)
    }
}

struct Run<'a> {
    state: State,
    model: &'a DaganConfig,
    config: &'a TrainConfig,
    sampler: PairSampler<'a>,
    meta: checkpoint::Meta<'a, DaganConfig, DaganTrainConfig>,
}

impl Family for Run<'_> {
    type Record = StepRecord;

    fn steps_done(&self) -> usize {
        self.state.step
    }

    fn step(&mut self, rng: &mut ChaCha8Rng) -> Result<StepRecord> {
        let record = step(&mut self.state, self.model, self.config, &self.sampler, rng)?;
        self.state.step += 1;
        if let (Some(decay), Some(ema)) = (self.config.ema, self.state.ema.as_ref()) {
            ema.ema_update(&self.state.generator, decay)?;
        }
        Ok(record)
    }

    /// Nothing is chosen on held-out pixels: the exemplar GAN takes every given pixel, and
    /// the generator of the last step (its moving average) is the one exported.
    fn validate(&mut self, _: &mut StepRecord) -> Result<()> {
        Ok(())
    }

    fn save(&self, path: &Path) -> Result<()> {
        save_checkpoint(path, &self.state, &self.meta)
    }
}

fn fresh(model: &DaganConfig, config: &TrainConfig, axes: &Tensor) -> Result<State> {
    let mut init = rng::stream(config.seed, training_loop::STREAM_INIT, 0);
    let generator = Generator::new(model, axes, &mut init)?;
    let discriminator = Discriminator::new(model, axes, &mut init)?;
    let ema = config.ema.map(|_| generator.duplicate(model)).transpose()?;
    let adam_g = Adam::new(generator.vars(), config.lr_generator, config.beta1, config.beta2)?;
    let adam_d = Adam::new(discriminator.vars(), config.lr_discriminator, config.beta1, config.beta2)?;
    Ok(State { generator, discriminator, ema, adam_g, adam_d, step: 0 })
}

/// One generator update preceded by `d_steps` discriminator updates.
fn step(
    state: &mut State,
    model: &DaganConfig,
    config: &TrainConfig,
    sampler: &PairSampler<'_>,
    rng: &mut ChaCha8Rng,
) -> Result<StepRecord> {
    let n = config.batch_size;
    let mut record = StepRecord { step: state.step + 1, ..StepRecord::default() };
    for _ in 0..config.d_steps {
        let (rows, exemplar, classes) = sampler.exemplars(n, rng)?;
        let mate = sampler.mates(&rows, rng)?;
        let (_, fake_exemplar, fake_classes) = sampler.exemplars(n, rng)?;
        let z = rng::normal(rng, n, model.architecture.latent)?;
        let (classes, fake_classes) = (class_tensor(&classes)?, class_tensor(&fake_classes)?);
        let fake = state.generator.forward(&fake_exemplar, &z, &fake_classes)?.detach();
        state.discriminator.iterate_spectral_norms()?;
        let real_logits = state.discriminator.forward(&exemplar, &mate, &classes, Some(rng))?;
        let fake_logits = state.discriminator.forward(&fake_exemplar, &fake, &fake_classes, Some(rng))?;
        let loss = config.loss.discriminator(&real_logits, &fake_logits, 1.0 - config.label_smoothing)?;
        state.adam_d.step(&loss.backward()?)?;
        if config.loss == Loss::WganClip {
            for var in state.discriminator.vars() {
                var.set(&var.clamp(-WEIGHT_CLIP, WEIGHT_CLIP)?)?;
            }
        }
        record.d_loss = loss.to_scalar::<f32>()?;
        record.d_real = losses::mean_probability(&real_logits)?;
        record.d_fake = losses::mean_probability(&fake_logits)?;
    }
    let (_, exemplar, classes) = sampler.exemplars(n, rng)?;
    let classes = class_tensor(&classes)?;
    let z = rng::normal(rng, n, model.architecture.latent)?;
    let fake = state.generator.forward(&exemplar, &z, &classes)?;
    let logits = state.discriminator.forward(&exemplar, &fake, &classes, Some(rng))?;
    let loss = config.loss.generator(&logits)?;
    state.adam_g.step(&loss.backward()?)?;
    record.g_loss = loss.to_scalar::<f32>()?;
    Ok(record)
}

fn save_checkpoint(path: &Path, state: &State, meta: &checkpoint::Meta<'_, DaganConfig, DaganTrainConfig>) -> Result<()> {
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    checkpoint::put(&mut tensors, "g", state.generator.tensors());
    if let Some(ema) = &state.ema {
        checkpoint::put(&mut tensors, "ema", ema.tensors());
    }
    checkpoint::put(&mut tensors, "d", state.discriminator.tensors());
    checkpoint::put(&mut tensors, "opt", state.adam_g.state("g")?.into_iter().chain(state.adam_d.state("d")?).collect());
    checkpoint::put_step(&mut tensors, state.step)?;
    checkpoint::save(path, meta, &tensors)
}

/// The state saved at `path` (the axes come from the data, which the fingerprint names).
fn load_checkpoint(path: &Path, meta: &checkpoint::Meta<'_, DaganConfig, DaganTrainConfig>, axes: &Tensor) -> Result<Option<State>> {
    let Some(tensors) = checkpoint::load(path, meta)? else { return Ok(None) };
    let section = |prefix: &str| checkpoint::section(&tensors, prefix);
    let mut state = fresh(meta.model, &meta.config.adversarial, axes)?;
    state.generator.load(&section("g"))?;
    if let Some(ema) = &state.ema {
        ema.load(&section("ema"))?;
    }
    state.discriminator.load(&section("d"))?;
    let opt = section("opt");
    state.adam_g.restore("g", &opt)?;
    state.adam_d.restore("d", &opt)?;
    state.step = checkpoint::step(&tensors, path)?;
    Ok(Some(state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dagan::DaganArchitecture;

    struct Quiet;

    impl Observer<StepRecord> for Quiet {
        fn record(&mut self, _: &StepRecord) {}
        fn resumed(&mut self, _: usize) {}
    }

    /// Three classes of 6-band spectra, each row paired with every class-mate.
    fn data() -> PairData {
        let rows = 36;
        let spectra = Array2::from_shape_fn((rows, 6), |(i, b)| ((i % 3) as f32 - 1.0) * 2.0 + ((i * 7 + b * 3) % 10) as f32 / 10.0);
        let classes: Vec<u32> = (0..rows).map(|i| (i % 3) as u32).collect();
        let mates = hypersynth_spectral::class_mates(spectra.view(), &classes, 0);
        let axes = hypersynth_spectral::within_class_axes(spectra.view(), &classes, 3, 4).unwrap();
        PairData { axes, spectra, classes, mates }
    }

    fn small() -> (DaganConfig, DaganTrainConfig) {
        let architecture =
            DaganArchitecture { generator_widths: vec![16], discriminator_widths: vec![16, 8], ..DaganArchitecture::default() };
        let adversarial = TrainConfig { steps: 8, batch_size: 8, checkpoint_every: 4, ..TrainConfig::default() };
        (DaganConfig { bands: 6, classes: 3, architecture }, DaganTrainConfig { adversarial, ..DaganTrainConfig::default() })
    }

    fn values(generator: &Generator) -> Vec<(String, Vec<f32>)> {
        let mut t: Vec<_> = generator.tensors().into_iter().map(|(k, v)| (k, v.flatten_all().unwrap().to_vec1().unwrap())).collect();
        t.sort_by(|a, b| a.0.cmp(&b.0));
        t
    }

    #[test]
    fn a_run_resumed_from_its_checkpoint_ends_as_an_uninterrupted_one() {
        let dir = tempfile::tempdir().unwrap();
        let (model, config) = small();
        let whole = train(&model, &config, &data(), None, "f", &mut Quiet).unwrap();
        // A run stopped after 4 steps leaves its checkpoint; the full run resumes from it.
        let path = dir.path().join("m.checkpoint.safetensors");
        let half = DaganTrainConfig { adversarial: TrainConfig { steps: 4, ..config.adversarial.clone() }, ..config.clone() };
        train(&model, &half, &data(), Some(&path), "f", &mut Quiet).unwrap();
        // The record names the settings: the same file under the full run's settings.
        let meta = checkpoint::Meta { fingerprint: "f", model: &model, config: &config };
        std::fs::write(path.with_extension("json"), serde_json::to_string_pretty(&meta).unwrap()).unwrap();
        let resumed = train(&model, &config, &data(), Some(&path), "f", &mut Quiet).unwrap();
        assert_eq!(resumed.resumed_from, 4);
        assert!(values(&resumed.generator) == values(&whole.generator), "the resumed generator differs");
    }

    #[test]
    fn calibrated_moves_are_the_size_of_each_class_s_real_pairs() {
        let (model, config) = small();
        let data = data();
        let trained = train(&model, &config, &data, None, "f", &mut Quiet).unwrap();
        let sampler = PairSampler::new(&model, &config, &data).unwrap();
        let factors = |g: &Generator, seed| -> Vec<f32> {
            calibrate_moves(g, &model, &sampler, seed).unwrap().flatten_all().unwrap().to_vec1().unwrap()
        };
        // The learned moves start at a tenth of their size: far from the pairs' size.
        let before = factors(&trained.generator, 1);
        assert!(before.iter().all(|&f| f > 2.0), "{before:?}");
        // Calibrated (as training does), the moves measured again with other noise keep their factors.
        let calibrating =
            DaganConfig { architecture: DaganArchitecture { calibrate_moves: true, ..model.architecture.clone() }, ..model.clone() };
        let calibrated = train(&calibrating, &config, &data, None, "f", &mut Quiet).unwrap();
        let scale: Vec<f32> = calibrated.generator.move_scale.flatten_all().unwrap().to_vec1().unwrap();
        assert!(scale.iter().zip(&before).all(|(s, b)| (s / b - 1.0).abs() < 0.1), "{scale:?} against {before:?}");
        let after = factors(&calibrated.generator, 2);
        assert!(after.iter().zip(&scale).all(|(a, s)| (a / s - 1.0).abs() < 0.05), "{after:?} against {scale:?}");
    }

    #[test]
    fn losses_that_need_an_autoencoder_or_second_derivatives_are_refused() {
        let (model, mut config) = small();
        config.adversarial.loss = Loss::WganGp;
        let err = train(&model, &config, &data(), None, "f", &mut Quiet).unwrap_err();
        assert!(err.to_string().contains("not WganGp"), "{err}");
    }
}
