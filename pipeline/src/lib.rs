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

mod cli;
pub mod commands;
mod components;
pub mod job;
mod labelled;
mod logging;
mod model_split;
mod progress;
mod psf_offset;
mod recipe_check;
pub mod report;
mod run_record;
mod runtime;
mod scene_inference;
mod settings;
mod threads;
pub mod tiling;

use cli::{Cli, Command, ModelsCommand, TrainCommand};

/// Set by `--quiet`: progress bars stay hidden.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Parses the command line, runs the command and turns its outcome into an exit code,
/// printing errors as `error: ...` followed by `Caused by: ...` lines.
pub fn main() -> ExitCode {
    let mut cli = Cli::parse();
    let asked_threads = cli.global.threads;
    cli.global.threads = asked_threads.map(cap_threads);
    if let Err(e) = prepare_process(&cli, asked_threads) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
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

/// Process-wide settings that must be in place before any other thread starts, and the
/// global thread pool (`asked`: the `--threads` given, before [`cap_threads`]).
fn prepare_process(cli: &Cli, asked: Option<usize>) -> anyhow::Result<()> {
    if let Command::Train(TrainCommand::Spectral(args)) = &cli.command
        && args.loss.needs_second_derivatives()
    {
        // SAFETY: nothing but this thread runs yet (no logging, rayon or ONNX Runtime
        // threads), so no one reads the environment concurrently. Candle reads this
        // once per thread to keep gradients differentiable (a gradient penalty's double
        // backward).
        unsafe { std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1") };
    }
    if let Some(threads) = cli.global.threads {
        // SAFETY: as above. Candle's matrix kernels size their pools from this variable,
        // GDAL its decoding threads from the other.
        unsafe {
            std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
            std::env::set_var("GDAL_NUM_THREADS", threads.to_string());
        }
        build_pool(threads, &format!("--threads {}", asked.unwrap_or(threads)))?;
    } else if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // Without the variable, candle counts the physical cores (reading /proc/cpuinfo)
        // at every matrix product: about 200 reads per step of the exemplar GAN. The count
        // is taken once here and handed to candle through the variable; rayon's pool keeps
        // its own default size (the cores this process may use), as it would have without
        // it. The spectral networks' products are too small to split: on one thread their
        // training takes 0.6 to 0.7 of the time on two, to the same bits (docs/TRAINING.md).
        let spectral = matches!(&cli.command, Command::Train(TrainCommand::Spectral(_)));
        let kernels = if spectral { 1 } else { hypersynth_models::matrix_kernel_threads() };
        let pool = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        // SAFETY: as above.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", kernels.to_string()) };
        build_pool(pool, "one thread per core (--threads N uses fewer)")?;
    }
    Ok(())
}

/// Rayon's global pool of `threads` threads (`why` that many, for the error). No pool
/// exists this early: building fails only when the system starts no more threads.
fn build_pool(threads: usize, why: &str) -> anyhow::Result<()> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| anyhow::anyhow!("{why}: cannot start {threads} threads ({e}): {}", threads::process_limit()))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let threads = cli.global.threads;
    match cli.command {
        Command::Info(args) => {
            let labels = args.labels.map(|raster| commands::info::Labels { raster, names: args.classes });
            commands::info::run(&settings::cube_source(args.cube), labels.as_ref(), args.json)
        }
        Command::Convert(args) => {
            commands::convert::run(&settings::cube_source(args.cube), &args.out, settings::compression(args.compress), args.overwrite)
        }
        Command::Models(ModelsCommand::Inspect(args)) => {
            commands::models::inspect(&args.model, &settings::session(&args.device, threads)?, args.json)
        }
        Command::Train(TrainCommand::Spectral(args)) => commands::train_spectral::run(&settings::train_spectral(*args)?).map(|_| ()),
        Command::Train(TrainCommand::Pix2pix(args)) => commands::train_pix2pix::run(&settings::train_pix2pix(*args)?).map(|_| ()),
        Command::Train(TrainCommand::Cyclegan(args)) => commands::train_cyclegan::run(&settings::train_cyclegan(*args)).map(|_| ()),
        Command::SuperResolve(args) => {
            let outcome = commands::super_resolve::run(&settings::super_resolve(*args, threads)?)?;
            println!("{}", outcome.output.display());
            if let Some(quality) = outcome.quality {
                println!("{quality}");
            }
            Ok(())
        }
        Command::Fuse(args) => {
            let outcome = commands::fuse::run(&settings::fuse(*args, threads)?)?;
            println!("{}", outcome.probability.display());
            Ok(())
        }
        Command::Augment(args) => commands::augment::run(&settings::augment(*args, threads)?).map(|_| ()),
        Command::Classify(args) => {
            let outcome = commands::classify::run(&settings::classify(*args)?)?;
            println!("{}", outcome.map.display());
            Ok(())
        }
        Command::Report(args) => {
            let dir = commands::report::run(&settings::report(*args)?)?;
            println!("{}", dir.join("report.html").display());
            Ok(())
        }
        Command::Demo(args) => commands::demo::run(&args.out, threads),
        Command::Run(args) => {
            let outcome = job::run(&settings::run_job(args, threads)?)?;
            println!("{}", outcome.summary.display());
            match outcome.end {
                job::JobEnd::AllDone => Ok(()),
                _ => Err(job::Unfinished(outcome).into()),
            }
        }
    }
}
