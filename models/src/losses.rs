//! The adversarial loss families, as functions of the discriminator's outputs: the table
//! of discriminator and generator losses in Lucic et al., "Are GANs created equal?" (2018),
//! plus hinge. Penalties and weight clipping, which act on the discriminator itself, are
//! applied by the training loop; [`Loss`] says which one a family needs.

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
    /// Wasserstein critic kept Lipschitz by clipping its weights to ±[`WEIGHT_CLIP`].
    WganClip,
    /// Wasserstein critic with gradient penalty (lambda = 10) at points between real and
    /// generated samples.
    WganGp,
    /// Least squares (targets 1 for real, 0 for fake).
    Lsgan,
    /// DRAGAN: the non-saturating game with a gradient penalty at real samples perturbed by
    /// [`DRAGAN_SPREAD`] x their standard deviation.
    Dragan,
    /// BEGAN: the discriminator is an autoencoder whose reconstruction error is the energy
    /// (its logits are minus that); the game is balanced by [`Began`].
    Began,
    /// Hinge loss.
    Hinge,
}

/// The range WGAN's critic weights are clipped to (Arjovsky et al. 2017).
pub const WEIGHT_CLIP: f64 = 0.01;

/// DRAGAN's perturbation: uniform noise up to this many standard deviations of the real batch
/// (Kodali et al. 2017).
pub const DRAGAN_SPREAD: f64 = 0.5;

/// The loss names `--loss` takes.
pub const LOSS_NAMES: &str = "minimax, non-saturating, wgan-clip, wgan-gp, lsgan, dragan, began or hinge";

impl std::str::FromStr for Loss {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "minimax" => Ok(Self::Minimax),
            "non-saturating" | "ns" => Ok(Self::NonSaturating),
            "wgan-clip" => Ok(Self::WganClip),
            "wgan-gp" => Ok(Self::WganGp),
            "lsgan" => Ok(Self::Lsgan),
            "dragan" => Ok(Self::Dragan),
            "began" => Ok(Self::Began),
            "hinge" => Ok(Self::Hinge),
            other => Err(format!("unknown loss {other:?} (expected {LOSS_NAMES})")),
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
    /// Whether its penalty differentiates a gradient (candle must keep gradients
    /// differentiable: `CANDLE_GRAD_DO_NOT_DETACH=1`).
    pub fn needs_second_derivatives(self) -> bool {
        matches!(self, Self::WganGp | Self::Dragan)
    }

    /// Whether the discriminator must be an autoencoder whose logits are minus its
    /// reconstruction error.
    pub fn needs_autoencoder(self) -> bool {
        self == Self::Began
    }

    /// The discriminator's loss (without any gradient penalty); `real_target` is 1, or
    /// less with one-sided label smoothing. BEGAN's is [`Began::discriminator`], which
    /// needs the balance; here it is that loss with the balance at 1.
    pub fn discriminator(self, real: &Tensor, fake: &Tensor, real_target: f64) -> Result<Tensor> {
        Ok(match self {
            Self::Began => Began { k: 1.0 }.discriminator(real, fake)?,
            Self::Minimax | Self::NonSaturating | Self::Dragan => (bce(real, real_target)? + bce(fake, 0.0)?)?,
            Self::Lsgan => {
                (real.affine(1.0, -real_target)?.sqr()?.mean_all()?.affine(0.5, 0.0)? + fake.sqr()?.mean_all()?.affine(0.5, 0.0)?)?
            }
            Self::Hinge => (real.neg()?.affine(1.0, 1.0)?.relu()?.mean_all()? + fake.affine(1.0, 1.0)?.relu()?.mean_all()?)?,
            Self::WganGp | Self::WganClip => (fake.mean_all()? - real.mean_all()?)?,
        })
    }

    /// The generator's loss from the discriminator's outputs on generated samples.
    pub fn generator(self, fake: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Self::Minimax => bce(fake, 0.0)?.neg()?,
            Self::NonSaturating | Self::Dragan => bce(fake, 1.0)?,
            Self::Lsgan => fake.affine(1.0, -1.0)?.sqr()?.mean_all()?.affine(0.5, 0.0)?,
            // BEGAN: the generated samples' energy, minus their logits.
            Self::Hinge | Self::WganGp | Self::WganClip | Self::Began => fake.mean_all()?.neg()?,
        })
    }
}

/// BEGAN's equilibrium (Berthelot et al. 2017): the discriminator lowers the energy `E` of
/// real samples and raises that of generated ones by `k`, and `k` follows the gap between
/// `GAMMA` x E(real) and E(fake), so that neither side wins outright.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Began {
    /// The balance `k_t`, in [0, 1]; starts at 0.
    pub k: f64,
}

impl Began {
    /// γ: the wanted ratio of generated to real energy (diversity against quality).
    pub const GAMMA: f64 = 0.5;
    /// λ_k: how fast `k` follows.
    pub const RATE: f64 = 0.001;

    /// `E(real) - k E(fake)` from the discriminator's logits (minus the energies).
    pub fn discriminator(&self, real: &Tensor, fake: &Tensor) -> Result<Tensor> {
        Ok((real.mean_all()?.neg()? + fake.mean_all()?.affine(self.k, 0.0)?)?)
    }

    /// Moves `k` after a discriminator step with these mean energies.
    pub fn update(&mut self, real_energy: f64, fake_energy: f64) {
        self.k = (self.k + Self::RATE * (Self::GAMMA * real_energy - fake_energy)).clamp(0.0, 1.0);
    }
}

/// The mean probability a discriminator gives, `mean(sigmoid(logits))`: what the training
/// logs record as `d_real` and `d_fake`.
pub fn mean_probability(logits: &Tensor) -> Result<f32> {
    Ok(candle_nn::ops::sigmoid(logits)?.mean_all()?.to_scalar::<f32>()?)
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
        assert!((value(Loss::WganClip.discriminator(&real, &fake, 1.0).unwrap()) - (1.0 - 1.25)).abs() < 1e-6);
        assert_eq!(
            value(Loss::Dragan.discriminator(&real, &fake, 1.0).unwrap()),
            value(Loss::NonSaturating.discriminator(&real, &fake, 1.0).unwrap())
        );
        // BEGAN: logits are minus energies; E(real) = -1.25, E(fake) = -1, k = 0.5.
        assert!((value(Began { k: 0.5 }.discriminator(&real, &fake).unwrap()) - (-1.25 + 0.5)).abs() < 1e-6);
        assert!((value(Loss::Began.generator(&fake).unwrap()) + 1.0).abs() < 1e-6);
        // Large logits stay finite.
        assert!(value(Loss::NonSaturating.generator(&t(&[-200.0, 200.0])).unwrap()).is_finite());
    }

    #[test]
    fn began_balance_follows_the_energy_gap_and_stays_in_range() {
        let mut b = Began { k: 0.0 };
        b.update(1.0, 0.1); // γ E(real) = 0.5 > E(fake): k grows by λ (0.5 - 0.1)
        assert!((b.k - 0.0004).abs() < 1e-12);
        b.update(0.0, 10.0);
        assert_eq!(b.k, 0.0);
        for _ in 0..10_000 {
            b.update(100.0, 0.0);
        }
        assert_eq!(b.k, 1.0);
    }

    #[test]
    fn every_name_parses() {
        for name in LOSS_NAMES.replace(" or ", ", ").split(", ") {
            assert!(name.parse::<Loss>().is_ok(), "{name}");
        }
        assert!("wgan".parse::<Loss>().is_err());
    }

    #[test]
    fn cross_entropy_by_hand() {
        let logits = Tensor::new(&[[0.0f32, 0.0], [10.0, 0.0]], &Device::Cpu).unwrap();
        let labels = Tensor::new(&[1u32, 0], &Device::Cpu).unwrap();
        let expected = (2f32.ln() + (1.0 + (-10f32).exp()).ln()) / 2.0;
        assert!((value(cross_entropy(&logits, &labels).unwrap()) - expected).abs() < 1e-5);
    }
}
