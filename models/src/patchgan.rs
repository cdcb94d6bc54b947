//! The PatchGAN discriminator of Pix2Pix and CycleGAN: a few 4x4 convolutions that give one
//! logit per overlapping patch of an image (70 x 70 pixels with 3 layers), so that it
//! judges local texture rather than the whole image.

use std::collections::HashMap;

use candle_core::{Tensor, Var};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::layers::{Conv2d, LEAKY_SLOPE, Norm, NormKind, leaky_relu, swap_batch_and_channels};

/// The shape of a PatchGAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchGanConfig {
    /// Channels of the images it judges.
    pub in_channels: usize,
    /// Stride-2 layers (3 gives the 70 x 70 receptive field).
    pub layers: usize,
    /// Channels of the first layer; each later one doubles them, up to 8 times.
    pub width: usize,
    /// The normalisation after each inner convolution.
    pub norm: NormKind,
}

/// The PatchGAN discriminator.
#[derive(Debug)]
pub struct PatchGan {
    /// Convolutions, first to last.
    pub convs: Vec<Conv2d>,
    /// Their norms (none on the first and last).
    pub norms: Vec<Option<Norm>>,
}

impl PatchGan {
    /// A freshly initialised discriminator.
    pub fn new(config: &PatchGanConfig, rng: &mut ChaCha8Rng) -> Result<Self> {
        let width = |n: usize| config.width * (1 << n.min(3));
        let layers = config.layers;
        let mut d = Self { convs: vec![Conv2d::new(config.in_channels, width(0), 4, 2, 1, rng)?], norms: vec![None] };
        for n in 1..=layers {
            let stride = if n < layers { 2 } else { 1 };
            d.convs.push(Conv2d::new(width(n - 1), width(n), 4, stride, 1, rng)?);
            d.norms.push(Some(Norm::new(config.norm, width(n))?));
        }
        d.convs.push(Conv2d::new(width(layers), 1, 4, 1, 1, rng)?);
        d.norms.push(None);
        Ok(d)
    }

    /// Patch logits `[1, n, h', w']` (channel-first) for images `x` `[n, c, h, w]`.
    pub fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let mut h = swap_batch_and_channels(x)?;
        let last = self.convs.len() - 1;
        for (i, (conv, norm)) in self.convs.iter().zip(self.norms.iter_mut()).enumerate() {
            h = conv.forward(&h)?;
            if let Some(norm) = norm {
                h = norm.forward(&h, true)?;
            }
            if i < last {
                h = leaky_relu(&h, LEAKY_SLOPE)?;
            }
        }
        Ok(h)
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<Var> {
        self.convs.iter().flat_map(Conv2d::vars).chain(self.norms.iter().flatten().flat_map(Norm::vars)).collect()
    }

    /// Every tensor by name.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        let mut state = HashMap::new();
        for (i, (conv, norm)) in self.convs.iter().zip(&self.norms).enumerate() {
            conv.save(&format!("conv{i}"), &mut state);
            if let Some(norm) = norm {
                norm.save(&format!("conv{i}.norm"), &mut state);
            }
        }
        state
    }

    /// Overwrites every tensor from `state` (as written by [`PatchGan::tensors`]).
    pub fn load(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        for (i, (conv, norm)) in self.convs.iter().zip(self.norms.iter_mut()).enumerate() {
            conv.load(&format!("conv{i}"), state)?;
            if let Some(norm) = norm {
                norm.load(&format!("conv{i}.norm"), state)?;
            }
        }
        Ok(())
    }
}
