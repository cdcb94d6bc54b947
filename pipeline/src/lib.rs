//! The hypersynth command line and batch orchestration: the glue between cube I/O
//! (`hypersynth-data`), spectral math (`hypersynth-spectral`), GAN training and export
//! (`hypersynth-models`) and ONNX Runtime (`hypersynth-onnx`).
//!
//! Exit codes: 0 success, 1 failure (the message names the file and the problem), 2 bad
//! usage (unknown option, missing argument).
#![deny(missing_docs)]

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

pub mod cli;
pub mod commands;
mod logging;
mod progress;
mod runtime;

use cli::{Cli, Command, CompressArg, CubeArgs, ModelsCommand};
use hypersynth_data::{Compression, CubeSource};

/// Set by `--quiet`: progress bars stay hidden.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Parses the command line, runs the command and turns its outcome into an exit code,
/// printing errors as `error: ...` followed by `Caused by: ...` lines.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.global.log_format, cli.global.quiet, cli.global.verbose);
    QUIET.store(cli.global.quiet, Ordering::Relaxed);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("Caused by: {cause}");
            }
            ExitCode::FAILURE
        }
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
        Command::Demo(args) => commands::demo::run(&args.out),
    }
}

fn cube_source(args: CubeArgs) -> CubeSource {
    CubeSource { path: args.cube, dataset: args.dataset, band_axis: args.band_axis }
}
