//! The few layers the GANs need, holding their parameters as `Var`s so that training,
//! checkpoints and ONNX export all see the same tensors.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::im2col::{self, Geometry};
use crate::rng;

/// `y = x W^T + b` with `W` `[out, in]`; initialised as PyTorch does (uniform in
/// `±1/sqrt(in)`).
#[derive(Debug)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Var,
    /// `[out]`.
    pub bias: Var,
}

impl Linear {
    /// A new layer from `inputs` to `outputs` features.
    pub fn new(inputs: usize, outputs: usize, rng: &mut ChaCha8Rng) -> Result<Self> {
        let bound = 1.0 / (inputs as f64).sqrt();
        Ok(Self {
            weight: Var::from_tensor(&rng::uniform(rng, &[outputs, inputs], bound)?)?,
            bias: Var::from_tensor(&rng::uniform(rng, &[outputs], bound)?)?,
        })
    }

    /// `[n, in]` to `[n, out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, self.weight.as_tensor())
    }

    /// [`Linear::forward`] with `weight` in place of the layer's own (a normalised copy).
    pub fn forward_with(&self, x: &Tensor, weight: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&weight.t()?)?.broadcast_add(&self.bias)?)
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<Var> {
        vec![self.weight.clone(), self.bias.clone()]
    }
}

/// Spectral normalisation of a [`Linear`] layer (Miyato et al. 2018): the layer runs with
/// `W / σ(W)`, `σ` its largest singular value, estimated by power iteration from a vector
/// kept between updates, so that the layer is 1-Lipschitz.
#[derive(Debug)]
pub struct SpectralNorm {
    /// The estimate of the leading left singular vector, `[out]`, unit length.
    pub u: Tensor,
}

impl SpectralNorm {
    /// A random unit start for a layer of `outputs` features.
    pub fn new(outputs: usize, rng: &mut ChaCha8Rng) -> Result<Self> {
        Ok(Self { u: unit(&rng::uniform(rng, &[outputs], 1.0)?)? })
    }

    /// One power iteration on `weight` (`[out, in]`), outside the gradient.
    pub fn iterate(&mut self, weight: &Tensor) -> Result<()> {
        let w = weight.detach();
        let v = unit(&w.t()?.matmul(&self.u.unsqueeze(1)?)?)?;
        self.u = unit(&w.matmul(&v)?)?.squeeze(1)?;
        Ok(())
    }

    /// `weight / σ` with `σ = uᵀ W v`, `v` the unit `Wᵀ u`; the gradient flows through `W`.
    pub fn apply(&self, weight: &Tensor) -> Result<Tensor> {
        let u = self.u.unsqueeze(1)?;
        let v = unit(&weight.detach().t()?.matmul(&u)?)?;
        let sigma = u.t()?.matmul(&weight.matmul(&v)?)?;
        Ok(weight.broadcast_div(&sigma)?)
    }
}

/// `x / |x|` (all of `x` as one vector).
fn unit(x: &Tensor) -> Result<Tensor> {
    Ok(x.broadcast_div(&x.sqr()?.sum_all()?.affine(1.0, 1e-12)?.sqrt()?)?)
}

/// Batch normalisation per feature: over the rows of `[n, features]`, or over the images,
/// rows and columns of channel-first images `[features, n, h, w]`; with running statistics
/// (momentum 0.1, unbiased running variance, as PyTorch) used outside training.
#[derive(Debug)]
pub struct BatchNorm {
    /// Scale, `[features]`, initialised to 1.
    pub gamma: Var,
    /// Shift, `[features]`, initialised to 0.
    pub beta: Var,
    /// Running mean, `[features]`.
    pub running_mean: Tensor,
    /// Running variance, `[features]`.
    pub running_var: Tensor,
}

/// The epsilon added to the variance.
pub const BATCH_NORM_EPS: f64 = 1e-5;
const BATCH_NORM_MOMENTUM: f64 = 0.1;

impl BatchNorm {
    /// A new layer over `features`.
    pub fn new(features: usize) -> Result<Self> {
        let dev = Device::Cpu;
        Ok(Self {
            gamma: Var::ones(features, DType::F32, &dev)?,
            beta: Var::zeros(features, DType::F32, &dev)?,
            running_mean: Tensor::zeros(features, DType::F32, &dev)?,
            running_var: Tensor::ones(features, DType::F32, &dev)?,
        })
    }

    /// Normalises `x` (`[n, features]`, or channel-first images `[features, n, h, w]`) with
    /// batch statistics (and updates the running ones) when `train`, else with the running
    /// statistics.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> Result<Tensor> {
        // Images are normalised as `[features, n·h·w]`: each feature's values are one
        // contiguous row, which candle reduces fast.
        let (flat, axis) = if x.rank() == 4 { (x.reshape((x.dim(0)?, ()))?, 1) } else { (x.clone(), 0) };
        let features = flat.dim(1 - axis)?;
        let shape = if axis == 0 { (1, features) } else { (features, 1) };
        let (mean, var) = if train {
            let n = flat.dim(axis)? as f64;
            let mean = flat.mean_keepdim(axis)?;
            let var = flat.broadcast_sub(&mean)?.sqr()?.mean_keepdim(axis)?;
            let m = BATCH_NORM_MOMENTUM;
            let unbiased = var.affine(n / (n - 1.0).max(1.0), 0.0)?.flatten_all()?.detach();
            self.running_mean = (self.running_mean.affine(1.0 - m, 0.0)? + mean.flatten_all()?.detach().affine(m, 0.0)?)?;
            self.running_var = (self.running_var.affine(1.0 - m, 0.0)? + unbiased.affine(m, 0.0)?)?;
            (mean, var)
        } else {
            (self.running_mean.reshape(shape)?, self.running_var.reshape(shape)?)
        };
        let normalised = flat.broadcast_sub(&mean)?.broadcast_div(&var.affine(1.0, BATCH_NORM_EPS)?.sqrt()?)?;
        let y = normalised.broadcast_mul(&self.gamma.reshape(shape)?)?.broadcast_add(&self.beta.reshape(shape)?)?;
        Ok(y.reshape(x.dims())?)
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<Var> {
        vec![self.gamma.clone(), self.beta.clone()]
    }

    /// Adds every tensor, running statistics included, to `state` under `prefix`.
    pub fn save(&self, prefix: &str, state: &mut HashMap<String, Tensor>) {
        state.insert(format!("{prefix}.gamma"), self.gamma.as_tensor().clone());
        state.insert(format!("{prefix}.beta"), self.beta.as_tensor().clone());
        state.insert(format!("{prefix}.running_mean"), self.running_mean.clone());
        state.insert(format!("{prefix}.running_var"), self.running_var.clone());
    }

    /// Restores what [`BatchNorm::save`] wrote.
    pub fn load(&mut self, prefix: &str, state: &HashMap<String, Tensor>) -> Result<()> {
        self.gamma.set(get(state, prefix, "gamma")?)?;
        self.beta.set(get(state, prefix, "beta")?)?;
        self.running_mean = get(state, prefix, "running_mean")?.copy()?;
        self.running_var = get(state, prefix, "running_var")?.copy()?;
        Ok(())
    }
}

/// Instance normalisation of channel-first images `[c, n, h, w]`: each channel of each
/// image to mean 0 and (biased) variance 1 over its pixels, without learned scale or shift
/// (as CycleGAN's `InstanceNorm2d`).
pub fn instance_norm(x: &Tensor) -> Result<Tensor> {
    let (c, n, _, _) = x.dims4()?;
    let planes = x.reshape((c * n, ()))?;
    let mean = planes.mean_keepdim(1)?;
    let centred = planes.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(1)?;
    Ok(centred.broadcast_div(&var.affine(1.0, BATCH_NORM_EPS)?.sqrt()?)?.reshape(x.dims())?)
}

/// Which normalisation follows a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormKind {
    /// [`BatchNorm`], with learned scale and shift and running statistics.
    Batch,
    /// [`instance_norm`], without parameters.
    Instance,
}

/// A normalisation layer of either kind.
#[derive(Debug)]
pub enum Norm {
    /// Batch normalisation.
    Batch(BatchNorm),
    /// Instance normalisation.
    Instance,
}

impl Norm {
    /// A new layer of `kind` over `features` channels.
    pub fn new(kind: NormKind, features: usize) -> Result<Self> {
        Ok(match kind {
            NormKind::Batch => Self::Batch(BatchNorm::new(features)?),
            NormKind::Instance => Self::Instance,
        })
    }

    /// Normalises channel-first images; `train` matters to batch normalisation only.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Self::Batch(norm) => norm.forward(x, train),
            Self::Instance => instance_norm(x),
        }
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<Var> {
        match self {
            Self::Batch(norm) => norm.vars(),
            Self::Instance => Vec::new(),
        }
    }

    /// Adds every tensor to `state` under `prefix`.
    pub fn save(&self, prefix: &str, state: &mut HashMap<String, Tensor>) {
        if let Self::Batch(norm) = self {
            norm.save(prefix, state);
        }
    }

    /// Restores what [`Norm::save`] wrote.
    pub fn load(&mut self, prefix: &str, state: &HashMap<String, Tensor>) -> Result<()> {
        match self {
            Self::Batch(norm) => norm.load(prefix, state),
            Self::Instance => Ok(()),
        }
    }
}

/// Pads channel-first images `[c, n, h, w]` by `p` pixels on every side, mirroring at the
/// edges without repeating them (as PyTorch's `ReflectionPad2d` and ONNX `Pad` in
/// `reflect` mode); `p` must be less than the height and width.
pub fn reflect_pad(x: &Tensor, p: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if p >= h || p >= w {
        return Err(crate::Error::Invalid(format!("cannot reflect {p} pixels of a {h} x {w} image")));
    }
    let mirrored = |n: usize| -> Result<Tensor> {
        let last = n as isize - 1;
        let idx: Vec<u32> = (-(p as isize)..=last + p as isize)
            .map(|j| {
                (if j < 0 {
                    -j
                } else if j > last {
                    2 * last - j
                } else {
                    j
                }) as u32
            })
            .collect();
        Ok(Tensor::new(idx, x.device())?)
    };
    Ok(x.index_select(&mirrored(h)?, 2)?.index_select(&mirrored(w)?, 3)?)
}

/// The tensor `prefix.name` of a saved state.
pub(crate) fn get<'a>(state: &'a HashMap<String, Tensor>, prefix: &str, name: &str) -> Result<&'a Tensor> {
    let key = format!("{prefix}.{name}");
    state.get(&key).ok_or_else(|| crate::Error::Invalid(format!("saved state lacks {key}")))
}

// Image layers take channel-first images `[channels, n, h, w]`: the convolutions are then
// single matrix products, and per-channel sums (bias gradients, BatchNorm statistics) run
// over contiguous rows. Networks convert with [`swap_batch_and_channels`] at their edges.

/// `[n, c, h, w]` to `[c, n, h, w]` and back, contiguous.
pub fn swap_batch_and_channels(x: &Tensor) -> Result<Tensor> {
    Ok(x.transpose(0, 1)?.contiguous()?)
}

/// Adds a per-channel `bias` `[c]` to `x` `[c, ...]`.
fn add_channel_bias(x: &Tensor, bias: &Var) -> Result<Tensor> {
    let channels = x.dim(0)?;
    Ok(x.reshape((channels, ()))?.broadcast_add(&bias.reshape((channels, 1))?)?.reshape(x.dims())?)
}

/// A 2-D convolution (`weight` `[out, in, k, k]`) with bias, as ONNX `Conv`.
#[derive(Debug)]
pub struct Conv2d {
    /// `[out, in, k, k]`.
    pub weight: Var,
    /// `[out]`.
    pub bias: Var,
    /// Step between windows.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
}

/// A 2-D transposed convolution (`weight` `[in, out, k, k]`) with bias, as ONNX
/// `ConvTranspose`.
#[derive(Debug)]
pub struct ConvTranspose2d {
    /// `[in, out, k, k]`.
    pub weight: Var,
    /// `[out]`.
    pub bias: Var,
    /// Upsampling factor.
    pub stride: usize,
    /// Rows and columns cropped from every side of the full output.
    pub padding: usize,
}

/// The standard deviation of the image GANs' initial weights (pix2pix's `init_gain`).
const CONV_INIT_STD: f64 = 0.02;

/// Weights drawn normal with standard deviation 0.02 and zero biases, as pix2pix and
/// CycleGAN initialise their convolutions.
fn conv_params(shape: [usize; 4], outputs: usize, rng: &mut ChaCha8Rng) -> Result<(Var, Var)> {
    let n = shape.iter().product();
    let weight = rng::normal(rng, 1, n)?.affine(CONV_INIT_STD, 0.0)?.reshape(shape.as_slice())?;
    Ok((Var::from_tensor(&weight)?, Var::zeros(outputs, DType::F32, &Device::Cpu)?))
}

impl Conv2d {
    /// A new `kernel` x `kernel` convolution from `inputs` to `outputs` channels.
    pub fn new(inputs: usize, outputs: usize, kernel: usize, stride: usize, padding: usize, rng: &mut ChaCha8Rng) -> Result<Self> {
        let (weight, bias) = conv_params([outputs, inputs, kernel, kernel], outputs, rng)?;
        Ok(Self { weight, bias, stride, padding })
    }

    /// `[in, n, h, w]` to `[out, n, h', w']`: the windows of `x` as columns, times the
    /// weights as one matrix.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (outputs, _, kernel, _) = self.weight.dims4()?;
        let (geometry, columns) = im2col::unfold(x, kernel, self.stride, self.padding)?;
        let (rows, cols) = geometry.windows();
        let y = self.weight.reshape((outputs, ()))?.matmul(&columns)?.reshape((outputs, geometry.n, rows, cols))?;
        add_channel_bias(&y, &self.bias)
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<Var> {
        vec![self.weight.clone(), self.bias.clone()]
    }
}

impl ConvTranspose2d {
    /// A new `kernel` x `kernel` transposed convolution from `inputs` to `outputs` channels.
    pub fn new(inputs: usize, outputs: usize, kernel: usize, stride: usize, padding: usize, rng: &mut ChaCha8Rng) -> Result<Self> {
        let (weight, bias) = conv_params([inputs, outputs, kernel, kernel], outputs, rng)?;
        Ok(Self { weight, bias, stride, padding })
    }

    /// `[in, n, h, w]` to `[out, n, (h - 1)·stride - 2·padding + k, ...]`: each input
    /// pixel times the weights as one matrix, the resulting windows summed into place.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (inputs, outputs, kernel, _) = self.weight.dims4()?;
        let (_, n, h, w) = x.dims4()?;
        let windows = self.weight.reshape((inputs, ()))?.t()?.matmul(&x.reshape((inputs, ()))?)?;
        let (stride, padding) = (self.stride, self.padding);
        let (rows, cols) = ((h - 1) * stride + kernel - 2 * padding, (w - 1) * stride + kernel - 2 * padding);
        let y = im2col::fold(&windows, Geometry { n, channels: outputs, rows, cols, kernel, stride, padding })?;
        add_channel_bias(&y, &self.bias)
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<Var> {
        vec![self.weight.clone(), self.bias.clone()]
    }
}

/// Saving and restoring a layer's weight and bias.
macro_rules! weight_and_bias_state {
    ($layer:ty) => {
        impl $layer {
            /// Adds the weight and bias to `state` under `prefix`.
            pub fn save(&self, prefix: &str, state: &mut HashMap<String, Tensor>) {
                state.insert(format!("{prefix}.weight"), self.weight.as_tensor().clone());
                state.insert(format!("{prefix}.bias"), self.bias.as_tensor().clone());
            }

            /// Restores what `save` wrote.
            pub fn load(&self, prefix: &str, state: &HashMap<String, Tensor>) -> Result<()> {
                self.weight.set(get(state, prefix, "weight")?)?;
                self.bias.set(get(state, prefix, "bias")?)?;
                Ok(())
            }
        }
    };
}
weight_and_bias_state!(Conv2d);
weight_and_bias_state!(ConvTranspose2d);

/// A learned vector per class, `[classes, dim]`, initialised standard normal.
#[derive(Debug)]
pub struct Embedding {
    /// `[classes, dim]`.
    pub table: Var,
}

impl Embedding {
    /// A new table of `classes` vectors of length `dim`.
    pub fn new(classes: usize, dim: usize, rng: &mut ChaCha8Rng) -> Result<Self> {
        Ok(Self { table: Var::from_tensor(&rng::normal(rng, classes, dim)?)? })
    }

    /// `ids` (`[n]`, u32) to `[n, dim]`.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(self.table.index_select(ids, 0)?)
    }
}

/// The slope of every LeakyReLU of the GANs (0.2, as DCGAN, pix2pix and CycleGAN use).
pub const LEAKY_SLOPE: f64 = 0.2;

/// LeakyReLU with slope `alpha` for negative inputs.
pub fn leaky_relu(x: &Tensor, alpha: f64) -> Result<Tensor> {
    Ok(x.maximum(&x.affine(alpha, 0.0)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_difference(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    #[test]
    fn convolutions_match_candles_kernels() {
        let mut rng = rng::stream(3, 0, 0);
        let x = rng::uniform(&mut rng, &[2, 3, 10, 12], 1.0).unwrap();
        for (kernel, stride, padding) in [(4, 2, 1), (4, 1, 1), (3, 1, 1), (1, 1, 0)] {
            let conv = Conv2d::new(3, 5, kernel, stride, padding, &mut rng).unwrap();
            let reference =
                x.conv2d(&conv.weight, padding, stride, 1, 1).unwrap().broadcast_add(&conv.bias.reshape((1, 5, 1, 1)).unwrap()).unwrap();
            let ours = swap_batch_and_channels(&conv.forward(&swap_batch_and_channels(&x).unwrap()).unwrap()).unwrap();
            assert_eq!(ours.dims(), reference.dims(), "conv k{kernel} s{stride} p{padding}");
            assert!(max_difference(&ours, &reference) < 1e-5, "conv k{kernel} s{stride} p{padding}");
        }
        for (kernel, stride, padding) in [(4, 2, 1), (2, 2, 0), (4, 1, 1)] {
            let up = ConvTranspose2d::new(3, 5, kernel, stride, padding, &mut rng).unwrap();
            let reference = x
                .conv_transpose2d(&up.weight, padding, 0, stride, 1)
                .unwrap()
                .broadcast_add(&up.bias.reshape((1, 5, 1, 1)).unwrap())
                .unwrap();
            let ours = swap_batch_and_channels(&up.forward(&swap_batch_and_channels(&x).unwrap()).unwrap()).unwrap();
            assert_eq!(ours.dims(), reference.dims(), "transposed k{kernel} s{stride} p{padding}");
            assert!(max_difference(&ours, &reference) < 1e-5, "transposed k{kernel} s{stride} p{padding}");
        }
    }

    #[test]
    fn convolution_gradients_match_candles_kernels() {
        let mut rng = rng::stream(4, 0, 0);
        let x = Var::from_tensor(&rng::uniform(&mut rng, &[2, 3, 8, 10], 1.0).unwrap()).unwrap();
        let conv = Conv2d::new(3, 4, 4, 2, 1, &mut rng).unwrap();
        let up = ConvTranspose2d::new(4, 2, 4, 2, 1, &mut rng).unwrap();
        // A loss that weighs every output differently, so that any misplaced gradient shows.
        let loss = |y: &Tensor| {
            let ramp = Tensor::arange(0f32, y.elem_count() as f32, &Device::Cpu).unwrap().reshape(y.dims()).unwrap();
            (y * ramp.affine(0.01, 0.0).unwrap().cos().unwrap()).unwrap().sum_all().unwrap()
        };
        let channel_first = swap_batch_and_channels(&x).unwrap();
        let ours =
            loss(&swap_batch_and_channels(&up.forward(&conv.forward(&channel_first).unwrap()).unwrap()).unwrap()).backward().unwrap();
        let bias = |b: &Var| b.reshape((1, (), 1, 1)).unwrap();
        let hidden = x.conv2d(&conv.weight, 1, 2, 1, 1).unwrap().broadcast_add(&bias(&conv.bias)).unwrap();
        let y = hidden.conv_transpose2d(&up.weight, 1, 0, 2, 1).unwrap().broadcast_add(&bias(&up.bias)).unwrap();
        let reference = loss(&y).backward().unwrap();
        for (name, var) in [("x", &x), ("conv weight", &conv.weight), ("transposed weight", &up.weight), ("transposed bias", &up.bias)] {
            let (a, b) = (ours.get(var).unwrap(), reference.get(var).unwrap());
            assert!(max_difference(a, b) < 1e-4, "gradient of {name}");
        }
    }

    #[test]
    fn reflection_padding_mirrors_without_repeating_the_edge() {
        let x = Tensor::arange(0f32, 12.0, &Device::Cpu).unwrap().reshape((1, 1, 3, 4)).unwrap();
        let y = reflect_pad(&x, 2).unwrap();
        assert_eq!(y.dims(), &[1, 1, 7, 8]);
        let rows = y.squeeze(0).unwrap().squeeze(0).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(rows[0], vec![10.0, 9.0, 8.0, 9.0, 10.0, 11.0, 10.0, 9.0]);
        assert_eq!(rows[2], vec![2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0, 1.0]);
        assert_eq!(rows[6], vec![2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0, 1.0]);
        assert!(reflect_pad(&x, 3).is_err());
    }

    #[test]
    fn instance_norm_normalises_each_image_and_channel() {
        let mut rng = rng::stream(5, 0, 0);
        let x = rng::uniform(&mut rng, &[3, 2, 5, 4], 10.0).unwrap().affine(1.0, 3.0).unwrap();
        let y = instance_norm(&x).unwrap().reshape((6, 20)).unwrap();
        let mean = y.mean(1).unwrap().to_vec1::<f32>().unwrap();
        let var = y.sqr().unwrap().mean(1).unwrap().to_vec1::<f32>().unwrap();
        assert!(mean.iter().all(|m| m.abs() < 1e-5) && var.iter().all(|v| (v - 1.0).abs() < 1e-3), "{mean:?} {var:?}");
    }

    #[test]
    fn batch_norm_normalises_images_per_channel() {
        let mut norm = BatchNorm::new(2).unwrap();
        // Channel-first: channel 0 holds 0-7.
        let x = Tensor::from_vec((0..16).map(|v| v as f32).collect::<Vec<_>>(), (2, 2, 2, 2), &Device::Cpu).unwrap();
        let y = norm.forward(&x, true).unwrap();
        let per_channel = y.flatten_from(1).unwrap();
        let mean = per_channel.mean(1).unwrap().to_vec1::<f32>().unwrap();
        assert!(mean.iter().all(|m| m.abs() < 1e-5), "{mean:?}");
        // Channel 0's mean is 3.5; the running mean moves 0.1 of the way there.
        assert!((norm.running_mean.to_vec1::<f32>().unwrap()[0] - 0.35).abs() < 1e-5);
    }
}
