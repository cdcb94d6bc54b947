//! Pix2Pix: a U-Net generator that maps an image to an image of the same size, judged by a
//! PatchGAN discriminator ([`crate::patchgan`]) on (input, output) pairs patch by patch, as in Isola et
//! al. (2017) and the pytorch-CycleGAN-and-pix2pix reference (4x4 convolutions of
//! stride 2, BatchNorm, LeakyReLU 0.2 going down, ReLU coming up, dropout in the inner
//! decoder blocks).

use std::collections::HashMap;

use candle_core::{Tensor, Var};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::layers::{BatchNorm, Conv2d, ConvTranspose2d, LEAKY_SLOPE, NormKind, leaky_relu, swap_batch_and_channels};
use crate::patchgan::PatchGanConfig;
use crate::{Result, rng};

/// A Pix2Pix generator and discriminator: the channels of the data they are built for and
/// the architecture chosen for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pix2pixConfig {
    /// Channels the U-Net reads.
    pub in_channels: usize,
    /// Channels it writes (1 for a damage probability).
    pub out_channels: usize,
    /// The architecture (written beside the channels in cards and checkpoints).
    #[serde(flatten)]
    pub architecture: Pix2pixArchitecture,
}

/// The architecture of a Pix2Pix model, whatever data it is trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pix2pixArchitecture {
    /// Down-sampling steps; tiles must be a multiple of `2^depth` pixels wide and high.
    pub depth: usize,
    /// Channels of the first encoder level; each level doubles them up to `max_width`.
    pub base_width: usize,
    /// The most channels of any level.
    pub max_width: usize,
    /// Dropout probability of the inner decoder blocks while training (the generator's
    /// noise source); inference runs without dropout.
    pub dropout: f64,
    /// Stride-2 layers of the PatchGAN (3 gives the 70x70 receptive field).
    pub discriminator_layers: usize,
    /// Channels of the PatchGAN's first layer.
    pub discriminator_width: usize,
}

impl Default for Pix2pixArchitecture {
    /// Depth 4 (tiles a multiple of 16), 32 to 256 channels, dropout 0.5, a 70x70 PatchGAN.
    fn default() -> Self {
        Self { depth: 4, base_width: 32, max_width: 256, dropout: 0.5, discriminator_layers: 3, discriminator_width: 32 }
    }
}

impl Pix2pixConfig {
    /// The networks of `architecture` for `in_channels` inputs and `out_channels` outputs.
    pub fn new(in_channels: usize, out_channels: usize, architecture: Pix2pixArchitecture) -> Self {
        Self { in_channels, out_channels, architecture }
    }

    /// Channels of each encoder level.
    pub fn widths(&self) -> Vec<usize> {
        (0..self.architecture.depth).map(|i| (self.architecture.base_width << i).min(self.architecture.max_width)).collect()
    }

    /// Tile sides must be a multiple of this.
    pub fn multiple(&self) -> usize {
        1 << self.architecture.depth
    }

    /// The discriminator: a PatchGAN with BatchNorm on (input, output) pairs.
    pub fn discriminator(&self) -> PatchGanConfig {
        PatchGanConfig {
            in_channels: self.in_channels + self.out_channels,
            layers: self.architecture.discriminator_layers,
            width: self.architecture.discriminator_width,
            norm: NormKind::Batch,
        }
    }

    /// Whether decoder block `i` (0 = outermost) uses dropout: the up to three blocks just
    /// outside the innermost one, as the reference's `unet_256`.
    pub fn has_dropout(&self, i: usize) -> bool {
        i >= 1 && i + 1 < self.architecture.depth && i + 4 >= self.architecture.depth
    }
}

/// The U-Net generator.
#[derive(Debug)]
pub struct UNet {
    /// Encoder convolutions, outermost first.
    pub down: Vec<Conv2d>,
    /// Their norms (none on the outermost and innermost).
    pub down_norms: Vec<Option<BatchNorm>>,
    /// Decoder transposed convolutions; `up[i]` writes level `i`'s resolution.
    pub up: Vec<ConvTranspose2d>,
    /// Their norms (none on the outermost).
    pub up_norms: Vec<Option<BatchNorm>>,
}

impl UNet {
    /// A freshly initialised generator.
    pub fn new(config: &Pix2pixConfig, rng: &mut ChaCha8Rng) -> Result<Self> {
        let (w, d) = (config.widths(), config.architecture.depth);
        if d < 2 {
            return Err(crate::Error::Invalid(format!("a U-Net needs a depth of at least 2, not {d}")));
        }
        let mut net = Self { down: Vec::new(), down_norms: Vec::new(), up: Vec::new(), up_norms: Vec::new() };
        for i in 0..d {
            let inputs = if i == 0 { config.in_channels } else { w[i - 1] };
            net.down.push(Conv2d::new(inputs, w[i], 4, 2, 1, rng)?);
            net.down_norms.push(if i == 0 || i == d - 1 { None } else { Some(BatchNorm::new(w[i])?) });
        }
        for i in 0..d {
            let inputs = if i == d - 1 { w[i] } else { 2 * w[i] };
            let outputs = if i == 0 { config.out_channels } else { w[i - 1] };
            net.up.push(ConvTranspose2d::new(inputs, outputs, 4, 2, 1, rng)?);
            net.up_norms.push(if i == 0 { None } else { Some(BatchNorm::new(outputs)?) });
        }
        Ok(net)
    }

    /// `[n, in, h, w]` to `[n, out, h, w]` in `(0, 1)` (a sigmoid); with `train`, batch
    /// statistics and dropout drawn from `rng`.
    pub fn forward(&mut self, x: &Tensor, config: &Pix2pixConfig, train: bool, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        let d = config.architecture.depth;
        let mut skips = Vec::with_capacity(d);
        let mut h = swap_batch_and_channels(x)?;
        for i in 0..d {
            if i > 0 {
                h = leaky_relu(&h, LEAKY_SLOPE)?;
            }
            h = self.down[i].forward(&h)?;
            if let Some(norm) = self.down_norms[i].as_mut() {
                h = norm.forward(&h, train)?;
            }
            skips.push(h.clone());
        }
        for i in (0..d).rev() {
            let input = if i == d - 1 { h } else { Tensor::cat(&[&skips[i], &h], 0)? };
            h = self.up[i].forward(&input.relu()?)?;
            if let Some(norm) = self.up_norms[i].as_mut() {
                h = norm.forward(&h, train)?;
            }
            if train && config.architecture.dropout > 0.0 && config.has_dropout(i) {
                let dims = h.dims().to_vec();
                let mask = rng::dropout_mask(rng, (dims[0], h.elem_count() / dims[0]), config.architecture.dropout)?;
                h = (h * mask.reshape(dims)?)?;
            }
        }
        swap_batch_and_channels(&sigmoid(&h)?)
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<Var> {
        let convs = self.down.iter().flat_map(Conv2d::vars).chain(self.up.iter().flat_map(ConvTranspose2d::vars));
        let norms = self.down_norms.iter().chain(&self.up_norms).flatten().flat_map(BatchNorm::vars);
        convs.chain(norms).collect()
    }

    /// Every tensor, running statistics included, by name.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        let mut state = HashMap::new();
        for (i, conv) in self.down.iter().enumerate() {
            conv.save(&format!("down{i}"), &mut state);
        }
        for (i, conv) in self.up.iter().enumerate() {
            conv.save(&format!("up{i}"), &mut state);
        }
        for (name, norm) in norm_names(&self.down_norms, &self.up_norms) {
            norm.save(&name, &mut state);
        }
        state
    }

    /// Overwrites every tensor from `state` (as written by [`UNet::tensors`]).
    pub fn load(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        for (i, conv) in self.down.iter().enumerate() {
            conv.load(&format!("down{i}"), state)?;
        }
        for (i, conv) in self.up.iter().enumerate() {
            conv.load(&format!("up{i}"), state)?;
        }
        for (i, norm) in self.down_norms.iter_mut().enumerate() {
            if let Some(norm) = norm {
                norm.load(&format!("down{i}.norm"), state)?;
            }
        }
        for (i, norm) in self.up_norms.iter_mut().enumerate() {
            if let Some(norm) = norm {
                norm.load(&format!("up{i}.norm"), state)?;
            }
        }
        Ok(())
    }
}

/// The saved names of the U-Net's norms.
fn norm_names<'a>(down: &'a [Option<BatchNorm>], up: &'a [Option<BatchNorm>]) -> impl Iterator<Item = (String, &'a BatchNorm)> {
    let named = |side: &'static str, norms: &'a [Option<BatchNorm>]| {
        norms.iter().enumerate().filter_map(move |(i, n)| n.as_ref().map(|n| (format!("{side}{i}.norm"), n)))
    };
    named("down", down).chain(named("up", up))
}

/// `1 / (1 + exp(-x))`, through `tanh` so that it has a gradient in candle.
fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok(x.affine(0.5, 0.0)?.tanh()?.affine(0.5, 0.5)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unet_keeps_the_size_and_the_patchgan_judges_patches() {
        let config =
            Pix2pixConfig::new(3, 1, Pix2pixArchitecture { base_width: 4, max_width: 8, discriminator_width: 4, ..Default::default() });
        let mut rng = rng::stream(1, 0, 0);
        let mut g = UNet::new(&config, &mut rng).unwrap();
        let mut d = crate::patchgan::PatchGan::new(&config.discriminator(), &mut rng).unwrap();
        let x = rng::uniform(&mut rng, &[2, 3, 32, 32], 1.0).unwrap();
        let y = g.forward(&x, &config, true, &mut rng).unwrap();
        assert_eq!(y.dims(), &[2, 1, 32, 32]);
        let values = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(values.iter().all(|v| *v > 0.0 && *v < 1.0));
        assert_eq!(d.forward(&Tensor::cat(&[&x, &y], 1).unwrap()).unwrap().dims(), &[1, 2, 2, 2]);
    }
}
