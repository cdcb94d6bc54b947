//! The one place where the command line becomes settings: each function takes a command's
//! parsed arguments (clap types, `cli.rs`) and returns the settings its module in
//! `commands/` runs with. Commands and the job runner never see clap types; defaults live
//! with the settings they belong to and `cli.rs` shows them.

use std::path::{Path, PathBuf};

use anyhow::bail;
use hypersynth_data::{Compression, CubeSource};
use hypersynth_models::cyclegan::CycleganArchitecture;
use hypersynth_models::cyclegan_training::CycleganTrainConfig;
use hypersynth_models::dagan::DaganArchitecture;
use hypersynth_models::pix2pix::Pix2pixArchitecture;
use hypersynth_models::pix2pix_training::Pix2pixTrainConfig;
use hypersynth_models::spectral_cgan::SpectralCganArchitecture;
use hypersynth_models::training::TrainConfig;
use hypersynth_onnx::{Device, SessionOptions};
use hypersynth_onnx_format::DamageOutput;
use hypersynth_spectral::{ClassifierKind, ExemplarConfig, Layout, QualityConfig, SplitConfig};

use crate::cli::{
    AugmentArgs, ClassifierArg, ClassifyArgs, CompressArg, CubeArgs, DeviceArgs, FuseArgs, GeneratorArg, LabelArgs, NormalisationArg,
    PsfOffsetArg, ReportArgs, RunArgs, SideArg, SuperResolveArgs, TargetKindArg, TrainCycleganArgs, TrainPix2pixArgs, TrainSpectralArgs,
};
use crate::commands::{augment, classify, fuse, report, super_resolve, train_cyclegan, train_pix2pix, train_spectral};
use crate::job;
use crate::labelled::LabelSource;

/// Resolves `train spectral`'s command line into its settings.
pub fn train_spectral(args: TrainSpectralArgs) -> anyhow::Result<train_spectral::TrainSpectral> {
    let gan_defaults = SpectralCganArchitecture::default();
    let architecture = SpectralCganArchitecture {
        latent: args.latent,
        generator_widths: args.generator_widths.clone().unwrap_or(gan_defaults.generator_widths),
        discriminator_widths: args.discriminator_widths.clone().unwrap_or(gan_defaults.discriminator_widths),
        aux_classifier: args.aux_classifier > 0.0,
        spectral_norm: args.spectral_norm,
        autoencoder: args.loss.needs_autoencoder(),
        ..SpectralCganArchitecture::default()
    };
    let synthesis = match args.generator {
        GeneratorArg::Exemplar => train_spectral::Synthesis::Exemplar(ExemplarConfig {
            spread: args.spread,
            own_weight: args.own_weight,
            brightness: args.brightness,
            interpolate: args.interpolate,
            borrow_angle_deg: (args.borrow_angle > 0.0).then_some(args.borrow_angle),
            log_space: !args.linear,
            ..ExemplarConfig::default()
        }),
        GeneratorArg::Gan => train_spectral::Synthesis::Gan,
        GeneratorArg::Dagan => {
            let defaults = DaganArchitecture::default();
            train_spectral::Synthesis::Dagan(train_spectral::DaganSettings {
                architecture: DaganArchitecture {
                    latent: args.latent,
                    generator_widths: args.generator_widths.unwrap_or(defaults.generator_widths),
                    discriminator_widths: args.discriminator_widths.unwrap_or(defaults.discriminator_widths),
                    mates: args.mates,
                    calibrate_moves: args.calibrate_moves,
                    ..defaults
                },
                class_balance: args.class_balance,
            })
        }
    };
    let adversarial = synthesis.adversarial_defaults();
    let train = TrainConfig {
        loss: args.loss,
        steps: args.steps.unwrap_or(adversarial.steps),
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
        ..adversarial
    };
    let defaults = synthesis.default_split();
    Ok(train_spectral::TrainSpectral {
        source: label_source(args.labels)?,
        out: args.out,
        split: SplitConfig {
            validation: args.validation.unwrap_or(defaults.validation),
            test: args.test.unwrap_or(defaults.test),
            seed: args.seed,
            thin: args.thin.into_iter().collect(),
            blocks: args.split.0,
        },
        architecture,
        train,
        layout: match args.normalisation {
            NormalisationArg::PerBand => Layout::PerBand,
            NormalisationArg::PrincipalComponents => Layout::PrincipalComponents(args.components),
        },
        synthesis,
    })
}

/// Resolves `train pix2pix`'s command line into its settings.
pub fn train_pix2pix(args: TrainPix2pixArgs) -> anyhow::Result<train_pix2pix::TrainPix2pix> {
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
        target_kind: args.target_kind.map(|kind| match kind {
            TargetKindArg::Mask => DamageOutput::Probability,
            TargetKindArg::Severity => DamageOutput::Severity,
        }),
        out: args.out,
        holdout: train_pix2pix::Holdout { side, fraction: args.holdout },
        components: args.components,
        architecture: Pix2pixArchitecture {
            depth: args.depth,
            base_width: args.base_width,
            max_width: 8 * args.base_width,
            dropout: args.dropout,
            ..Pix2pixArchitecture::default()
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
pub fn train_cyclegan(args: TrainCycleganArgs) -> train_cyclegan::TrainCyclegan {
    train_cyclegan::TrainCyclegan {
        domain_a: args.domain_a,
        domain_b: args.domain_b,
        out: args.out,
        components: args.components,
        architecture: CycleganArchitecture {
            width: args.width,
            blocks: args.blocks,
            downsamplings: args.downsamplings,
            ..CycleganArchitecture::default()
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
            psf_offset: match args.psf_offset {
                PsfOffsetArg::At(offset) => offset,
                PsfOffsetArg::Auto => [0.0; 2],
            },
            ..CycleganTrainConfig::default()
        },
        estimate_psf_offset: args.psf_offset == PsfOffsetArg::Auto,
    }
}

/// `super-resolve`'s settings.
pub fn super_resolve(args: SuperResolveArgs, threads: Option<usize>) -> anyhow::Result<super_resolve::SuperResolve> {
    let session = session(&args.device, threads)?;
    Ok(super_resolve::SuperResolve {
        batch: args.batch.unwrap_or_else(|| crate::tiling::default_batch(session.device)),
        session,
        model: args.model,
        input: args.input,
        out: args.out,
        scale: args.scale,
        tile: args.tile,
        overlap: args.overlap,
        reference: args.reference,
    })
}

/// `fuse`'s settings.
pub fn fuse(args: FuseArgs, threads: Option<usize>) -> anyhow::Result<fuse::Fuse> {
    let session = session(&args.device, threads)?;
    Ok(fuse::Fuse {
        batch: args.batch.unwrap_or_else(|| crate::tiling::default_batch(session.device)),
        session,
        model: args.model,
        pre: args.pre,
        post: args.post,
        out: args.out,
        tile: args.tile,
        overlap: args.overlap,
        samples: args.samples,
        threshold: args.threshold,
        classes: args.classes,
    })
}

/// `augment`'s settings; its run record goes to `OUT/run.json`.
pub fn augment(args: AugmentArgs, threads: Option<usize>) -> anyhow::Result<augment::Augment> {
    let target = match (args.target_per_class, args.balance) {
        (Some(n), _) => augment::Target::PerClass(n),
        _ => augment::Target::Balance,
    };
    Ok(augment::Augment {
        session: session(&args.device, threads)?,
        model: args.model,
        source: label_source(args.labels)?,
        run_json: args.out.join("run.json"),
        out: args.out,
        target,
        seed: args.seed,
        selection: augment::Selection::keeping_all(args.keep_all),
        batch: args.batch,
        hdf5: args.hdf5,
        compression: args.compression,
        report: (!args.no_report).then(|| QualityConfig { seed: args.seed, ..QualityConfig::default() }),
        when_nothing_to_generate: augment::NothingToGenerate::Refuse,
    })
}

/// `report`'s settings.
pub fn report(args: ReportArgs) -> anyhow::Result<report::Report> {
    let split = match args.model {
        Some(model) => report::TestSplit::FromModel(model),
        None => report::TestSplit::Fraction { test: args.test, seed: args.seed, blocks: args.split.0 },
    };
    Ok(report::Report {
        real: label_source(args.labels)?,
        synthetic: args.synthetic,
        split,
        out: args.out,
        quality: QualityConfig { seed: args.seed, max_rows_per_class: args.max_rows_per_class, ..QualityConfig::default() },
    })
}

/// `classify`'s settings.
pub fn classify(args: ClassifyArgs) -> anyhow::Result<classify::Classify> {
    let training = match args.classifier_file {
        Some(path) => classify::Training::Saved(path),
        None => {
            let kind = match args.classifier {
                ClassifierArg::RbfSvm => ClassifierKind::RbfSvm,
                ClassifierArg::RandomForest => ClassifierKind::RandomForest,
                ClassifierArg::Knn => ClassifierKind::NearestNeighbours,
            };
            let synthetic =
                args.model.zip(args.target_per_class).map(|(model, n)| classify::SyntheticSpectra { model, target_per_class: n });
            classify::Training::Fit { source: label_source(args.labels)?, kind, seed: args.seed, synthetic }
        }
    };
    Ok(classify::Classify {
        training,
        scene: CubeSource { path: args.scene, wavelengths: args.scene_wavelengths, ..CubeSource::default() },
        out: args.out,
        check: args.check,
    })
}

/// `run`'s settings.
pub fn run_job(args: RunArgs, threads: Option<usize>) -> anyhow::Result<job::RunJob> {
    Ok(job::RunJob {
        job: args.job,
        force: args.force,
        shard: args.shard.as_deref().map(str::parse).transpose()?,
        merge: args.merge,
        scenes_at_once: args.scenes_at_once,
        session: SessionOptions { threads, ..Default::default() },
    })
}

/// ONNX Runtime session settings from the device options.
pub fn session(args: &DeviceArgs, threads: Option<usize>) -> anyhow::Result<SessionOptions> {
    let device: Device = args.device.parse().map_err(anyhow::Error::msg)?;
    Ok(SessionOptions {
        device,
        allow_cpu_fallback: args.allow_cpu_fallback,
        threads,
        tensorrt_cache: args.tensorrt_cache.clone(),
        fp16: args.fp16,
        ..SessionOptions::default()
    })
}

/// The labelled spectra named on the command line.
pub fn label_source(args: LabelArgs) -> anyhow::Result<LabelSource> {
    let raster = !args.cube.is_empty() || args.scenes.is_some();
    if !raster && (args.classes.is_some() || args.wavelengths.is_some() || args.dataset.is_some() || args.band_axis.is_some()) {
        bail!("--classes, --wavelengths, --dataset and --band-axis describe cubes: give --cube with --labels, or --scenes");
    }
    let cube = |path: PathBuf| CubeSource {
        path,
        dataset: args.dataset.clone(),
        band_axis: args.band_axis,
        wavelengths: args.wavelengths.clone(),
    };
    Ok(match (args.scenes, args.library, args.class_table, args.table) {
        (Some(list), None, None, None) => LabelSource::Raster {
            scenes: read_scene_list(&list)?.into_iter().map(|(c, l)| (cube(c), l)).collect(),
            names: args.classes,
            listed_in: Some(list),
        },
        (None, None, None, None) if !args.cube.is_empty() => {
            if args.cube.len() != args.labels.len() {
                bail!("{} --cube but {} --labels: give one class raster per cube, in the same order", args.cube.len(), args.labels.len());
            }
            LabelSource::Raster { scenes: args.cube.into_iter().map(cube).zip(args.labels).collect(), names: args.classes, listed_in: None }
        }
        (None, Some(sli), Some(table), None) => LabelSource::Library { sli, table, column: args.class_column },
        (None, None, None, Some(table)) => LabelSource::Table(table),
        _ => bail!("give labelled spectra as --cube with --labels, --scenes, --library with --class-table, or --table"),
    })
}

/// The scenes of a `--scenes` CSV: columns `scene` (or `image`) and `labels` (or `mask`),
/// paths relative to the CSV's folder (GDAL /vsi paths as they are).
fn read_scene_list(list: &Path) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
    let mut reader = csv::Reader::from_path(list).map_err(|e| anyhow::anyhow!("{}: {e}", list.display()))?;
    let headers = reader.headers().map_err(|e| anyhow::anyhow!("{}: {e}", list.display()))?.clone();
    let column = |names: [&str; 2]| {
        headers
            .iter()
            .position(|h| names.contains(&h.trim()))
            .ok_or_else(|| anyhow::anyhow!("{}: no {:?} column (columns scene,labels or image,mask)", list.display(), names[0]))
    };
    let (scene, labels) = (column(["scene", "image"])?, column(["labels", "mask"])?);
    let folder = list.parent().unwrap_or(Path::new(""));
    let resolve = |p: &str| if hypersynth_data::is_virtual(Path::new(p)) { PathBuf::from(p) } else { folder.join(p) };
    let mut scenes = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| anyhow::anyhow!("{}: row {}: {e}", list.display(), i + 2))?;
        match (row.get(scene).map(str::trim), row.get(labels).map(str::trim)) {
            (Some(s), Some(l)) if !s.is_empty() && !l.is_empty() => scenes.push((resolve(s), resolve(l))),
            _ => bail!("{}: row {}: needs a scene and its labels", list.display(), i + 2),
        }
    }
    if scenes.is_empty() {
        bail!("{}: lists no scenes", list.display());
    }
    Ok(scenes)
}

/// The cube named on the command line.
pub fn cube_source(args: CubeArgs) -> CubeSource {
    CubeSource { path: args.cube, dataset: args.dataset, band_axis: args.band_axis, wavelengths: args.wavelengths }
}

/// `convert --compress`.
pub fn compression(arg: CompressArg) -> Compression {
    match arg {
        CompressArg::Deflate => Compression::Deflate,
        CompressArg::Zstd => Compression::Zstd,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command, TrainCommand};

    fn parse(line: &str) -> Cli {
        Cli::try_parse_from(std::iter::once("hypersynth").chain(line.split_whitespace())).unwrap()
    }

    #[test]
    fn fuse_takes_its_defaults_from_the_command_module_and_its_flags_as_given() {
        let Command::Fuse(args) = parse("fuse --model m.onnx --pre a.tif --post b.tif --out d.tif").command else { panic!() };
        let f = fuse(*args, Some(3)).unwrap();
        assert_eq!((f.tile, f.overlap, f.samples, f.threshold), (fuse::DEFAULT_TILE, fuse::DEFAULT_OVERLAP, fuse::DEFAULT_SAMPLES, None));
        assert_eq!((f.session.threads, f.session.device), (Some(3), Device::Cpu));
        let Command::Fuse(args) =
            parse("fuse --model m.onnx --pre a.tif --post b.tif --out d.tif --tile 64 --overlap 8 --samples 6 --threshold 0.4").command
        else {
            panic!()
        };
        let f = fuse(*args, None).unwrap();
        assert_eq!((f.tile, f.overlap, f.samples, f.threshold), (64, 8, 6, Some(0.4)));
        let zero = "hypersynth fuse --model m.onnx --pre a.tif --post b.tif --out d.tif --samples 0";
        assert!(Cli::try_parse_from(zero.split_whitespace()).is_err(), "at least one pass");
    }

    #[test]
    fn augment_resolves_its_target_selection_record_and_report() {
        let Command::Augment(args) = parse("augment --model m.onnx --table t.csv --out o --balance --keep-all --no-report").command else {
            panic!()
        };
        let a = augment(*args, None).unwrap();
        assert_eq!(a.target, augment::Target::Balance);
        assert_eq!(a.selection, augment::Selection::All);
        assert_eq!(a.run_json, std::path::Path::new("o/run.json"));
        assert!(a.report.is_none() && matches!(a.source, LabelSource::Table(_)));
        let Command::Augment(args) = parse("augment --model m.onnx --table t.csv --out o --target-per-class 50 --seed 4").command else {
            panic!()
        };
        let a = augment(*args, None).unwrap();
        assert_eq!(
            (a.target, a.selection, a.batch),
            (augment::Target::PerClass(50), augment::Selection::NearestReal, augment::DEFAULT_BATCH)
        );
        assert_eq!(a.report.map(|q| q.seed), Some(4));
        assert_eq!(a.compression, hypersynth_data::TableCompression::default());
        let Command::Augment(args) = parse("augment --model m.onnx --table t.csv --out o --balance --compression lz4").command else {
            panic!()
        };
        assert_eq!(augment(*args, None).unwrap().compression, hypersynth_data::TableCompression::Lz4);
        let bad = "hypersynth augment --model m.onnx --table t.csv --out o --balance --compression gzip";
        let e = Cli::try_parse_from(bad.split_whitespace()).unwrap_err().to_string();
        assert!(e.contains("zstd, lz4, snappy, none"), "{e}");
    }

    #[test]
    fn train_spectral_resolves_the_generator_and_the_gan_s_discriminator() {
        let Command::Train(TrainCommand::Spectral(args)) = parse("train spectral --table t.csv --out m.onnx").command else { panic!() };
        let settings = train_spectral(*args).unwrap();
        assert_eq!(settings.synthesis, train_spectral::Synthesis::Exemplar(ExemplarConfig::default()));
        // The exemplar model takes every given pixel unless told otherwise; the GAN holds
        // back validation and test shares.
        assert_eq!((settings.split.validation, settings.split.test), (0.0, 0.0));
        let Command::Train(TrainCommand::Spectral(args)) = parse("train spectral --table t.csv --out m.onnx --test 0.3").command else {
            panic!()
        };
        assert_eq!(train_spectral(*args).unwrap().split.test, 0.3);
        let Command::Train(TrainCommand::Spectral(args)) = parse("train spectral --table t.csv --out m.onnx --generator gan").command
        else {
            panic!()
        };
        let gan = train_spectral(*args).unwrap().split;
        assert_eq!((gan.validation, gan.test), (0.2, 0.2));
        // The flags' defaults are the architecture's (the widths are written out in cli.rs).
        assert_eq!(settings.architecture, SpectralCganArchitecture::default());
        let line = "train spectral --table t.csv --out m.onnx --generator gan --loss began --spectral-norm --interpolate 0.2";
        let Command::Train(TrainCommand::Spectral(args)) = parse(line).command else { panic!() };
        let settings = train_spectral(*args).unwrap();
        assert_eq!(settings.synthesis, train_spectral::Synthesis::Gan);
        assert!(settings.architecture.autoencoder && settings.architecture.spectral_norm);
        assert_eq!(settings.train.loss, hypersynth_models::losses::Loss::Began);
    }

    #[test]
    fn train_spectral_resolves_the_exemplar_gan_with_its_own_defaults_and_the_shared_adversarial_settings() {
        let line = "train spectral --table t.csv --out m.onnx --generator dagan --steps 300 --mates 0 --class-balance 1";
        let Command::Train(TrainCommand::Spectral(args)) = parse(line).command else { panic!() };
        let settings = train_spectral(*args).unwrap();
        let train_spectral::Synthesis::Dagan(dagan) = &settings.synthesis else { panic!("{:?}", settings.synthesis) };
        assert_eq!(dagan.architecture, DaganArchitecture { mates: 0, ..DaganArchitecture::default() });
        assert_eq!(dagan.class_balance, 1.0);
        assert_eq!(settings.train.steps, 300);
        // Every given pixel, as the exemplar model; the GAN's widths are not the DAGAN's.
        assert_eq!((settings.split.validation, settings.split.test), (0.0, 0.0));
        assert_eq!(settings.architecture, SpectralCganArchitecture::default());
        let defaults = "train spectral --table t.csv --out m.onnx --generator dagan";
        let Command::Train(TrainCommand::Spectral(args)) = parse(defaults).command else { panic!() };
        let settings = train_spectral(*args).unwrap();
        assert_eq!(settings.synthesis, train_spectral::Synthesis::named("dagan").unwrap());
        assert_eq!(settings.train, hypersynth_models::dagan_training::DaganTrainConfig::default().adversarial);
    }

    #[test]
    fn labelled_spectra_come_from_exactly_one_source() {
        let Command::Report(args) = parse("report --synthetic s.csv --out o").command else { panic!() };
        assert!(report(*args).unwrap_err().to_string().contains("give labelled spectra as --cube with --labels"));
        let Command::Report(args) = parse("report --cube c.tif --labels l.tif --synthetic s.csv --out o --test 0.3").command else {
            panic!()
        };
        let r = report(*args).unwrap();
        assert!(matches!(r.split, report::TestSplit::Fraction { test, .. } if test == 0.3));
        assert!(matches!(r.real, LabelSource::Raster { .. }));
    }
}
