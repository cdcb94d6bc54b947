//! CycleGAN for super-resolution, after Zhu et al. (2017) and the pytorch-CycleGAN-and-pix2pix
//! reference: a ResNet generator from low-res to high-res (reflection padding, InstanceNorm,
//! a 7x7 stem, stride-2 down-sampling, residual blocks, up-sampling back, a 7x7 head), a
//! [`Degradation`] from high-res to low-res in place of the reference's second ResNet, and
//! two PatchGAN discriminators ([`crate::patchgan`], with InstanceNorm).
//!
//! Both domains are images on the same (high-resolution) grid, the low-res ones resampled
//! there first; the generators see them as normalised principal components. The ResNet
//! refines its input: it outputs the input plus what the network adds, so an image is
//! changed only where the network has learned to change it.

use std::collections::HashMap;

use candle_core::{Tensor, Var};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::layers::{Conv2d, ConvTranspose2d, NormKind, instance_norm, reflect_pad, swap_batch_and_channels};
use crate::patchgan::PatchGanConfig;

/// The CycleGAN's generators and discriminators: the channels of the data they are built
/// for and the architecture chosen for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CycleganConfig {
    /// Channels of both domains' images (normalised principal components).
    pub channels: usize,
    /// The architecture (written beside the channels in cards and checkpoints).
    #[serde(flatten)]
    pub architecture: CycleganArchitecture,
}

/// The architecture of a CycleGAN, whatever data it is trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CycleganArchitecture {
    /// Channels of the generator's stem; each down-sampling doubles them.
    pub width: usize,
    /// Stride-2 down-samplings (and as many up-samplings); tiles must be a multiple of
    /// `2^downsamplings` pixels wide and high.
    pub downsamplings: usize,
    /// Residual blocks at the lowest resolution.
    pub blocks: usize,
    /// Stride-2 layers of the PatchGANs (3 gives the 70x70 receptive field).
    pub discriminator_layers: usize,
    /// Channels of the PatchGANs' first layer.
    pub discriminator_width: usize,
    /// The head's output is multiplied by this before it is added to the input: Adam moves
    /// every head weight by about the learning rate at each step, which over the head's
    /// many inputs would shift the image far more than a refinement should.
    pub refinement_scale: f64,
}

impl Default for CycleganArchitecture {
    /// A 16-channel stem, 1 down-sampling (tiles a multiple of 2), 2 residual blocks, 70x70
    /// PatchGANs of width 32; far smaller than the reference's (64 channels, 2
    /// down-samplings, 9 blocks), so that it trains on a CPU in minutes. Measured on
    /// SalinasA in `docs/SUPER_RESOLUTION.md`.
    fn default() -> Self {
        Self {
            width: 16,
            downsamplings: 1,
            blocks: 2,
            discriminator_layers: 3,
            discriminator_width: 32,
            refinement_scale: REFINEMENT_SCALE,
        }
    }
}

impl CycleganConfig {
    /// The networks of `architecture` for images of `channels` channels.
    pub fn new(channels: usize, architecture: CycleganArchitecture) -> Self {
        Self { channels, architecture }
    }

    /// Tile sides must be a multiple of this.
    pub fn multiple(&self) -> usize {
        1 << self.architecture.downsamplings
    }

    /// The discriminator of either domain.
    pub fn discriminator(&self) -> PatchGanConfig {
        PatchGanConfig {
            in_channels: self.channels,
            layers: self.architecture.discriminator_layers,
            width: self.architecture.discriminator_width,
            norm: NormKind::Instance,
        }
    }
}

/// The default [`CycleganConfig::refinement_scale`].
const REFINEMENT_SCALE: f64 = 0.05;

/// Pixels of reflection padding before the 7x7 stem and head.
pub const OUTER_PADDING: usize = 3;

/// A residual block: reflect-pad, 3x3 conv, InstanceNorm, ReLU, reflect-pad, 3x3 conv,
/// InstanceNorm, plus the block's input.
#[derive(Debug)]
pub struct ResidualBlock {
    /// The two convolutions.
    pub convs: [Conv2d; 2],
}

/// The ResNet generator.
#[derive(Debug)]
pub struct ResnetGenerator {
    /// 7x7 convolution after reflection padding.
    pub stem: Conv2d,
    /// 3x3 stride-2 convolutions.
    pub down: Vec<Conv2d>,
    /// Residual blocks.
    pub blocks: Vec<ResidualBlock>,
    /// 4x4 stride-2 transposed convolutions.
    pub up: Vec<ConvTranspose2d>,
    /// 7x7 convolution after reflection padding, to the image's channels: what is added to
    /// the input, times `refinement_scale`.
    pub head: Conv2d,
    /// See [`CycleganConfig::refinement_scale`].
    pub refinement_scale: f64,
}

impl ResnetGenerator {
    /// A freshly initialised generator.
    pub fn new(config: &CycleganConfig, rng: &mut ChaCha8Rng) -> Result<Self> {
        let (c, w, d) = (config.channels, config.architecture.width, config.architecture.downsamplings);
        let stem = Conv2d::new(c, w, 7, 1, 0, rng)?;
        let down = (0..d).map(|i| Conv2d::new(w << i, w << (i + 1), 3, 2, 1, rng)).collect::<Result<Vec<_>>>()?;
        let inner = w << d;
        let blocks = (0..config.architecture.blocks)
            .map(|_| Ok(ResidualBlock { convs: [Conv2d::new(inner, inner, 3, 1, 0, rng)?, Conv2d::new(inner, inner, 3, 1, 0, rng)?] }))
            .collect::<Result<Vec<_>>>()?;
        let up = (0..d).rev().map(|i| ConvTranspose2d::new(w << (i + 1), w << i, 4, 2, 1, rng)).collect::<Result<Vec<_>>>()?;
        let head = Conv2d::new(w, c, 7, 1, 0, rng)?;
        // The head starts at zero: an untrained generator returns its input unchanged.
        head.weight.set(&head.weight.zeros_like()?)?;
        Ok(Self { stem, down, blocks, up, head, refinement_scale: config.architecture.refinement_scale })
    }

    /// `[n, c, h, w]` to `[n, c, h, w]`: the input plus the network's refinement; `h` and
    /// `w` must be multiples of `2^downsamplings`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let norm_relu = |h: Tensor| -> Result<Tensor> { Ok(instance_norm(&h)?.relu()?) };
        let mut h = swap_batch_and_channels(x)?;
        h = norm_relu(self.stem.forward(&reflect_pad(&h, OUTER_PADDING)?)?)?;
        for conv in &self.down {
            h = norm_relu(conv.forward(&h)?)?;
        }
        for block in &self.blocks {
            let inner = norm_relu(block.convs[0].forward(&reflect_pad(&h, 1)?)?)?;
            h = (&h + instance_norm(&block.convs[1].forward(&reflect_pad(&inner, 1)?)?)?)?;
        }
        for conv in &self.up {
            h = norm_relu(conv.forward(&h)?)?;
        }
        let added = self.head.forward(&reflect_pad(&h, OUTER_PADDING)?)?.affine(self.refinement_scale, 0.0)?;
        Ok((x + swap_batch_and_channels(&added)?)?)
    }

    /// Every convolution with its saved name.
    fn named(&self) -> Vec<(String, &Conv2d)> {
        let mut named = vec![("stem".to_string(), &self.stem), ("head".to_string(), &self.head)];
        named.extend(self.down.iter().enumerate().map(|(i, c)| (format!("down{i}"), c)));
        for (i, block) in self.blocks.iter().enumerate() {
            named.extend(block.convs.iter().enumerate().map(|(j, c)| (format!("block{i}.conv{j}"), c)));
        }
        named
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<Var> {
        self.named().into_iter().flat_map(|(_, c)| c.vars()).chain(self.up.iter().flat_map(ConvTranspose2d::vars)).collect()
    }

    /// Every tensor by name.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        let mut state = HashMap::new();
        for (name, conv) in self.named() {
            conv.save(&name, &mut state);
        }
        for (i, conv) in self.up.iter().enumerate() {
            conv.save(&format!("up{i}"), &mut state);
        }
        state
    }

    /// Overwrites every tensor from `state` (as written by [`ResnetGenerator::tensors`]).
    pub fn load(&self, state: &HashMap<String, Tensor>) -> Result<()> {
        for (name, conv) in self.named() {
            conv.load(&name, state)?;
        }
        for (i, conv) in self.up.iter().enumerate() {
            conv.load(&format!("up{i}"), state)?;
        }
        Ok(())
    }
}

/// The high-res → low-res generator: CycleGAN's second generator restricted to a model of
/// how the low-res images came about. A learned blur (one kernel shared by every channel
/// and image, its weights a softmax, so positive and summing to 1; reflection padding),
/// then the mean of each `scale`x`scale` block (one low-res pixel) taken `psf_offset`
/// high-res pixels from the block's centre, then cubic convolution back to the high-res
/// grid with each low-res value placed there, as the low-res scenes themselves were
/// resampled. Its discriminator only has to settle the blur, and the high → low → high
/// round trip then trains the refining generator on pairs that look like the real low-res
/// images.
///
/// The offset is not learned: which fine pixels a coarse pixel saw cannot be told from
/// unpaired scenes (shifting every coarse value by the same fraction of a pixel leaves the
/// images' statistics as they were), so it is a setting, `[0, 0]` for coarse pixels centred
/// on their blocks.
#[derive(Debug)]
pub struct Degradation {
    /// `[k·k]` kernel logits divided by [`LOGIT_GAIN`], row-major.
    pub logits: Var,
    /// Kernel side (odd).
    pub kernel: usize,
    /// High-res pixels per low-res pixel along each axis.
    pub scale: usize,
    /// Where each low-res pixel is centred, in high-res pixels (rows, columns) from the
    /// centre of its block.
    pub psf_offset: [f64; 2],
}

/// The side of the [`Degradation`]'s blur kernel.
pub const BLUR_KERNEL: usize = 9;

/// The kernel's logits are this times the trained values: Adam moves every parameter by
/// about the learning rate per step, which over a few hundred steps would leave the blur
/// near where it started. Measured with `bench/super_resolution.sh` at x2 (PSNR gain over
/// bicubic, block means on SalinasA / EnMAP): 1 gave -0.24 dB on SalinasA, 30 +0.34 /
/// -0.52, 100 +0.45 / +0.32, but 100 took the blur + block means of the tests from +1.14
/// to +0.71 dB; the other recipes alike for 30 and 100.
const LOGIT_GAIN: f64 = 30.0;

impl Degradation {
    /// A degradation by `scale`, low-res pixels centred `psf_offset` high-res pixels from
    /// their blocks' centres, whose blur starts as a Gaussian of one pixel's standard
    /// deviation.
    pub fn new(scale: usize, psf_offset: [f64; 2]) -> Result<Self> {
        let k = BLUR_KERNEL;
        let centre = (k / 2) as f32;
        let gaussian = |i: usize| -(((i / k) as f32 - centre).powi(2) + ((i % k) as f32 - centre).powi(2)) / 2.0;
        let logits: Vec<f32> = (0..k * k).map(|i| gaussian(i) / LOGIT_GAIN as f32).collect();
        Ok(Self { logits: Var::from_tensor(&Tensor::new(logits, &candle_core::Device::Cpu)?)?, kernel: k, scale, psf_offset })
    }

    /// The blur kernel's weights, `[k·k]`.
    pub fn weights(&self) -> Result<Tensor> {
        Ok(candle_nn::ops::softmax(&self.logits.as_tensor().affine(LOGIT_GAIN, 0.0)?, 0)?)
    }

    /// `[n, c, h, w]` blurred, the same shape.
    pub fn blur(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        // Every plane as one image of one channel.
        let planes = reflect_pad(&x.reshape((1, n * c, h, w))?, self.kernel / 2)?;
        let (_, columns) = crate::im2col::unfold(&planes, self.kernel, 1, 0)?;
        Ok(self.weights()?.unsqueeze(0)?.matmul(&columns)?.reshape((n, c, h, w))?)
    }

    /// `[n, c, h, w]` blurred and averaged over each block around the point `psf_offset`
    /// from its centre: `[n, c, h / scale, w / scale]`.
    fn sample(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let s = self.scale;
        let [row_offset, col_offset] = self.psf_offset;
        let mut blurred = self.blur(x)?;
        // Moved by the offset, so that each block's mean is taken around the coarse pixel's centre.
        if col_offset != 0.0 {
            blurred = blurred.broadcast_matmul(&cubic_shift(w, col_offset)?.t()?)?;
        }
        if row_offset != 0.0 {
            blurred = blurred.transpose(2, 3)?.broadcast_matmul(&cubic_shift(h, row_offset)?.t()?)?.transpose(2, 3)?;
        }
        Ok(blurred.reshape((n, c, h / s, s, w / s, s))?.mean(5)?.mean(3)?)
    }

    /// `[n, c, h, w]` degraded to low resolution and resampled back, the same shape; `h`
    /// and `w` must be multiples of the scale.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let s = self.scale;
        if h % s != 0 || w % s != 0 {
            return Err(crate::Error::Invalid(format!("{h} x {w} pixels do not divide into {s}x{s} blocks")));
        }
        let [row_offset, col_offset] = self.psf_offset;
        let low = self.sample(x)?;
        // Cubic convolution along the columns, then along the rows.
        let along_cols = low.broadcast_matmul(&cubic_upsampling(w / s, s, col_offset)?.t()?)?;
        Ok(along_cols.transpose(2, 3)?.broadcast_matmul(&cubic_upsampling(h / s, s, row_offset)?.t()?)?.transpose(2, 3)?)
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<Var> {
        vec![self.logits.clone()]
    }

    /// Every tensor by name.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        HashMap::from([("logits".to_string(), self.logits.as_tensor().clone())])
    }

    /// Overwrites the kernel from `state` (as written by [`Degradation::tensors`]).
    pub fn load(&self, state: &HashMap<String, Tensor>) -> Result<()> {
        let logits = state.get("logits").ok_or_else(|| crate::Error::Invalid("saved state lacks the blur's logits".into()))?;
        Ok(self.logits.set(logits)?)
    }
}

/// `[low·scale, low]`: cubic convolution (Keys, a = -0.5, GDAL's "cubic") from `low`
/// pixels to `low·scale`, pixel centres aligned as GDAL aligns them, then each low-res
/// value moved `offset` high-res pixels (as a shifted source window moves them), the
/// samples past either end clamped to the edge.
fn cubic_upsampling(low: usize, scale: usize, offset: f64) -> Result<Tensor> {
    cubic_matrix(low * scale, low, |j| (j as f64 + 0.5 - offset) / scale as f64 - 0.5)
}

/// `[n, n]`: cubic convolution from `n` pixels to the same `n` moved by `offset` pixels
/// (pixel `j` takes the value at `j + offset`), clamped at the edges.
fn cubic_shift(n: usize, offset: f64) -> Result<Tensor> {
    cubic_matrix(n, n, |j| j as f64 + offset)
}

/// `[outputs, inputs]`: output `j` is cubic convolution (Keys, a = -0.5) of the inputs at
/// position `at(j)` (in input pixels), the samples past either end clamped to the edge.
fn cubic_matrix(outputs: usize, inputs: usize, at: impl Fn(usize) -> f64) -> Result<Tensor> {
    let keys = |d: f64| {
        let d = d.abs();
        if d <= 1.0 {
            1.5 * d.powi(3) - 2.5 * d.powi(2) + 1.0
        } else if d < 2.0 {
            -0.5 * d.powi(3) + 2.5 * d.powi(2) - 4.0 * d + 2.0
        } else {
            0.0
        }
    };
    let mut weights = vec![0f32; outputs * inputs];
    for j in 0..outputs {
        let x = at(j);
        let base = x.floor() as i64;
        for tap in base - 1..=base + 2 {
            let source = tap.clamp(0, inputs as i64 - 1) as usize;
            weights[j * inputs + source] += keys(x - tap as f64) as f32;
        }
    }
    Ok(Tensor::from_vec(weights, (outputs, inputs), &candle_core::Device::Cpu)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;

    #[test]
    fn the_generator_keeps_the_size_and_refines_its_input() {
        let config = CycleganConfig::new(3, CycleganArchitecture { width: 4, blocks: 1, ..Default::default() });
        let mut stream = rng::stream(2, 0, 0);
        let g = ResnetGenerator::new(&config, &mut stream).unwrap();
        let x = rng::uniform(&mut stream, &[2, 3, 32, 36], 1.0).unwrap();
        let y = g.forward(&x).unwrap();
        assert_eq!(y.dims(), x.dims());
        // The head starts at zero: a fresh generator returns its input.
        let same = (&y - &x).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(same, 0.0);
        let mut d = crate::patchgan::PatchGan::new(&config.discriminator(), &mut stream).unwrap();
        assert_eq!(d.forward(&y).unwrap().dims()[..2], [1, 2]);
    }

    #[test]
    fn the_blur_keeps_constants_and_smooths_edges() {
        let blur = Degradation::new(2, [0.0; 2]).unwrap();
        let weights = blur.weights().unwrap().to_vec1::<f32>().unwrap();
        assert!((weights.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let flat = Tensor::full(3.0f32, (1, 2, 12, 12), &candle_core::Device::Cpu).unwrap();
        let same = (blur.blur(&flat).unwrap() - &flat).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(same < 1e-5);
        let step = Tensor::from_vec(
            (0..144).map(|i| if i % 12 < 6 { 0f32 } else { 1.0 }).collect::<Vec<_>>(),
            (1, 1, 12, 12),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let row = blur.blur(&step).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()[60..72].to_vec();
        assert!(row[5] > 0.05 && row[5] < 0.5 && row[6] > 0.5 && row[6] < 0.95, "{row:?}");
    }

    #[test]
    fn cubic_upsampling_keeps_ramps_and_the_degradation_keeps_constants() {
        let up = cubic_upsampling(8, 2, 0.0).unwrap().to_vec2::<f32>().unwrap();
        assert!(up.iter().all(|row| (row.iter().sum::<f32>() - 1.0).abs() < 1e-6));
        // Low-res pixel i holds 3i; high-res pixel j lies at low-res position (j + 0.5) / 2 - 0.5.
        let ramp: Vec<f32> = (0..8).map(|i| 3.0 * i as f32).collect();
        for (j, row) in up.iter().enumerate().take(13).skip(3) {
            let value: f32 = row.iter().zip(&ramp).map(|(w, v)| w * v).sum();
            assert!((value - 3.0 * ((j as f32 + 0.5) / 2.0 - 0.5)).abs() < 1e-4, "pixel {j}: {value}");
        }
        let flat = Tensor::full(2.0f32, (2, 3, 8, 12), &candle_core::Device::Cpu).unwrap();
        let degraded = Degradation::new(2, [-0.5, 1.0]).unwrap().forward(&flat).unwrap();
        let worst = (degraded - &flat).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(worst < 1e-5);
    }

    #[test]
    fn each_low_res_pixel_is_taken_around_its_offset_centre() {
        // An image whose value is its column (rows: 10 x its row); a blur that keeps it.
        let (h, w) = (12, 12);
        let ramp: Vec<f32> = (0..h * w).map(|i| 10.0 * (i / w) as f32 + (i % w) as f32).collect();
        let x = Tensor::from_vec(ramp, (1, 1, h, w), &candle_core::Device::Cpu).unwrap();
        for (scale, offset) in [(2, [0.0, 0.0]), (2, [-0.5, -0.5]), (3, [1.0, -1.0]), (2, [0.25, 0.5])] {
            let mut degradation = Degradation::new(scale, offset).unwrap();
            let k = degradation.kernel;
            let delta: Vec<f32> = (0..k * k).map(|i| if i == k * k / 2 { 0.0 } else { -1e4 }).collect();
            degradation.logits = Var::from_tensor(&Tensor::new(delta, &candle_core::Device::Cpu).unwrap()).unwrap();
            let low = degradation.sample(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let (lw, centre) = (w / scale, (scale as f32 - 1.0) / 2.0);
            // Away from the edges, where clamping bends the ramp.
            for i in 1..h / scale - 1 {
                for j in 1..lw - 1 {
                    let row = (scale * i) as f32 + centre + offset[0] as f32;
                    let col = (scale * j) as f32 + centre + offset[1] as f32;
                    let got = low[i * lw + j];
                    assert!((got - (10.0 * row + col)).abs() < 1e-3, "x{scale} {offset:?}, low-res ({i}, {j}): {got}");
                }
            }
        }
    }
}
