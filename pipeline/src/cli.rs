//! The command line, and nothing else: clap types stay here and are turned into each
//! command's settings before any work starts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Conditional GANs for scarce hyperspectral classes: train in Rust, export to ONNX, write
/// synthetic spectra and COG products.
#[derive(Debug, Parser)]
#[command(name = "hypersynth", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Only print errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More log output (repeat for more).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Worker threads for CPU work and ONNX Runtime (default: all cores).
    #[arg(long, global = true, env = "HYPERSYNTH_THREADS")]
    pub threads: Option<usize>,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for cron and log collectors.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a cube's size, bands, wavelengths, data type, scale/offset, nodata and georeferencing.
    Info(InfoArgs),
    /// Convert any readable cube (GeoTIFF, ENVI, NEON HDF5, ...) to a Cloud-Optimized GeoTIFF
    /// with its band metadata.
    Convert(ConvertArgs),
    /// Work with ONNX models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Run the main job on the bundled sample data.
    Demo(DemoArgs),
}

/// Which cube to read.
#[derive(Debug, Args)]
pub struct CubeArgs {
    /// The cube file (GeoTIFF, ENVI, NEON AOP HDF5, or any GDAL raster).
    pub cube: PathBuf,
    /// HDF5 only: the 3-D dataset to read (default: the NEON reflectance dataset).
    #[arg(long)]
    pub dataset: Option<String>,
    /// HDF5 only: the axis (0, 1 or 2) that holds the bands (default 2: [rows, cols, bands]).
    #[arg(long)]
    pub band_axis: Option<usize>,
}

/// `hypersynth info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The cube.
    #[command(flatten)]
    pub cube: CubeArgs,
    /// A class raster aligned with the cube (0 = unlabelled): its per-class pixel counts
    /// are shown.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// `class_id,name` CSV naming the classes of --labels.
    #[arg(long, requires = "labels")]
    pub classes: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `hypersynth convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The cube to convert.
    #[command(flatten)]
    pub cube: CubeArgs,
    /// The Cloud-Optimized GeoTIFF to write.
    pub out: PathBuf,
    /// Compression (lossless, with a predictor).
    #[arg(long, value_enum, default_value_t = CompressArg::Deflate)]
    pub compress: CompressArg,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub overwrite: bool,
}

/// COG compression.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompressArg {
    /// DEFLATE, readable everywhere.
    Deflate,
    /// ZSTD, faster.
    Zstd,
}

/// `hypersynth models ...`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Print a model's card and its input/output contract.
    Inspect(InspectArgs),
}

/// Where inference runs.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// Execution provider: cpu, cuda[:N] or tensorrt[:N].
    #[arg(long, default_value = "cpu", env = "HYPERSYNTH_DEVICE")]
    pub device: String,
    /// Run on the CPU when the requested GPU provider is unavailable, instead of failing.
    #[arg(long)]
    pub allow_cpu_fallback: bool,
}

/// `hypersynth models inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ONNX model.
    pub model: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Where to load the model.
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// `hypersynth demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output folder.
    #[arg(long, default_value = "hypersynth-demo")]
    pub out: PathBuf,
}
