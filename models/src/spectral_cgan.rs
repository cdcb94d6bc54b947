//! The spectral conditional GAN: a generator of spectra per class, and the discriminator
//! that judges (spectrum, class) pairs.

use std::collections::HashMap;

use candle_core::{Device, Tensor, Var};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::layers::{BatchNorm, Embedding, LEAKY_SLOPE, Linear, SpectralNorm, leaky_relu};
use crate::{Result, rng};

/// The spectral cGAN's networks: the shape of the data they are built for and the
/// architecture chosen for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectralCganConfig {
    /// Values per generated spectrum: the dimensions of the normalised space (bands, or
    /// principal components), which the exported graph maps to physical bands.
    pub bands: usize,
    /// Number of classes.
    pub classes: usize,
    /// The architecture (written beside `bands` and `classes` in cards and checkpoints).
    #[serde(flatten)]
    pub architecture: SpectralCganArchitecture,
}

impl SpectralCganConfig {
    /// The networks of `architecture` for spectra of `bands` values and `classes` classes.
    pub fn new(bands: usize, classes: usize, architecture: SpectralCganArchitecture) -> Self {
        Self { bands, classes, architecture }
    }
}

/// The architecture of the spectral cGAN, whatever data it is trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectralCganArchitecture {
    /// Length of the noise vector `z`.
    pub latent: usize,
    /// Length of the class embedding concatenated to `z` and to D's input.
    pub embedding: usize,
    /// Widths of the generator's Linear -> BatchNorm -> LeakyReLU(0.2) blocks.
    pub generator_widths: Vec<usize>,
    /// Widths of the discriminator's Linear -> LeakyReLU(0.2) -> Dropout blocks.
    pub discriminator_widths: Vec<usize>,
    /// Dropout probability in the discriminator.
    pub dropout: f64,
    /// Whether the discriminator has an auxiliary class head (AC-GAN).
    pub aux_classifier: bool,
    /// Whether the discriminator's hidden layers and head are spectrally normalised.
    #[serde(default)]
    pub spectral_norm: bool,
    /// Whether the discriminator is an autoencoder (BEGAN): a linear decoder from its last
    /// hidden layer back to the spectrum, and minus the mean absolute reconstruction error
    /// as its logit.
    #[serde(default)]
    pub autoencoder: bool,
}

impl Default for SpectralCganArchitecture {
    /// The default architecture.
    fn default() -> Self {
        Self {
            latent: 32,
            embedding: 16,
            generator_widths: vec![128, 256],
            discriminator_widths: vec![256, 128],
            dropout: 0.4,
            aux_classifier: false,
            spectral_norm: false,
            autoencoder: false,
        }
    }
}

/// `z` `[n, latent]` and class ids `[n]` to normalised spectra `[n, bands]` in (-1, 1):
/// embedding ++ z -> blocks of Linear -> BatchNorm -> LeakyReLU(0.2) -> Linear -> Tanh.
#[derive(Debug)]
pub struct Generator {
    /// Class embedding.
    pub embedding: Embedding,
    /// Hidden blocks.
    pub blocks: Vec<(Linear, BatchNorm)>,
    /// Output layer.
    pub output: Linear,
}

impl Generator {
    /// A freshly initialised generator.
    pub fn new(config: &SpectralCganConfig, rng: &mut ChaCha8Rng) -> Result<Self> {
        let embedding = Embedding::new(config.classes, config.architecture.embedding, rng)?;
        let mut width = config.architecture.latent + config.architecture.embedding;
        let mut blocks = Vec::new();
        for &w in &config.architecture.generator_widths {
            blocks.push((Linear::new(width, w, rng)?, BatchNorm::new(w)?));
            width = w;
        }
        Ok(Self { embedding, blocks, output: Linear::new(width, config.bands, rng)? })
    }

    /// Generates normalised spectra; `train` uses batch statistics in BatchNorm.
    pub fn forward(&mut self, z: &Tensor, classes: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = Tensor::cat(&[z, &self.embedding.forward(classes)?], 1)?;
        for (linear, norm) in &mut self.blocks {
            h = leaky_relu(&norm.forward(&linear.forward(&h)?, train)?, LEAKY_SLOPE)?;
        }
        Ok(self.output.forward(&h)?.tanh()?)
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<Var> {
        let mut vars = vec![self.embedding.table.clone()];
        for (linear, norm) in &self.blocks {
            vars.extend(linear.vars());
            vars.extend(norm.vars());
        }
        vars.extend(self.output.vars());
        vars
    }

    /// Every tensor of the generator (parameters and running statistics) by name.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        let mut t = HashMap::new();
        t.insert("embedding".to_string(), self.embedding.table.as_tensor().clone());
        for (i, (linear, norm)) in self.blocks.iter().enumerate() {
            t.insert(format!("block{i}.weight"), linear.weight.as_tensor().clone());
            t.insert(format!("block{i}.bias"), linear.bias.as_tensor().clone());
            t.insert(format!("block{i}.gamma"), norm.gamma.as_tensor().clone());
            t.insert(format!("block{i}.beta"), norm.beta.as_tensor().clone());
            t.insert(format!("block{i}.running_mean"), norm.running_mean.clone());
            t.insert(format!("block{i}.running_var"), norm.running_var.clone());
        }
        t.insert("output.weight".to_string(), self.output.weight.as_tensor().clone());
        t.insert("output.bias".to_string(), self.output.bias.as_tensor().clone());
        t
    }

    /// Overwrites every tensor from `tensors` (as written by [`Generator::tensors`]).
    pub fn load(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let get = |key: &str| tensors.get(key).ok_or_else(|| crate::Error::Invalid(format!("generator state lacks {key}")));
        self.embedding.table.set(get("embedding")?)?;
        for (i, (linear, norm)) in self.blocks.iter_mut().enumerate() {
            linear.weight.set(get(&format!("block{i}.weight"))?)?;
            linear.bias.set(get(&format!("block{i}.bias"))?)?;
            norm.gamma.set(get(&format!("block{i}.gamma"))?)?;
            norm.beta.set(get(&format!("block{i}.beta"))?)?;
            norm.running_mean = get(&format!("block{i}.running_mean"))?.copy()?;
            norm.running_var = get(&format!("block{i}.running_var"))?.copy()?;
        }
        self.output.weight.set(get("output.weight")?)?;
        self.output.bias.set(get("output.bias")?)?;
        Ok(())
    }

    /// A copy with its own tensors (for the EMA and best-so-far generators).
    pub fn duplicate(&self, config: &SpectralCganConfig) -> Result<Self> {
        let mut copy = Self::new(config, &mut rng::stream(0, 0, 0))?;
        let tensors = self.tensors().into_iter().map(|(k, v)| v.copy().map(|v| (k, v))).collect::<candle_core::Result<_>>()?;
        copy.load(&tensors)?;
        Ok(copy)
    }

    /// Moves this generator's parameters towards `live` by `1 - decay` (exponential
    /// moving average) and takes its running statistics.
    pub fn ema_update(&mut self, live: &Generator, decay: f64) -> Result<()> {
        for (shadow, current) in self.vars().iter().zip(live.vars()) {
            shadow.set(&(shadow.affine(decay, 0.0)? + current.affine(1.0 - decay, 0.0)?)?)?;
        }
        for ((_, shadow), (_, current)) in self.blocks.iter_mut().zip(&live.blocks) {
            shadow.running_mean = current.running_mean.copy()?;
            shadow.running_var = current.running_var.copy()?;
        }
        Ok(())
    }
}

/// What the discriminator says about a batch.
#[derive(Debug)]
pub struct Judgement {
    /// One logit (or critic value; for an autoencoder, minus the reconstruction error) per
    /// spectrum, `[n]`.
    pub logits: Tensor,
    /// The last hidden layer, `[n, width]`, for feature matching.
    pub features: Tensor,
    /// Class logits of the auxiliary head, `[n, classes]` (AC-GAN only).
    pub class_logits: Option<Tensor>,
}

/// (spectrum, class) to a realness logit: embedding ++ spectrum -> blocks of Linear ->
/// LeakyReLU(0.2) -> Dropout -> Linear(1), with an optional class head.
#[derive(Debug)]
pub struct Discriminator {
    /// Class embedding.
    pub embedding: Embedding,
    /// Hidden layers.
    pub blocks: Vec<Linear>,
    /// Realness head.
    pub output: Linear,
    /// Auxiliary class head (AC-GAN).
    pub class_head: Option<Linear>,
    /// The decoder of an autoencoding discriminator (BEGAN), in place of the realness head.
    pub decoder: Option<Linear>,
    /// Spectral normalisation of the hidden layers and the realness head, in that order
    /// (empty: off).
    pub spectral_norms: Vec<SpectralNorm>,
    dropout: f64,
}

impl Discriminator {
    /// A freshly initialised discriminator.
    pub fn new(config: &SpectralCganConfig, rng: &mut ChaCha8Rng) -> Result<Self> {
        let embedding = Embedding::new(config.classes, config.architecture.embedding, rng)?;
        let mut width = config.bands + config.architecture.embedding;
        let mut blocks = Vec::new();
        for &w in &config.architecture.discriminator_widths {
            blocks.push(Linear::new(width, w, rng)?);
            width = w;
        }
        let output = Linear::new(width, 1, rng)?;
        let class_head = if config.architecture.aux_classifier { Some(Linear::new(width, config.classes, rng)?) } else { None };
        // Drawn after the rest, so that the default discriminator starts the same either way.
        let decoder = if config.architecture.autoencoder { Some(Linear::new(width, config.bands, rng)?) } else { None };
        let spectral_norms = if config.architecture.spectral_norm {
            blocks.iter().chain([&output]).map(|l| SpectralNorm::new(l.weight.dim(0)?, rng)).collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        Ok(Self { embedding, blocks, output, class_head, decoder, spectral_norms, dropout: config.architecture.dropout })
    }

    /// One power iteration of every spectral normalisation (none when it is off); call
    /// once per discriminator update.
    pub fn iterate_spectral_norms(&mut self) -> Result<()> {
        for (norm, layer) in self.spectral_norms.iter_mut().zip(self.blocks.iter().chain([&self.output])) {
            norm.iterate(layer.weight.as_tensor())?;
        }
        Ok(())
    }

    /// Clips every parameter to `±limit` (WGAN's weight clipping).
    pub fn clip(&self, limit: f64) -> Result<()> {
        for var in self.vars() {
            var.set(&var.clamp(-limit, limit)?)?;
        }
        Ok(())
    }

    /// Layer `i`'s weight (the realness head is `blocks.len()`), spectrally normalised when on.
    fn weight(&self, i: usize, layer: &Linear) -> Result<Tensor> {
        match self.spectral_norms.get(i) {
            Some(norm) => norm.apply(layer.weight.as_tensor()),
            None => Ok(layer.weight.as_tensor().clone()),
        }
    }

    /// Judges `x` (`[n, bands]`, normalised) of `classes`; `dropout` draws the masks
    /// (training), `None` runs without dropout.
    pub fn forward(&self, x: &Tensor, classes: &Tensor, dropout: Option<&mut ChaCha8Rng>) -> Result<Judgement> {
        let mut h = Tensor::cat(&[x, &self.embedding.forward(classes)?], 1)?;
        let mut dropout = dropout;
        for (i, linear) in self.blocks.iter().enumerate() {
            h = leaky_relu(&linear.forward_with(&h, &self.weight(i, linear)?)?, LEAKY_SLOPE)?;
            if let Some(rng) = dropout.as_deref_mut() {
                h = h.mul(&rng::dropout_mask(rng, h.dims2()?, self.dropout)?)?;
            }
        }
        let logits = match &self.decoder {
            Some(decoder) => (decoder.forward(&h)? - x)?.abs()?.mean(1)?.neg()?,
            None => self.output.forward_with(&h, &self.weight(self.blocks.len(), &self.output)?)?.squeeze(1)?,
        };
        let class_logits = self.class_head.as_ref().map(|head| head.forward(&h)).transpose()?;
        Ok(Judgement { logits, features: h, class_logits })
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<Var> {
        let mut vars = vec![self.embedding.table.clone()];
        for linear in self.blocks.iter().chain(std::iter::once(&self.output)).chain(self.class_head.as_ref()).chain(self.decoder.as_ref()) {
            vars.extend(linear.vars());
        }
        vars
    }
}

/// Class ids as the `u32` tensor the embeddings take.
pub fn class_tensor(classes: &[u32]) -> Result<Tensor> {
    Ok(Tensor::from_slice(classes, classes.len(), &Device::Cpu)?)
}
