//! Seeded randomness. Candle cannot seed its CPU generator, so every random number of a
//! training run (initial weights, noise, dropout masks, batches) is drawn here, from a
//! ChaCha stream derived from the run's seed and the step, so that a resumed run draws
//! what an uninterrupted one would have.

use candle_core::{Device, Tensor};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::Result;

/// The generator of stream `stream` at `step` of a run seeded with `seed`.
pub fn stream(seed: u64, stream: u64, step: u64) -> ChaCha8Rng {
    // SplitMix64 of the three, so that nearby inputs give unrelated streams.
    let mut x = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ChaCha8Rng::seed_from_u64(x ^ (x >> 31))
}

/// A `[rows, cols]` tensor of standard normal draws.
pub fn normal(rng: &mut ChaCha8Rng, rows: usize, cols: usize) -> Result<Tensor> {
    let values: Vec<f32> = (0..rows * cols).map(|_| StandardNormal.sample(rng)).collect();
    Ok(Tensor::from_vec(values, (rows, cols), &Device::Cpu)?)
}

/// A tensor of `shape` with uniform draws in `[-bound, bound)`.
pub fn uniform(rng: &mut ChaCha8Rng, shape: &[usize], bound: f64) -> Result<Tensor> {
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..bound) as f32).collect();
    Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
}

/// An inverted-dropout mask of `shape`: 0 with probability `p`, else `1 / (1 - p)`.
pub fn dropout_mask(rng: &mut ChaCha8Rng, shape: (usize, usize), p: f64) -> Result<Tensor> {
    let keep = (1.0 / (1.0 - p)) as f32;
    let values: Vec<f32> = (0..shape.0 * shape.1).map(|_| if rng.random::<f64>() < p { 0.0 } else { keep }).collect();
    Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
}
