//! The adversarial loss families, as functions of the discriminator's outputs.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::Result;

/// Which game the generator and discriminator play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// The original minimax game: G minimises log(1 - D(G(z))); saturates early.
    Minimax,
    /// G maximises log D(G(z)) instead: the same fixed point, strong early gradients.
    NonSaturating,
    /// Wasserstein critic with gradient penalty (lambda = 10).
    WganGp,
    /// Least squares (targets 1 for real, 0 for fake).
    Lsgan,
    /// Hinge loss.
    Hinge,
}

impl std::str::FromStr for Loss {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "minimax" => Ok(Self::Minimax),
            "non-saturating" | "ns" => Ok(Self::NonSaturating),
            "wgan-gp" => Ok(Self::WganGp),
            "lsgan" => Ok(Self::Lsgan),
            "hinge" => Ok(Self::Hinge),
            other => Err(format!("unknown loss {other:?} (expected minimax, non-saturating, wgan-gp, lsgan or hinge)")),
        }
    }
}

/// `log(1 + exp(x))`, computed without overflow.
fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + x.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?)?)
}

/// Mean binary cross-entropy of logits `x` against the constant target `t`.
fn bce(x: &Tensor, t: f64) -> Result<Tensor> {
    Ok((softplus(x)? - x.affine(t, 0.0)?)?.mean_all()?)
}

impl Loss {
    /// The discriminator's loss (without any gradient penalty); `real_target` is 1, or
    /// less with one-sided label smoothing.
    pub fn discriminator(self, real: &Tensor, fake: &Tensor, real_target: f64) -> Result<Tensor> {
        Ok(match self {
            Self::Minimax | Self::NonSaturating => (bce(real, real_target)? + bce(fake, 0.0)?)?,
            Self::Lsgan => {
                (real.affine(1.0, -real_target)?.sqr()?.mean_all()?.affine(0.5, 0.0)? + fake.sqr()?.mean_all()?.affine(0.5, 0.0)?)?
            }
            Self::Hinge => (real.neg()?.affine(1.0, 1.0)?.relu()?.mean_all()? + fake.affine(1.0, 1.0)?.relu()?.mean_all()?)?,
            Self::WganGp => (fake.mean_all()? - real.mean_all()?)?,
        })
    }

    /// The generator's loss from the discriminator's outputs on generated samples.
    pub fn generator(self, fake: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Self::Minimax => bce(fake, 0.0)?.neg()?,
            Self::NonSaturating => bce(fake, 1.0)?,
            Self::Lsgan => fake.affine(1.0, -1.0)?.sqr()?.mean_all()?.affine(0.5, 0.0)?,
            Self::Hinge | Self::WganGp => fake.mean_all()?.neg()?,
        })
    }
}

/// Mean cross-entropy of class logits `[n, classes]` against `labels` (`[n]`, u32).
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let log_p = candle_nn::ops::log_softmax(logits, 1)?;
    Ok(log_p.gather(&labels.unsqueeze(1)?, 1)?.mean_all()?.neg()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(v: &[f32]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    fn value(x: Tensor) -> f32 {
        x.to_scalar::<f32>().unwrap()
    }

    #[test]
    fn losses_by_hand() {
        // D(x) = sigmoid(0) = 1/2 everywhere is the minimax equilibrium: log 4 for D.
        let zero = t(&[0.0, 0.0]);
        assert!((value(Loss::Minimax.discriminator(&zero, &zero, 1.0).unwrap()) - 4f32.ln()).abs() < 1e-6);
        assert!((value(Loss::NonSaturating.generator(&zero).unwrap()) - 2f32.ln()).abs() < 1e-6);
        assert!((value(Loss::Minimax.generator(&zero).unwrap()) + 2f32.ln()).abs() < 1e-6);
        let (real, fake) = (t(&[2.0, 0.5]), t(&[-1.0, 3.0]));
        assert!((value(Loss::Hinge.discriminator(&real, &fake, 1.0).unwrap()) - (0.25 + 2.0)).abs() < 1e-6);
        assert!((value(Loss::WganGp.discriminator(&real, &fake, 1.0).unwrap()) - (1.0 - 1.25)).abs() < 1e-6);
        assert!((value(Loss::Lsgan.discriminator(&real, &fake, 1.0).unwrap()) - (0.5 * 0.625 + 0.5 * 5.0)).abs() < 1e-6);
        assert!((value(Loss::Lsgan.generator(&fake).unwrap()) - 2.0).abs() < 1e-6);
        // Large logits stay finite.
        assert!(value(Loss::NonSaturating.generator(&t(&[-200.0, 200.0])).unwrap()).is_finite());
    }

    #[test]
    fn cross_entropy_by_hand() {
        let logits = Tensor::new(&[[0.0f32, 0.0], [10.0, 0.0]], &Device::Cpu).unwrap();
        let labels = Tensor::new(&[1u32, 0], &Device::Cpu).unwrap();
        let expected = (2f32.ln() + (1.0 + (-10f32).exp()).ln()) / 2.0;
        assert!((value(cross_entropy(&logits, &labels).unwrap()) - expected).abs() < 1e-5);
    }
}
