//! The exemplar-conditioned spectral GAN (DAGAN, Antoniou et al. 2017, "Data Augmentation
//! Generative Adversarial Networks"): a generator that takes a real spectrum of a class (the
//! exemplar), the class and noise and makes another spectrum of that class, and a
//! discriminator that judges pairs, (exemplar, real class-mate) against (exemplar,
//! generated), conditioned on the class. The generator is shared by every class, so a class
//! of ten pixels gets the variation learned on the classes that measured it.
//!
//! Both work on standardised logarithms ([`hypersynth_spectral::LogScale`]): the generator
//! adds a learned move to the exemplar's logarithms, so its variation is multiplicative and
//! it starts next to a real spectrum of the class. Both see spectra through the leading
//! principal axes of the within-class variation ([`hypersynth_spectral::within_class_axes`],
//! [`DaganArchitecture::components`]) and the move lies along them: the exemplar keeps
//! every band's detail, and the networks stay small enough to train in a minute on two
//! cores.

use std::collections::HashMap;

use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::layers::{Embedding, LEAKY_SLOPE, Linear, SpectralNorm, leaky_relu};
use crate::{Error, Result, rng};

/// The exemplar GAN's networks: the shape of the data and the architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaganConfig {
    /// Bands per spectrum.
    pub bands: usize,
    /// Number of classes.
    pub classes: usize,
    /// The architecture (written beside `bands` and `classes` in cards and checkpoints).
    #[serde(flatten)]
    pub architecture: DaganArchitecture,
}

/// The architecture of the exemplar GAN and the pairs it learns from, whatever the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaganArchitecture {
    /// Length of the noise vector the generator takes beside the exemplar.
    pub latent: usize,
    /// Principal axes of the within-class variation the networks see spectra along (and
    /// the move lies along).
    pub components: usize,
    /// Length of the class embedding of either network.
    pub embedding: usize,
    /// Widths of the generator's Linear -> LeakyReLU(0.2) blocks.
    pub generator_widths: Vec<usize>,
    /// Widths of the discriminator's Linear -> LeakyReLU(0.2) -> Dropout blocks.
    pub discriminator_widths: Vec<usize>,
    /// Dropout probability in the discriminator.
    pub dropout: f64,
    /// Whether the discriminator's layers are spectrally normalised.
    pub spectral_norm: bool,
    /// A real pair is an exemplar and one of its this many nearest class-mates (0: any
    /// class-mate, as DAGAN pairs them).
    pub mates: usize,
    /// The share of the generator's output layer's initial weights (a small start keeps the
    /// first generated spectra next to their exemplars).
    pub output_gain: f64,
    /// Exemplars per class the exported graph keeps at most (a seeded subset beyond).
    pub exemplars: usize,
    /// After training, scale each class's moves so that their mean size equals that of the
    /// real pairs' differences of the class ([`Generator::move_scale`]). Absent from the
    /// cards of models made before it existed, which kept the learned size. Off by default
    /// until the end-to-end lift test is measured with it (docs/TRAINING.md).
    #[serde(default)]
    pub calibrate_moves: bool,
}

impl Default for DaganArchitecture {
    fn default() -> Self {
        Self {
            latent: 32,
            components: 32,
            embedding: 16,
            generator_widths: vec![256, 256],
            discriminator_widths: vec![256, 128],
            dropout: 0.3,
            spectral_norm: true,
            mates: 10,
            output_gain: 0.1,
            exemplars: 512,
            calibrate_moves: false,
        }
    }
}

/// (exemplar `[n, bands]`, noise `[n, latent]`, class ids `[n]`) to `exemplar + move`:
/// the exemplar along the axes ++ embedding ++ noise -> blocks of Linear -> LeakyReLU(0.2)
/// -> Linear, mapped back along the axes and added to the exemplar (all in standardised
/// logarithms).
#[derive(Debug)]
pub struct Generator {
    /// The principal axes, `[components, bands]` (fixed, from the data).
    pub axes: Tensor,
    /// Class embedding.
    pub embedding: Embedding,
    /// Hidden layers.
    pub blocks: Vec<Linear>,
    /// The layer giving the move.
    pub output: Linear,
    /// `[classes, 1]`: the factor each class's move is multiplied by (ones while training;
    /// set after it with [`DaganArchitecture::calibrate_moves`]).
    pub move_scale: Tensor,
}

impl Generator {
    /// A freshly initialised generator seeing spectra along `axes` (`[components, bands]`).
    pub fn new(config: &DaganConfig, axes: &Tensor, rng: &mut ChaCha8Rng) -> Result<Self> {
        let a = &config.architecture;
        let components = check_axes(config, axes)?;
        let embedding = Embedding::new(config.classes, a.embedding, rng)?;
        let mut width = components + a.embedding + a.latent;
        let mut blocks = Vec::new();
        for &w in &a.generator_widths {
            blocks.push(Linear::new(width, w, rng)?);
            width = w;
        }
        let output = Linear::new(width, components, rng)?;
        output.weight.set(&output.weight.affine(a.output_gain, 0.0)?)?;
        output.bias.set(&output.bias.zeros_like()?)?;
        let move_scale = Tensor::ones((config.classes, 1), candle_core::DType::F32, axes.device())?;
        Ok(Self { axes: axes.clone(), embedding, blocks, output, move_scale })
    }

    /// Another spectrum of each exemplar's class.
    pub fn forward(&self, exemplar: &Tensor, z: &Tensor, classes: &Tensor) -> Result<Tensor> {
        let mut h = Tensor::cat(&[&exemplar.matmul(&self.axes.t()?)?, &self.embedding.forward(classes)?, z], 1)?;
        for linear in &self.blocks {
            h = leaky_relu(&linear.forward(&h)?, LEAKY_SLOPE)?;
        }
        let move_along = self.output.forward(&h)?.broadcast_mul(&self.move_scale.index_select(classes, 0)?)?;
        Ok((exemplar + move_along.matmul(&self.axes)?)?)
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<candle_core::Var> {
        let mut vars = vec![self.embedding.table.clone()];
        for linear in self.blocks.iter().chain([&self.output]) {
            vars.extend(linear.vars());
        }
        vars
    }

    /// Every tensor by name.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        let mut t = HashMap::new();
        t.insert("embedding".to_string(), self.embedding.table.as_tensor().clone());
        for (i, linear) in self.blocks.iter().enumerate() {
            t.insert(format!("block{i}.weight"), linear.weight.as_tensor().clone());
            t.insert(format!("block{i}.bias"), linear.bias.as_tensor().clone());
        }
        t.insert("output.weight".to_string(), self.output.weight.as_tensor().clone());
        t.insert("output.bias".to_string(), self.output.bias.as_tensor().clone());
        t
    }

    /// Overwrites every tensor from `tensors` (as written by [`Generator::tensors`]).
    pub fn load(&self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let get = |key: &str| tensors.get(key).ok_or_else(|| Error::Invalid(format!("generator state lacks {key}")));
        self.embedding.table.set(get("embedding")?)?;
        for (i, linear) in self.blocks.iter().enumerate() {
            linear.weight.set(get(&format!("block{i}.weight"))?)?;
            linear.bias.set(get(&format!("block{i}.bias"))?)?;
        }
        self.output.weight.set(get("output.weight")?)?;
        self.output.bias.set(get("output.bias")?)?;
        Ok(())
    }

    /// A copy with its own tensors (the moving average).
    pub fn duplicate(&self, config: &DaganConfig) -> Result<Self> {
        let copy = Self::new(config, &self.axes, &mut rng::stream(0, 0, 0))?;
        let tensors = self.tensors().into_iter().map(|(k, v)| v.copy().map(|v| (k, v))).collect::<candle_core::Result<_>>()?;
        copy.load(&tensors)?;
        Ok(Self { move_scale: self.move_scale.clone(), ..copy })
    }

    /// Moves this generator's parameters towards `live` by `1 - decay`.
    pub fn ema_update(&self, live: &Generator, decay: f64) -> Result<()> {
        for (shadow, current) in self.vars().iter().zip(live.vars()) {
            shadow.set(&(shadow.affine(decay, 0.0)? + current.affine(1.0 - decay, 0.0)?)?)?;
        }
        Ok(())
    }
}

/// (exemplar, candidate, class) to a realness logit: the exemplar and the candidate's
/// difference from it along the axes ++ embedding -> blocks of Linear -> LeakyReLU(0.2) ->
/// Dropout -> Linear(1).
#[derive(Debug)]
pub struct Discriminator {
    /// The principal axes, `[components, bands]` (fixed, from the data).
    pub axes: Tensor,
    /// Class embedding.
    pub embedding: Embedding,
    /// Hidden layers.
    pub blocks: Vec<Linear>,
    /// Realness head.
    pub output: Linear,
    /// Spectral normalisation of the hidden layers and the head, in that order (empty: off).
    pub spectral_norms: Vec<SpectralNorm>,
    dropout: f64,
}

impl Discriminator {
    /// A freshly initialised discriminator seeing spectra along `axes`.
    pub fn new(config: &DaganConfig, axes: &Tensor, rng: &mut ChaCha8Rng) -> Result<Self> {
        let a = &config.architecture;
        let components = check_axes(config, axes)?;
        let embedding = Embedding::new(config.classes, a.embedding, rng)?;
        let mut width = 2 * components + a.embedding;
        let mut blocks = Vec::new();
        for &w in &a.discriminator_widths {
            blocks.push(Linear::new(width, w, rng)?);
            width = w;
        }
        let output = Linear::new(width, 1, rng)?;
        let spectral_norms = if a.spectral_norm {
            blocks.iter().chain([&output]).map(|l| SpectralNorm::new(l.weight.dim(0)?, rng)).collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        Ok(Self { axes: axes.clone(), embedding, blocks, output, spectral_norms, dropout: a.dropout })
    }

    /// One power iteration of every spectral normalisation; once per discriminator update.
    pub fn iterate_spectral_norms(&mut self) -> Result<()> {
        for (norm, layer) in self.spectral_norms.iter_mut().zip(self.blocks.iter().chain([&self.output])) {
            norm.iterate(layer.weight.as_tensor())?;
        }
        Ok(())
    }

    fn weight(&self, i: usize, layer: &Linear) -> Result<Tensor> {
        match self.spectral_norms.get(i) {
            Some(norm) => norm.apply(layer.weight.as_tensor()),
            None => Ok(layer.weight.as_tensor().clone()),
        }
    }

    /// Logits `[n]` of the pairs (`exemplar`, `candidate`) of `classes`; `dropout` draws
    /// the masks (training).
    pub fn forward(&self, exemplar: &Tensor, candidate: &Tensor, classes: &Tensor, dropout: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let along = |x: &Tensor| x.matmul(&self.axes.t()?);
        let mut h = Tensor::cat(&[&along(exemplar)?, &along(&(candidate - exemplar)?)?, &self.embedding.forward(classes)?], 1)?;
        let mut dropout = dropout;
        for (i, linear) in self.blocks.iter().enumerate() {
            h = leaky_relu(&linear.forward_with(&h, &self.weight(i, linear)?)?, LEAKY_SLOPE)?;
            if let Some(rng) = dropout.as_deref_mut() {
                h = h.mul(&rng::dropout_mask(rng, h.dims2()?, self.dropout)?)?;
            }
        }
        Ok(self.output.forward_with(&h, &self.weight(self.blocks.len(), &self.output)?)?.squeeze(1)?)
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<candle_core::Var> {
        let mut vars = vec![self.embedding.table.clone()];
        for linear in self.blocks.iter().chain([&self.output]) {
            vars.extend(linear.vars());
        }
        vars
    }

    /// Every tensor (parameters and power-iteration vectors) by name.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        let mut t: HashMap<String, Tensor> = self.vars().iter().enumerate().map(|(i, v)| (i.to_string(), v.as_tensor().clone())).collect();
        for (i, norm) in self.spectral_norms.iter().enumerate() {
            t.insert(format!("sn{i}"), norm.u.clone());
        }
        t
    }

    /// Overwrites every tensor from `tensors` (as written by [`Discriminator::tensors`]).
    pub fn load(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let get = |key: &str| tensors.get(key).ok_or_else(|| Error::Invalid(format!("discriminator state lacks {key}")));
        for (i, var) in self.vars().iter().enumerate() {
            var.set(get(&i.to_string())?)?;
        }
        for (i, norm) in self.spectral_norms.iter_mut().enumerate() {
            norm.u = get(&format!("sn{i}"))?.copy()?;
        }
        Ok(())
    }
}

/// The number of axes in `axes` (`[components, bands]`), checked against `config`.
fn check_axes(config: &DaganConfig, axes: &Tensor) -> Result<usize> {
    let (components, bands) = axes.dims2()?;
    if bands != config.bands || components == 0 || components > config.architecture.components {
        return Err(Error::Invalid(format!(
            "{components} principal axes of {bands} bands for a model of {} bands and at most {} components",
            config.bands, config.architecture.components
        )));
    }
    Ok(components)
}

/// The exemplars an exported generator picks from: standardised-log spectra, class by
/// class, at most [`DaganArchitecture::exemplars`] per class (a seeded subset beyond).
#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarTable {
    /// `[rows, bands]`, every class's exemplars in class order.
    pub spectra: ndarray::Array2<f32>,
    /// Per class index, how many rows it has.
    pub counts: Vec<usize>,
}

impl ExemplarTable {
    /// The exemplars of `spectra` (`[n, bands]`, standardised logarithms) of class indices
    /// `classes`, at most `per_class` of each, the subset drawn with `seed`; every class
    /// needs at least one.
    pub fn of(spectra: ndarray::ArrayView2<'_, f32>, classes: &[u32], n_classes: usize, per_class: usize, seed: u64) -> Result<Self> {
        use rand::seq::SliceRandom;
        let mut rng = rng::stream(seed, 0, 0);
        let mut rows = Vec::new();
        let mut counts = Vec::with_capacity(n_classes);
        for c in 0..n_classes as u32 {
            let mut members: Vec<usize> = (0..classes.len()).filter(|&r| classes[r] == c).collect();
            if members.is_empty() {
                return Err(Error::Invalid(format!("class index {c} has no exemplar")));
            }
            if members.len() > per_class {
                members.shuffle(&mut rng);
                members.truncate(per_class.max(1));
                members.sort_unstable();
            }
            counts.push(members.len());
            rows.extend(members);
        }
        Ok(Self { spectra: spectra.select(ndarray::Axis(0), &rows), counts })
    }

    /// Per class index, its first row.
    pub fn starts(&self) -> Vec<usize> {
        self.counts.iter().scan(0, |next, &n| Some(*next).inspect(|_| *next += n)).collect()
    }

    /// The row the exported graph picks for `class` from the noise value `u`:
    /// `floor(Φ(u) · count)`, at most `count - 1`, from the class's first row.
    pub fn pick(&self, class: usize, u: f64) -> usize {
        let (start, count) = (self.counts[..class].iter().sum::<usize>(), self.counts[class]);
        start + ((hypersynth_spectral::normal_cdf(u) * count as f64).floor() as usize).min(count - 1)
    }
}
