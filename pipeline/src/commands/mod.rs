//! One module per command; each takes resolved settings, never clap types.

pub mod augment;
pub mod convert;
pub mod demo;
pub mod fuse;
pub mod info;
pub mod models;
pub mod report;
pub mod super_resolve;
pub mod train_cyclegan;
pub mod train_pix2pix;
pub mod train_spectral;

use hypersynth_models::spectral_cgan::SpectralCganConfig;
use hypersynth_models::training::TrainConfig;
use hypersynth_spectral::{ExemplarConfig, Layout, SplitConfig};

use hypersynth_models::cyclegan::CycleganConfig;
use hypersynth_models::cyclegan_training::CycleganTrainConfig;
use hypersynth_models::pix2pix::Pix2pixConfig;
use hypersynth_models::pix2pix_training::Pix2pixTrainConfig;

use crate::cli::{GeneratorArg, NormalisationArg, SideArg, TrainCycleganArgs, TrainPix2pixArgs, TrainSpectralArgs};

/// Resolves `train spectral`'s command line into its settings.
pub fn train_spectral_settings(args: TrainSpectralArgs) -> anyhow::Result<train_spectral::TrainSpectral> {
    let loss = args.loss.parse().map_err(anyhow::Error::msg)?;
    let train = TrainConfig {
        loss,
        steps: args.steps,
        d_steps: args.d_steps,
        batch_size: args.batch_size,
        lr_generator: args.lr_g,
        lr_discriminator: args.lr_d,
        history: args.history,
        feature_matching: args.feature_matching,
        label_smoothing: args.label_smoothing,
        instance_noise: args.instance_noise,
        ema: (args.ema > 0.0).then_some(args.ema),
        aux_classifier: args.aux_classifier,
        seed: args.seed,
        ..TrainConfig::default()
    };
    let architecture = SpectralCganConfig {
        latent: args.latent,
        generator_widths: args.generator_widths,
        discriminator_widths: args.discriminator_widths,
        aux_classifier: args.aux_classifier > 0.0,
        ..SpectralCganConfig::new(0, 0)
    };
    Ok(train_spectral::TrainSpectral {
        source: crate::label_source(args.labels)?,
        out: args.out,
        split: SplitConfig { validation: args.validation, test: args.test, seed: args.seed, thin: args.thin.into_iter().collect() },
        architecture,
        train,
        layout: match args.normalisation {
            NormalisationArg::PerBand => Layout::PerBand,
            NormalisationArg::PrincipalComponents => Layout::PrincipalComponents(args.components),
        },
        synthesis: match args.generator {
            GeneratorArg::Exemplar => train_spectral::Synthesis::Exemplar(ExemplarConfig {
                spread: args.spread,
                own_weight: args.own_weight,
                brightness: args.brightness,
                borrow_angle_deg: (args.borrow_angle > 0.0).then_some(args.borrow_angle),
                ..ExemplarConfig::default()
            }),
            GeneratorArg::Gan => train_spectral::Synthesis::Gan,
        },
    })
}

/// Resolves `train pix2pix`'s command line into its settings.
pub fn train_pix2pix_settings(args: TrainPix2pixArgs) -> anyhow::Result<train_pix2pix::TrainPix2pix> {
    let loss = args.loss.parse().map_err(anyhow::Error::msg)?;
    if !matches!(loss, hypersynth_models::losses::Loss::NonSaturating | hypersynth_models::losses::Loss::Lsgan) {
        anyhow::bail!("--loss {} is not offered for pix2pix (use non-saturating or lsgan)", args.loss);
    }
    let side = match args.holdout_side {
        SideArg::Right => train_pix2pix::Side::Right,
        SideArg::Left => train_pix2pix::Side::Left,
        SideArg::Top => train_pix2pix::Side::Top,
        SideArg::Bottom => train_pix2pix::Side::Bottom,
    };
    Ok(train_pix2pix::TrainPix2pix {
        pre: args.pre,
        post: args.post,
        target: args.target,
        out: args.out,
        holdout: train_pix2pix::Holdout { side, fraction: args.holdout },
        components: args.components,
        architecture: Pix2pixConfig {
            depth: args.depth,
            base_width: args.base_width,
            max_width: 8 * args.base_width,
            dropout: args.dropout,
            ..Pix2pixConfig::new(0, 1)
        },
        train: Pix2pixTrainConfig {
            loss,
            steps: args.steps,
            batch_size: args.batch_size,
            tile: args.tile,
            lr: args.lr,
            l1_weight: args.l1_weight,
            augment: !args.no_augment,
            seed: args.seed,
            ..Pix2pixTrainConfig::default()
        },
    })
}

/// Resolves `train cyclegan`'s command line into its settings.
pub fn train_cyclegan_settings(args: TrainCycleganArgs) -> train_cyclegan::TrainCyclegan {
    train_cyclegan::TrainCyclegan {
        domain_a: args.domain_a,
        domain_b: args.domain_b,
        out: args.out,
        components: args.components,
        architecture: CycleganConfig {
            width: args.width,
            blocks: args.blocks,
            downsamplings: args.downsamplings,
            ..CycleganConfig::new(0)
        },
        train: CycleganTrainConfig {
            scale: args.scale,
            steps: args.steps,
            batch_size: args.batch_size,
            tile: args.tile,
            lr: args.lr,
            adversarial_weight: args.adversarial_weight,
            cycle_weight: args.cycle_weight,
            identity_weight: args.identity_weight,
            pool_size: args.pool_size,
            augment: !args.no_augment,
            seed: args.seed,
            ..CycleganTrainConfig::default()
        },
    }
}
