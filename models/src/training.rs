//! The adversarial training loop of the spectral cGAN.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor, Var};
use ndarray::{Array2, Axis};
use rand::RngExt;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::adam::Adam;
use crate::checkpoint;
use crate::losses::{self, Began, DRAGAN_SPREAD, Loss, WEIGHT_CLIP, cross_entropy};
pub use crate::observe::Observer;
use crate::spectral_cgan::{Discriminator, Generator, SpectralCganConfig, class_tensor};
use crate::training_loop::{self, Family, Schedule};
use crate::{Error, Result, rng};

/// Training settings. The defaults are what `hypersynth train spectral` uses; they were
/// chosen on SalinasA with two classes thinned to 25 pixels (see `docs/TRAINING.md`):
/// non-saturating loss with TTUR (D learns 4x faster and steps twice per G step) halved
/// the validation MMD of equal learning rates and one D step, whose D was fooled early.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The adversarial loss.
    pub loss: Loss,
    /// Generator updates.
    pub steps: usize,
    /// Discriminator updates per generator update (k).
    pub d_steps: usize,
    /// Spectra per batch.
    pub batch_size: usize,
    /// Generator learning rate.
    pub lr_generator: f64,
    /// Discriminator learning rate (TTUR: may differ from the generator's).
    pub lr_discriminator: f64,
    /// Adam's beta1.
    pub beta1: f64,
    /// Adam's beta2.
    pub beta2: f64,
    /// Capacity of the buffer of past generated spectra mixed into D's fake batches
    /// (0: off); half of each fake batch is drawn from it once it holds samples.
    pub history: usize,
    /// Weight of feature matching on D's last hidden layer in G's loss (0: off).
    pub feature_matching: f64,
    /// One-sided label smoothing: D's target for real spectra is `1 - label_smoothing`.
    pub label_smoothing: f64,
    /// Standard deviation of the Gaussian instance noise added to D's inputs at the start,
    /// decaying linearly to 0 (normalised units; 0: off).
    pub instance_noise: f64,
    /// Decay of the exponential moving average of G's weights (`None`: off). The EMA
    /// generator is the one validated and exported.
    pub ema: Option<f64>,
    /// Weight of the auxiliary classification loss (AC-GAN; 0: off).
    pub aux_classifier: f64,
    /// Gradient-penalty weight for WGAN-GP.
    pub gradient_penalty: f64,
    /// Validate (and keep the best generator) every this many steps, and at the end.
    pub validate_every: usize,
    /// Report losses every this many steps.
    pub log_every: usize,
    /// Write a checkpoint every this many steps (when a checkpoint path is given).
    pub checkpoint_every: usize,
    /// The seed of every random draw.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            loss: Loss::NonSaturating,
            steps: 2000,
            d_steps: 2,
            batch_size: 128,
            lr_generator: 1e-4,
            lr_discriminator: 4e-4,
            beta1: 0.5,
            beta2: 0.999,
            history: 0,
            feature_matching: 0.0,
            label_smoothing: 0.0,
            instance_noise: 0.0,
            ema: Some(0.995),
            aux_classifier: 0.0,
            gradient_penalty: 10.0,
            validate_every: 100,
            log_every: 10,
            checkpoint_every: 250,
            seed: 0,
        }
    }
}

/// Normalised spectra with class indices (`0..classes`).
#[derive(Debug, Clone)]
pub struct Dataset {
    /// `[n, bands]`, normalised.
    pub spectra: Array2<f32>,
    /// Class index per row.
    pub classes: Vec<u32>,
}

impl Dataset {
    fn rows_by_class(&self, classes: usize) -> Vec<Vec<usize>> {
        let mut rows = vec![Vec::new(); classes];
        for (row, &c) in self.classes.iter().enumerate() {
            rows[c as usize].push(row);
        }
        rows
    }
}

/// One line of the metrics log.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StepRecord {
    /// Generator updates done.
    pub step: usize,
    /// Discriminator loss (last D step).
    pub d_loss: f32,
    /// Generator loss.
    pub g_loss: f32,
    /// Mean sigmoid(D) on real spectra (1/2 at the minimax equilibrium).
    pub d_real: f32,
    /// Mean sigmoid(D) on generated spectra.
    pub d_fake: f32,
    /// Mean per-class MMD between generated and validation spectra, when validated.
    pub validation_mmd: Option<f64>,
}

/// The outcome of training.
#[derive(Debug)]
pub struct Trained {
    /// The generator with the best validation MMD.
    pub generator: Generator,
    /// The step it was taken at.
    pub best_step: usize,
    /// Its validation MMD.
    pub best_mmd: f64,
    /// The step training resumed from (0 for a fresh start).
    pub resumed_from: usize,
}

/// The validation's random stream (beside the loop's, [`training_loop`]).
const STREAM_VALIDATION: u64 = 3;

/// Everything a training run changes; what a checkpoint holds.
struct State {
    generator: Generator,
    discriminator: Discriminator,
    ema: Option<Generator>,
    best: Generator,
    best_step: usize,
    best_mmd: f64,
    adam_g: Adam,
    adam_d: Adam,
    history: Vec<(Vec<f32>, u32)>,
    /// BEGAN's balance (unused by the other losses).
    began: Began,
    step: usize,
}

/// Trains a spectral cGAN on `train`, selecting the generator by validation MMD on
/// `validation`. With `checkpoint`, state is saved there periodically and a run whose
/// checkpoint matches `fingerprint` (data and settings) resumes from it and ends exactly
/// as an uninterrupted run would.
pub fn train(
    model: &SpectralCganConfig,
    config: &TrainConfig,
    train: &Dataset,
    validation: &Dataset,
    checkpoint: Option<&Path>,
    fingerprint: &str,
    observer: &mut dyn Observer<StepRecord>,
) -> Result<Trained> {
    check(model, config, train)?;
    let state = training_loop::resume_or_fresh(checkpoint, |p| load_checkpoint(p, model, config, fingerprint), || fresh(model, config))?;
    let by_class = train.rows_by_class(model.classes);
    let present: Vec<u32> = (0..model.classes as u32).filter(|&c| !by_class[c as usize].is_empty()).collect();
    let mut run = Run { state, model, config, train, validation, by_class, present, fingerprint };
    let schedule = Schedule::new(config.steps, config.seed, Some(config.validate_every), config.log_every, config.checkpoint_every);
    let resumed_from = training_loop::run(&mut run, &schedule, checkpoint, observer)?;
    let state = run.state;
    Ok(Trained { generator: state.best, best_step: state.best_step, best_mmd: state.best_mmd, resumed_from })
}

/// The spectral cGAN's state with what its steps read.
struct Run<'a> {
    state: State,
    model: &'a SpectralCganConfig,
    config: &'a TrainConfig,
    train: &'a Dataset,
    validation: &'a Dataset,
    /// Training rows per class index.
    by_class: Vec<Vec<usize>>,
    /// The class indices with training rows.
    present: Vec<u32>,
    fingerprint: &'a str,
}

impl Family for Run<'_> {
    type Record = StepRecord;

    fn steps_done(&self) -> usize {
        self.state.step
    }

    fn step(&mut self, rng: &mut ChaCha8Rng) -> Result<StepRecord> {
        let record = step(&mut self.state, self.model, self.config, self.train, &self.by_class, &self.present, rng)?;
        self.state.step += 1;
        if let Some(decay) = self.config.ema
            && let Some(ema) = self.state.ema.as_mut()
        {
            ema.ema_update(&self.state.generator, decay)?;
        }
        Ok(record)
    }

    /// The generator (its moving average, when on) by validation MMD; the best is kept.
    fn validate(&mut self, record: &mut StepRecord) -> Result<()> {
        let state = &mut self.state;
        let candidate = state.ema.as_mut().unwrap_or(&mut state.generator);
        let mmd = validation_mmd(candidate, self.model, self.config, self.validation)?;
        record.validation_mmd = Some(mmd);
        if mmd < state.best_mmd || !state.best_mmd.is_finite() {
            let candidate = state.ema.as_ref().unwrap_or(&state.generator);
            state.best = candidate.duplicate(self.model)?;
            state.best_mmd = mmd;
            state.best_step = state.step;
        }
        Ok(())
    }

    fn save(&self, path: &Path) -> Result<()> {
        save_checkpoint(path, &self.state, self.model, self.config, self.fingerprint)
    }
}

fn check(model: &SpectralCganConfig, config: &TrainConfig, train: &Dataset) -> Result<()> {
    if train.spectra.ncols() != model.bands {
        return Err(Error::Invalid(format!("training spectra have {} bands, the model {}", train.spectra.ncols(), model.bands)));
    }
    if config.batch_size < 2 || config.steps == 0 || config.d_steps == 0 {
        return Err(Error::Invalid("batch size must be at least 2, steps and d-steps at least 1".into()));
    }
    if config.loss.needs_second_derivatives() && std::env::var("CANDLE_GRAD_DO_NOT_DETACH").map_or(true, |v| v.is_empty() || v == "0") {
        return Err(Error::Invalid(format!(
            "{:?}'s gradient penalty needs second derivatives: set CANDLE_GRAD_DO_NOT_DETACH=1 before starting (the hypersynth binary does)",
            config.loss
        )));
    }
    if config.loss.needs_autoencoder() != model.architecture.autoencoder {
        return Err(Error::Invalid(format!(
            "the {:?} loss and an autoencoder discriminator ({}) go together",
            config.loss, model.architecture.autoencoder
        )));
    }
    if !train.spectra.iter().all(|v| v.is_finite()) {
        return Err(Error::Invalid("training spectra contain NaN or infinite values".into()));
    }
    Ok(())
}

fn fresh(model: &SpectralCganConfig, config: &TrainConfig) -> Result<State> {
    let mut init = rng::stream(config.seed, training_loop::STREAM_INIT, 0);
    let generator = Generator::new(model, &mut init)?;
    let discriminator = Discriminator::new(model, &mut init)?;
    let ema = config.ema.map(|_| generator.duplicate(model)).transpose()?;
    let best = generator.duplicate(model)?;
    let adam_g = Adam::new(generator.vars(), config.lr_generator, config.beta1, config.beta2)?;
    let adam_d = Adam::new(discriminator.vars(), config.lr_discriminator, config.beta1, config.beta2)?;
    Ok(State {
        generator,
        discriminator,
        ema,
        best,
        best_step: 0,
        best_mmd: f64::INFINITY,
        adam_g,
        adam_d,
        history: Vec::new(),
        began: Began { k: 0.0 },
        step: 0,
    })
}

/// A class-balanced batch: classes drawn uniformly among those with training rows, then a
/// row of that class.
fn sample_batch(train: &Dataset, by_class: &[Vec<usize>], present: &[u32], n: usize, rng: &mut ChaCha8Rng) -> Result<(Tensor, Vec<u32>)> {
    let bands = train.spectra.ncols();
    let mut values: Vec<f32> = Vec::with_capacity(n * bands);
    let mut classes = Vec::with_capacity(n);
    for _ in 0..n {
        let class = present[rng.random_range(0..present.len())];
        let rows = &by_class[class as usize];
        let row = rows[rng.random_range(0..rows.len())];
        values.extend(train.spectra.row(row).iter());
        classes.push(class);
    }
    Ok((Tensor::from_vec(values, (n, bands), &Device::Cpu)?, classes))
}

fn random_classes(present: &[u32], n: usize, rng: &mut ChaCha8Rng) -> Vec<u32> {
    (0..n).map(|_| present[rng.random_range(0..present.len())]).collect()
}

fn with_noise(x: &Tensor, sigma: f64, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    if sigma <= 0.0 {
        return Ok(x.clone());
    }
    let (n, d) = x.dims2()?;
    Ok((x + rng::normal(rng, n, d)?.affine(sigma, 0.0)?)?)
}

/// One generator update preceded by `d_steps` discriminator updates.
fn step(
    state: &mut State,
    model: &SpectralCganConfig,
    config: &TrainConfig,
    train: &Dataset,
    by_class: &[Vec<usize>],
    present: &[u32],
    rng: &mut ChaCha8Rng,
) -> Result<StepRecord> {
    let n = config.batch_size;
    let sigma = config.instance_noise * (1.0 - state.step as f64 / config.steps as f64);
    let mut record = StepRecord { step: state.step + 1, ..StepRecord::default() };
    for _ in 0..config.d_steps {
        let (real, real_classes) = sample_batch(train, by_class, present, n, rng)?;
        let fake_classes = random_classes(present, n, rng);
        let z = rng::normal(rng, n, model.architecture.latent)?;
        let fake = state.generator.forward(&z, &class_tensor(&fake_classes)?, true)?.detach();
        let (fake, fake_classes) = mix_history(&mut state.history, fake, fake_classes, config.history, rng)?;
        let (real_t, fake_t) = (class_tensor(&real_classes)?, class_tensor(&fake_classes)?);
        let real_in = with_noise(&real, sigma, rng)?;
        let fake_in = with_noise(&fake, sigma, rng)?;
        state.discriminator.iterate_spectral_norms()?;
        let judged_real = state.discriminator.forward(&real_in, &real_t, Some(rng))?;
        let judged_fake = state.discriminator.forward(&fake_in, &fake_t, Some(rng))?;
        let mut loss = match config.loss {
            Loss::Began => state.began.discriminator(&judged_real.logits, &judged_fake.logits)?,
            other => other.discriminator(&judged_real.logits, &judged_fake.logits, 1.0 - config.label_smoothing)?,
        };
        if config.aux_classifier > 0.0
            && let (Some(r), Some(f)) = (&judged_real.class_logits, &judged_fake.class_logits)
        {
            loss = (loss + (cross_entropy(r, &real_t)? + cross_entropy(f, &fake_t)?)?.affine(config.aux_classifier, 0.0)?)?;
        }
        let penalised = match config.loss {
            Loss::WganGp => Some(interpolates(&real_in, &fake_in, rng)?),
            Loss::Dragan => Some(perturbed(&real_in, rng)?),
            _ => None,
        };
        if let Some(points) = penalised {
            loss = (loss + gradient_penalty(&state.discriminator, &points, &real_t)?.affine(config.gradient_penalty, 0.0)?)?;
        }
        state.adam_d.step(&loss.backward()?)?;
        record.d_loss = loss.to_scalar::<f32>()?;
        match config.loss {
            Loss::WganClip => state.discriminator.clip(WEIGHT_CLIP)?,
            Loss::Began => state.began.update(
                f64::from(judged_real.logits.mean_all()?.neg()?.to_scalar::<f32>()?),
                f64::from(judged_fake.logits.mean_all()?.neg()?.to_scalar::<f32>()?),
            ),
            _ => {}
        }
        record.d_real = losses::mean_probability(&judged_real.logits)?;
        record.d_fake = losses::mean_probability(&judged_fake.logits)?;
    }

    let classes = random_classes(present, n, rng);
    let classes_t = class_tensor(&classes)?;
    let z = rng::normal(rng, n, model.architecture.latent)?;
    let fake = state.generator.forward(&z, &classes_t, true)?;
    let judged = state.discriminator.forward(&with_noise(&fake, sigma, rng)?, &classes_t, Some(rng))?;
    let mut loss = config.loss.generator(&judged.logits)?;
    if config.feature_matching > 0.0 {
        let (real, real_classes) = sample_batch(train, by_class, present, n, rng)?;
        let real_features = state.discriminator.forward(&real, &class_tensor(&real_classes)?, None)?.features.detach();
        let gap = (real_features.mean_keepdim(0)? - judged.features.mean_keepdim(0)?)?.sqr()?.mean_all()?;
        loss = (loss + gap.affine(config.feature_matching, 0.0)?)?;
    }
    if config.aux_classifier > 0.0
        && let Some(class_logits) = &judged.class_logits
    {
        loss = (loss + cross_entropy(class_logits, &classes_t)?.affine(config.aux_classifier, 0.0)?)?;
    }
    state.adam_g.step(&loss.backward()?)?;
    record.g_loss = loss.to_scalar::<f32>()?;
    Ok(record)
}

/// Replaces half of a fake batch with spectra from the history buffer (once it holds
/// any), then stores the new fakes in it, replacing random old ones once full.
fn mix_history(
    history: &mut Vec<(Vec<f32>, u32)>,
    fake: Tensor,
    classes: Vec<u32>,
    capacity: usize,
    rng: &mut ChaCha8Rng,
) -> Result<(Tensor, Vec<u32>)> {
    if capacity == 0 {
        return Ok((fake, classes));
    }
    let rows = fake.to_vec2::<f32>()?;
    let (n, bands) = (rows.len(), rows.first().map_or(0, Vec::len));
    let mut mixed: Vec<(Vec<f32>, u32)> = rows.iter().cloned().zip(classes.iter().copied()).collect();
    if !history.is_empty() {
        for slot in mixed.iter_mut().take(n / 2) {
            *slot = history[rng.random_range(0..history.len())].clone();
        }
    }
    for sample in rows.into_iter().zip(classes) {
        if history.len() < capacity {
            history.push(sample);
        } else {
            let i = rng.random_range(0..capacity);
            history[i] = sample;
        }
    }
    let classes = mixed.iter().map(|(_, c)| *c).collect();
    let values: Vec<f32> = mixed.into_iter().flat_map(|(v, _)| v).collect();
    Ok((Tensor::from_vec(values, (n, bands), &Device::Cpu)?, classes))
}

/// WGAN-GP's points: a random point on the segment between each real and generated sample.
fn interpolates(real: &Tensor, fake: &Tensor, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    let n = real.dim(0)?;
    let eps: Vec<f32> = (0..n).map(|_| rng.random::<f32>()).collect();
    let eps = Tensor::from_vec(eps, (n, 1), &Device::Cpu)?;
    Ok((real.broadcast_mul(&eps)? + fake.broadcast_mul(&eps.affine(-1.0, 1.0)?)?)?)
}

/// DRAGAN's points: real samples plus uniform noise up to [`DRAGAN_SPREAD`] x the batch's
/// standard deviation.
fn perturbed(real: &Tensor, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    let (n, d) = real.dims2()?;
    let values = real.flatten_all()?.to_vec1::<f32>()?;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64;
    let sd = (values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
    let noise: Vec<f32> = (0..n * d).map(|_| rng.random::<f32>()).collect();
    Ok((real + Tensor::from_vec(noise, (n, d), &Device::Cpu)?.affine(DRAGAN_SPREAD * sd, 0.0)?)?)
}

/// `(||grad_x D(x)|| - 1)^2` averaged over `points` (of `classes`).
fn gradient_penalty(d: &Discriminator, points: &Tensor, classes: &Tensor) -> Result<Tensor> {
    let x_hat = Var::from_tensor(&points.detach())?;
    let judged = d.forward(x_hat.as_tensor(), classes, None)?;
    let grads = judged.logits.sum_all()?.backward()?;
    let g = grads.get(x_hat.as_tensor()).ok_or_else(|| Error::Invalid("no gradient for the gradient penalty".into()))?;
    Ok(g.sqr()?.sum_keepdim(1)?.affine(1.0, 1e-12)?.sqrt()?.affine(1.0, -1.0)?.sqr()?.mean_all()?)
}

/// Validation compares at most this many real spectra per class (a fixed random subset),
/// so that its cost does not grow with the data.
const VALIDATION_ROWS: usize = 256;

/// Mean over classes (with at least 2 validation rows) of the MMD between the class's
/// validation spectra and as many generated ones (at least 64), from fixed noise.
fn validation_mmd(generator: &mut Generator, model: &SpectralCganConfig, config: &TrainConfig, validation: &Dataset) -> Result<f64> {
    let mut rng = rng::stream(config.seed, STREAM_VALIDATION, 0);
    let mut total = 0.0;
    let mut counted = 0;
    for (class, rows) in validation.rows_by_class(model.classes).iter_mut().enumerate() {
        if rows.len() < 2 {
            continue;
        }
        if rows.len() > VALIDATION_ROWS {
            rows.shuffle(&mut rng);
            rows.truncate(VALIDATION_ROWS);
        }
        let real = validation.spectra.select(Axis(0), rows);
        let generated = generate(generator, model, class as u32, rows.len().max(64), &mut rng)?;
        total += hypersynth_spectral::mmd_rbf(real.view(), generated.view());
        counted += 1;
    }
    Ok(if counted == 0 { f64::INFINITY } else { total / counted as f64 })
}

/// `n` normalised spectra of `class` from `generator` in inference mode.
pub fn generate(generator: &mut Generator, model: &SpectralCganConfig, class: u32, n: usize, rng: &mut ChaCha8Rng) -> Result<Array2<f32>> {
    let z = rng::normal(rng, n, model.architecture.latent)?;
    let out = generator.forward(&z, &class_tensor(&vec![class; n])?, false)?;
    Array2::from_shape_vec((n, model.bands), out.flatten_all()?.to_vec1::<f32>()?).map_err(|e| Error::Invalid(e.to_string()))
}

// --- checkpoints ---------------------------------------------------------------------

/// Saves every tensor of the state, with the step counters as one more tensor.
fn save_checkpoint(path: &Path, state: &State, model: &SpectralCganConfig, config: &TrainConfig, fingerprint: &str) -> Result<()> {
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    checkpoint::put(&mut tensors, "g", state.generator.tensors());
    checkpoint::put(&mut tensors, "best", state.best.tensors());
    if let Some(ema) = &state.ema {
        checkpoint::put(&mut tensors, "ema", ema.tensors());
    }
    let mut d: HashMap<String, Tensor> =
        state.discriminator.vars().iter().enumerate().map(|(i, v)| (i.to_string(), v.as_tensor().clone())).collect();
    for (i, norm) in state.discriminator.spectral_norms.iter().enumerate() {
        d.insert(format!("sn{i}"), norm.u.clone());
    }
    checkpoint::put(&mut tensors, "d", d);
    checkpoint::put(&mut tensors, "opt", state.adam_g.state("g")?.into_iter().chain(state.adam_d.state("d")?).collect());
    let progress = [state.step as f64, state.best_step as f64, state.best_mmd, state.history.len() as f64, state.began.k];
    tensors.insert("meta.progress".into(), Tensor::new(&progress, &Device::Cpu)?);
    if !state.history.is_empty() {
        let bands = state.history[0].0.len();
        let values: Vec<f32> = state.history.iter().flat_map(|(v, _)| v.iter().copied()).collect();
        let classes: Vec<u32> = state.history.iter().map(|(_, c)| *c).collect();
        tensors.insert("history.spectra".into(), Tensor::from_vec(values, (state.history.len(), bands), &Device::Cpu)?);
        tensors.insert("history.classes".into(), Tensor::from_vec(classes, state.history.len(), &Device::Cpu)?);
    }
    checkpoint::save(path, &checkpoint::Meta { fingerprint, model, config }, &tensors)
}

/// The state saved at `path`, or `None` when there is none for this data and these settings.
fn load_checkpoint(path: &Path, model: &SpectralCganConfig, config: &TrainConfig, fingerprint: &str) -> Result<Option<State>> {
    let fail = |problem: String| Error::Checkpoint { path: path.to_path_buf(), problem };
    let Some(tensors) = checkpoint::load(path, &checkpoint::Meta { fingerprint, model, config })? else { return Ok(None) };
    let section = |prefix: &str| checkpoint::section(&tensors, prefix);
    let mut state = fresh(model, config)?;
    state.generator.load(&section("g"))?;
    state.best.load(&section("best"))?;
    if let Some(ema) = state.ema.as_mut() {
        ema.load(&section("ema"))?;
    }
    let d = section("d");
    for (i, var) in state.discriminator.vars().iter().enumerate() {
        var.set(d.get(&i.to_string()).ok_or_else(|| fail(format!("missing discriminator tensor {i}")))?)?;
    }
    for (i, norm) in state.discriminator.spectral_norms.iter_mut().enumerate() {
        norm.u = d.get(&format!("sn{i}")).ok_or_else(|| fail(format!("missing spectral normalisation {i}")))?.copy()?;
    }
    let opt = section("opt");
    state.adam_g.restore("g", &opt)?;
    state.adam_d.restore("d", &opt)?;
    let progress = section("meta").get("progress").ok_or_else(|| fail("missing progress".into()))?.to_vec1::<f64>()?;
    let [step, best_step, best_mmd, history, k] = progress[..] else { return Err(fail("bad progress record".into())) };
    state.began.k = k;
    if history > 0.0 {
        let h = section("history");
        let spectra = h.get("spectra").ok_or_else(|| fail("missing history".into()))?.to_vec2::<f32>()?;
        let classes = h.get("classes").ok_or_else(|| fail("missing history classes".into()))?.to_vec1::<u32>()?;
        state.history = spectra.into_iter().zip(classes).collect();
    }
    (state.step, state.best_step, state.best_mmd) = (step as usize, best_step as usize, best_mmd);
    Ok(Some(state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectral_cgan::SpectralCganArchitecture;

    /// Copies the checkpoint written after `step` elsewhere, as a run killed then would leave it.
    struct KeepCheckpoint {
        step: usize,
        from: std::path::PathBuf,
        to: std::path::PathBuf,
    }

    impl Observer<StepRecord> for KeepCheckpoint {
        fn record(&mut self, _: &StepRecord) {}
        fn resumed(&mut self, _: usize) {}
        fn checkpointed(&mut self, step: usize) {
            if step == self.step {
                std::fs::copy(&self.from, &self.to).unwrap();
                std::fs::copy(self.from.with_extension("json"), self.to.with_extension("json")).unwrap();
            }
        }
    }

    /// Three classes of 6-band spectra in [-1, 1].
    fn data() -> Dataset {
        let rows = 36;
        let spectra = Array2::from_shape_fn((rows, 6), |(i, b)| ((i % 3) as f32 - 1.0) * 0.5 + ((i * 7 + b * 3) % 10) as f32 / 50.0);
        Dataset { spectra, classes: (0..rows).map(|i| (i % 3) as u32).collect() }
    }

    fn tensors(generator: &Generator) -> Vec<(String, Vec<f32>)> {
        let mut t: Vec<_> = generator.tensors().into_iter().map(|(k, v)| (k, v.flatten_all().unwrap().to_vec1().unwrap())).collect();
        t.sort_by(|a, b| a.0.cmp(&b.0));
        t
    }

    #[test]
    fn began_and_weight_clipping_with_spectral_norm_resume_to_the_same_generator() {
        let dir = tempfile::tempdir().unwrap();
        for loss in [Loss::Began, Loss::WganClip] {
            let architecture = SpectralCganArchitecture {
                spectral_norm: true,
                autoencoder: loss.needs_autoencoder(),
                generator_widths: vec![16],
                discriminator_widths: vec![16, 8],
                ..SpectralCganArchitecture::default()
            };
            let model = SpectralCganConfig::new(6, 3, architecture);
            let config = TrainConfig { loss, steps: 8, batch_size: 8, validate_every: 2, checkpoint_every: 4, ..TrainConfig::default() };
            let (whole, cut) = (dir.path().join("whole.safetensors"), dir.path().join("cut.safetensors"));
            let mut keep = KeepCheckpoint { step: 4, from: whole.clone(), to: cut.clone() };
            let data = data();
            let a = train(&model, &config, &data, &data, Some(&whole), "f", &mut keep).unwrap();
            let mut quiet = KeepCheckpoint { step: usize::MAX, from: whole.clone(), to: cut.clone() };
            let b = train(&model, &config, &data, &data, Some(&cut), "f", &mut quiet).unwrap();
            assert_eq!(b.resumed_from, 4, "{loss:?}");
            assert_eq!((a.best_step, a.best_mmd), (b.best_step, b.best_mmd), "{loss:?}");
            assert!(tensors(&a.generator) == tensors(&b.generator), "{loss:?}: the resumed generator differs");
            let fresh = train(&model, &config, &data, &data, None, "f", &mut quiet).unwrap();
            assert!(tensors(&fresh.generator) == tensors(&a.generator), "{loss:?}: a run without checkpoints differs");
            std::fs::remove_file(&whole).unwrap();
        }
    }

    #[test]
    fn a_loss_and_a_discriminator_that_do_not_go_together_are_refused() {
        let model = SpectralCganConfig::new(6, 3, SpectralCganArchitecture::default());
        let config = TrainConfig { loss: Loss::Began, steps: 2, batch_size: 8, ..TrainConfig::default() };
        let mut quiet = KeepCheckpoint { step: usize::MAX, from: "a".into(), to: "b".into() };
        let err = train(&model, &config, &data(), &data(), None, "f", &mut quiet).unwrap_err();
        assert!(err.to_string().contains("autoencoder"), "{err}");
    }
}
