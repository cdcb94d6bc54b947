//! One module per command; each takes resolved settings, never clap types.

pub mod augment;
pub mod convert;
pub mod demo;
pub mod info;
pub mod models;
pub mod report;
pub mod train_spectral;

use hypersynth_models::spectral_cgan::SpectralCganConfig;
use hypersynth_models::training::TrainConfig;
use hypersynth_spectral::{Layout, SplitConfig};

use crate::cli::{NormalisationArg, TrainSpectralArgs};

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
    })
}
