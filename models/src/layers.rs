//! The few layers the GANs need, holding their parameters as `Var`s so that training,
//! checkpoints and ONNX export all see the same tensors.

use candle_core::{DType, Device, Tensor, Var};
use rand_chacha::ChaCha8Rng;

use crate::Result;
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
        Ok(x.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?)
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<Var> {
        vec![self.weight.clone(), self.bias.clone()]
    }
}

/// Batch normalisation over the batch axis of `[n, features]`, with running statistics
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

    /// Normalises `x` with batch statistics (and updates the running ones) when `train`,
    /// else with the running statistics.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> Result<Tensor> {
        let (mean, var) = if train {
            let n = x.dim(0)? as f64;
            let mean = x.mean_keepdim(0)?;
            let var = x.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)?;
            let m = BATCH_NORM_MOMENTUM;
            let unbiased = var.affine(n / (n - 1.0).max(1.0), 0.0)?.squeeze(0)?.detach();
            self.running_mean = (self.running_mean.affine(1.0 - m, 0.0)? + mean.squeeze(0)?.detach().affine(m, 0.0)?)?;
            self.running_var = (self.running_var.affine(1.0 - m, 0.0)? + unbiased.affine(m, 0.0)?)?;
            (mean, var)
        } else {
            (self.running_mean.unsqueeze(0)?, self.running_var.unsqueeze(0)?)
        };
        let normalised = x.broadcast_sub(&mean)?.broadcast_div(&var.affine(1.0, BATCH_NORM_EPS)?.sqrt()?)?;
        Ok(normalised.broadcast_mul(&self.gamma)?.broadcast_add(&self.beta)?)
    }

    /// The trainable parameters.
    pub fn vars(&self) -> Vec<Var> {
        vec![self.gamma.clone(), self.beta.clone()]
    }
}

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

/// LeakyReLU with slope `alpha` for negative inputs.
pub fn leaky_relu(x: &Tensor, alpha: f64) -> Result<Tensor> {
    Ok(x.maximum(&x.affine(alpha, 0.0)?)?)
}
