//! The hypersynth command line and batch orchestration: the glue between cube I/O
//! (`hypersynth-data`), spectral math (`hypersynth-spectral`), GAN training and export
//! (`hypersynth-models`) and ONNX Runtime (`hypersynth-onnx`).
//!
//! Exit codes: 0 success, 1 failure (the message names the file and the problem), 2 bad
//! usage (unknown option, missing argument); `run` also 3 (some tasks not done) and 4
//! (stopped by SIGINT or SIGTERM).
#![deny(missing_docs)]

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

pub mod cli;
pub mod commands;
mod components;
pub mod job;
mod labelled;
mod logging;
mod model_input;
mod progress;
pub mod report;
mod run_record;
mod runtime;
pub mod tiling;

use anyhow::bail;
use cli::{Cli, Command, CompressArg, CubeArgs, LabelArgs, ModelsCommand, TrainCommand};
use hypersynth_data::{Compression, CubeSource};
use hypersynth_spectral::QualityConfig;
use labelled::LabelSource;

/// Set by `--quiet`: progress bars stay hidden.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Parses the command line, runs the command and turns its outcome into an exit code,
/// printing errors as `error: ...` followed by `Caused by: ...` lines.
pub fn main() -> ExitCode {
    let mut cli = Cli::parse();
    let asked_threads = cli.global.threads;
    cli.global.threads = asked_threads.map(cap_threads);
    prepare_process(&cli);
    logging::init(cli.global.log_format, cli.global.quiet, cli.global.verbose);
    if let (Some(asked), Some(used)) = (asked_threads, cli.global.threads)
        && asked != used
    {
        tracing::warn!("--threads {asked} is more than this machine's {used} cores; using {used}");
    }
    QUIET.store(cli.global.quiet, Ordering::Relaxed);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            if let Some(unfinished) = err.downcast_ref::<job::Unfinished>() {
                return ExitCode::from(unfinished.0.end.exit_code());
            }
            for cause in err.chain().skip(1) {
                eprintln!("Caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `--threads` at most the cores this process may use: more only slows the work down.
fn cap_threads(asked: usize) -> usize {
    asked.min(std::thread::available_parallelism().map_or(asked, std::num::NonZero::get))
}

/// Process-wide settings that must be in place before any other thread starts.
fn prepare_process(cli: &Cli) {
    if let Command::Train(TrainCommand::Spectral(args)) = &cli.command
        && args.loss == "wgan-gp"
    {
        // SAFETY: nothing but this thread runs yet (no logging, rayon or ONNX Runtime
        // threads), so no one reads the environment concurrently. Candle reads this
        // once per thread to keep gradients differentiable (WGAN-GP's double backward).
        unsafe { std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1") };
    }
    if let Some(threads) = cli.global.threads {
        // SAFETY: as above. Candle's matrix kernels size their pools from this variable.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
        // Fails only if a pool exists already, which it cannot this early.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let threads = cli.global.threads;
    match cli.command {
        Command::Info(args) => {
            let labels = args.labels.map(|raster| commands::info::Labels { raster, names: args.classes });
            commands::info::run(&cube_source(args.cube), labels.as_ref(), args.json)
        }
        Command::Convert(args) => {
            let compression = match args.compress {
                CompressArg::Deflate => Compression::Deflate,
                CompressArg::Zstd => Compression::Zstd,
            };
            commands::convert::run(&cube_source(args.cube), &args.out, compression, args.overwrite)
        }
        Command::Models(ModelsCommand::Inspect(args)) => {
            let options = runtime::session_options(&args.device, threads)?;
            commands::models::inspect(&args.model, &options, args.json)
        }
        Command::Train(TrainCommand::Spectral(args)) => {
            commands::train_spectral::run(&commands::train_spectral_settings(*args)?).map(|_| ())
        }
        Command::Train(TrainCommand::Pix2pix(args)) => commands::train_pix2pix::run(&commands::train_pix2pix_settings(*args)?).map(|_| ()),
        Command::Train(TrainCommand::Cyclegan(args)) => {
            commands::train_cyclegan::run(&commands::train_cyclegan_settings(*args)).map(|_| ())
        }
        Command::SuperResolve(args) => {
            let settings = commands::super_resolve::SuperResolve {
                session: runtime::session_options(&args.device, threads)?,
                model: args.model,
                input: args.input,
                out: args.out,
                scale: args.scale,
                tile: args.tile,
                overlap: args.overlap,
                batch: args.batch,
                reference: args.reference,
            };
            let outcome = commands::super_resolve::run(&settings)?;
            println!("{}", outcome.output.display());
            if let Some((model, bicubic)) = outcome.quality {
                println!("{:<8} {:>9} {:>7} {:>8}", "", "PSNR dB", "SSIM", "SAM deg");
                for (name, s) in [("model", model), ("bicubic", bicubic)] {
                    println!("{name:<8} {:>9.2} {:>7.4} {:>8.3}", s.psnr_db, s.ssim, s.sam_deg);
                }
            }
            Ok(())
        }
        Command::Fuse(args) => {
            let settings = commands::fuse::Fuse {
                session: runtime::session_options(&args.device, threads)?,
                model: args.model,
                pre: args.pre,
                post: args.post,
                out: args.out,
                tile: args.tile,
                overlap: args.overlap,
                batch: args.batch,
                threshold: args.threshold,
            };
            let outcome = commands::fuse::run(&settings)?;
            println!("{}", outcome.probability.display());
            Ok(())
        }
        Command::Augment(args) => {
            let session = runtime::session_options(&args.device, threads)?;
            let target = match (args.target_per_class, args.balance) {
                (Some(n), _) => commands::augment::Target::PerClass(n),
                _ => commands::augment::Target::Balance,
            };
            let settings = commands::augment::Augment {
                model: args.model,
                source: label_source(args.labels)?,
                run_json: args.out.join("run.json"),
                out: args.out,
                target,
                seed: args.seed,
                batch: args.batch,
                hdf5: args.hdf5,
                session,
                report: (!args.no_report).then(|| QualityConfig { seed: args.seed, ..QualityConfig::default() }),
            };
            commands::augment::run(&settings).map(|_| ())
        }
        Command::Report(args) => {
            let split = match args.model {
                Some(model) => commands::report::TestSplit::FromModel(model),
                None => commands::report::TestSplit::Fraction { test: args.test, seed: args.seed },
            };
            let settings = commands::report::Report {
                real: label_source(args.labels)?,
                synthetic: args.synthetic,
                split,
                out: args.out,
                quality: QualityConfig { seed: args.seed, max_rows_per_class: args.max_rows_per_class, ..QualityConfig::default() },
            };
            let dir = commands::report::run(&settings)?;
            println!("{}", dir.join("report.html").display());
            Ok(())
        }
        Command::Demo(args) => commands::demo::run(&args.out, threads),
        Command::Run(args) => {
            let shard = args.shard.as_deref().map(str::parse).transpose()?;
            let settings = job::RunJob {
                job: args.job,
                force: args.force,
                shard,
                merge: args.merge,
                scenes_at_once: args.scenes_at_once,
                session: hypersynth_onnx::SessionOptions { threads, ..Default::default() },
            };
            let outcome = job::run(&settings)?;
            println!("{}", outcome.summary.display());
            match outcome.end {
                job::JobEnd::AllDone => Ok(()),
                _ => Err(job::Unfinished(outcome).into()),
            }
        }
    }
}

/// The label source named on the command line.
fn label_source(args: LabelArgs) -> anyhow::Result<LabelSource> {
    Ok(match (args.cube, args.labels, args.library, args.class_table, args.table) {
        (Some(cube), Some(labels), None, None, None) => LabelSource::Raster {
            cube: CubeSource { path: cube, dataset: args.dataset, band_axis: args.band_axis },
            labels,
            names: args.classes,
        },
        (None, None, Some(sli), Some(table), None) => LabelSource::Library { sli, table, column: args.class_column },
        (None, None, None, None, Some(table)) => LabelSource::Table(table),
        _ => bail!("give labelled spectra as --cube with --labels, --library with --class-table, or --table"),
    })
}

fn cube_source(args: CubeArgs) -> CubeSource {
    CubeSource { path: args.cube, dataset: args.dataset, band_axis: args.band_axis }
}
