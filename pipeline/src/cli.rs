//! The command line, and nothing else: clap types stay here and are turned into each
//! command's settings before any work starts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hypersynth_data::TableCompression;
use hypersynth_models::cyclegan::CycleganArchitecture;
use hypersynth_models::cyclegan_training::CycleganTrainConfig;
use hypersynth_models::dagan::DaganArchitecture;
use hypersynth_models::dagan_training::DaganTrainConfig;
use hypersynth_models::losses::Loss;
use hypersynth_models::pix2pix::Pix2pixArchitecture;
use hypersynth_models::pix2pix_training::Pix2pixTrainConfig;
use hypersynth_models::spectral_cgan::SpectralCganArchitecture;
use hypersynth_models::training::TrainConfig;
use hypersynth_spectral::{DEFAULT_BLOCK, ExemplarConfig, Layout, QualityConfig};

use crate::commands::{augment, fuse, super_resolve};

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
    /// Worker threads for CPU work, GDAL decoding and ONNX Runtime (default: all cores).
    #[arg(long, value_parser = at_least::<1>, global = true, env = "HYPERSYNTH_THREADS")]
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
    /// Train a model.
    #[command(subcommand)]
    Train(TrainCommand),
    /// Bring scarce classes up to a target count with synthetic spectra from a spectral-cgan model.
    Augment(Box<AugmentArgs>),
    /// Fit a pixel classifier on labelled spectra (or take a saved one) and map a scene with
    /// it: class ids with names and colours, confidences, and the accuracy on --check labels.
    Classify(Box<ClassifyArgs>),
    /// The quality report for real and synthetic spectra (from hypersynth or any other tool):
    /// likeness per class, copying, and classifier lift on an untouched real test split.
    Report(Box<ReportArgs>),
    /// Run a pix2pix damage model over co-registered pre- and post-event scenes, tile by
    /// tile, and write the damage probability as a Cloud-Optimized GeoTIFF.
    Fuse(Box<FuseArgs>),
    /// Super-resolve a low-res scene with a cyclegan-sr model: resample it to the finer grid,
    /// refine it tile by tile, write a Cloud-Optimized GeoTIFF; optionally score it against a
    /// high-res reference.
    SuperResolve(Box<SuperResolveArgs>),
    /// Run the main job on the bundled sample data.
    Demo(DemoArgs),
    /// Run a job file's stages over its scenes: resumable, one failed scene does not stop
    /// the others, shardable over a Slurm job array or a Kubernetes indexed Job.
    Run(RunArgs),
}

/// `hypersynth run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job file (TOML; see docs/JOBS.md).
    pub job: PathBuf,
    /// Run every task again, even those whose run.json says done with the same inputs.
    #[arg(long)]
    pub force: bool,
    /// Take only this worker's share of the scenes, I/N with I from 0 to N - 1 (default:
    /// from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT or JOB_COMPLETION_INDEX/
    /// HYPERSYNTH_SHARDS when set, else every scene).
    #[arg(long, conflicts_with = "merge")]
    pub shard: Option<String>,
    /// Run nothing; write the job summary from every task's run.json (after the shards).
    #[arg(long)]
    pub merge: bool,
    /// Scenes run at once, each with its share of the threads (when memory allows: each
    /// holds its own scene and models).
    #[arg(long, value_parser = at_least::<1>, default_value_t = 1)]
    pub scenes_at_once: usize,
}

/// `hypersynth train ...`.
#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// Train the spectral conditional GAN on labelled spectra (training split only) and export it to ONNX.
    Spectral(Box<TrainSpectralArgs>),
    /// Train a Pix2Pix damage model on co-registered pre- and post-event scenes and a damage
    /// raster (one part of the scene held out for validation) and export it to ONNX.
    Pix2pix(Box<TrainPix2pixArgs>),
    /// Train a CycleGAN for super-resolution on unpaired low-res and high-res scenes and
    /// export its low-res → high-res generator to ONNX.
    Cyclegan(Box<TrainCycleganArgs>),
}

/// `hypersynth train cyclegan`.
#[derive(Debug, Args)]
pub struct TrainCycleganArgs {
    /// Low-resolution scenes (domain A), resampled to the high-res grid for training.
    #[arg(long, required = true, num_args = 1..)]
    pub domain_a: Vec<PathBuf>,
    /// High-resolution scenes (domain B), unpaired with domain A.
    #[arg(long, required = true, num_args = 1..)]
    pub domain_b: Vec<PathBuf>,
    /// High-res pixels per low-res pixel along each axis.
    #[arg(long, value_parser = at_least::<2>)]
    pub scale: usize,
    /// The ONNX model to write (M.run.json, M.metrics.csv and a checkpoint go beside it).
    #[arg(long)]
    pub out: PathBuf,
    /// Principal components of the spectra the generators work on.
    #[arg(long, value_parser = at_least::<1>, default_value_t = 12)]
    pub components: usize,
    /// Updates of the generators and the discriminators.
    #[arg(long, value_parser = at_least::<1>, default_value_t = CycleganTrainConfig::default().steps)]
    pub steps: usize,
    /// Crops of each domain per batch.
    #[arg(long, value_parser = at_least::<2>, default_value_t = CycleganTrainConfig::default().batch_size)]
    pub batch_size: usize,
    /// Side of the training crops on the high-res grid (a multiple of 2^downsamplings and of the scale).
    #[arg(long, value_parser = at_least::<1>, default_value_t = CycleganTrainConfig::default().tile)]
    pub tile: usize,
    /// Initial Adam learning rate (constant for the first half, then decaying linearly to 0).
    #[arg(long, value_parser = positive, default_value_t = CycleganTrainConfig::default().lr)]
    pub lr: f64,
    /// Weight of the generators' adversarial losses.
    #[arg(long, value_parser = non_negative, default_value_t = CycleganTrainConfig::default().adversarial_weight)]
    pub adversarial_weight: f64,
    /// Weight of the cycle-consistency losses.
    #[arg(long, value_parser = non_negative, default_value_t = CycleganTrainConfig::default().cycle_weight)]
    pub cycle_weight: f64,
    /// Weight of the identity losses, as a fraction of the cycle weight.
    #[arg(long, value_parser = non_negative, default_value_t = CycleganTrainConfig::default().identity_weight)]
    pub identity_weight: f64,
    /// Past generated images kept per domain for the discriminators.
    #[arg(long, default_value_t = CycleganTrainConfig::default().pool_size)]
    pub pool_size: usize,
    /// Channels of the generators' first layer.
    #[arg(long, value_parser = at_least::<1>, default_value_t = CycleganArchitecture::default().width)]
    pub width: usize,
    /// Residual blocks of the generators.
    #[arg(long, default_value_t = CycleganArchitecture::default().blocks)]
    pub blocks: usize,
    /// Stride-2 down-samplings (and up-samplings) of the generators.
    #[arg(long, value_parser = at_least::<1>, default_value_t = CycleganArchitecture::default().downsamplings)]
    pub downsamplings: usize,
    /// Where each low-res pixel is centred, in high-res pixels ROWS,COLS from the centre of
    /// the block of high-res pixels its georeferencing gives it: 0,0 when the low-res
    /// pixels are block means (GDAL's average, area-integrating sensors); -0.5,-0.5 at x2
    /// when every second pixel of a blurred image was kept, starting with the first.
    /// Unpaired scenes cannot tell it; `auto` measures it where a domain-A scene and a
    /// domain-B scene cover the same ground (docs/SUPER_RESOLUTION.md).
    #[arg(long, value_parser = psf_offset, default_value = "0,0", allow_hyphen_values = true)]
    pub psf_offset: PsfOffsetArg,
    /// Do not flip and rotate training crops.
    #[arg(long)]
    pub no_augment: bool,
    /// Seed of training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `hypersynth super-resolve`.
#[derive(Debug, Args)]
pub struct SuperResolveArgs {
    /// The cyclegan-sr model.
    #[arg(long)]
    pub model: PathBuf,
    /// The low-resolution scene.
    #[arg(long)]
    pub input: PathBuf,
    /// The high-resolution COG to write (OUT.run.json goes beside it).
    #[arg(long)]
    pub out: PathBuf,
    /// The scale you expect (refused when it is not the model's).
    #[arg(long, value_parser = at_least::<2>)]
    pub scale: Option<usize>,
    /// Tile side in pixels on the high-res grid (a multiple of the model's tile multiple).
    #[arg(long, value_parser = at_least::<1>, default_value_t = super_resolve::DEFAULT_TILE)]
    pub tile: usize,
    /// Pixels shared by neighbouring tiles, blended smoothly (less than half the tile).
    #[arg(long, default_value_t = super_resolve::DEFAULT_OVERLAP)]
    pub overlap: usize,
    /// Tiles per ONNX Runtime call [default: 1 on the CPU, 4 on a GPU].
    #[arg(long, value_parser = at_least::<1>)]
    pub batch: Option<usize>,
    /// A high-res scene of the same area: print PSNR, SSIM and spectral angle of the output
    /// and of plain bicubic resampling against it.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Where the model runs.
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// `hypersynth train pix2pix`.
#[derive(Debug, Args)]
pub struct TrainPix2pixArgs {
    /// The pre-event scene.
    #[arg(long)]
    pub pre: PathBuf,
    /// The post-event scene, on the same grid.
    #[arg(long)]
    pub post: PathBuf,
    /// The damage raster on the same grid: a 0/1 mask (an integer raster), or a continuous
    /// severity in [0, 1] (a float raster); --target-kind says which otherwise.
    #[arg(long)]
    pub target: PathBuf,
    /// What the target holds: `mask` (the model writes a damage probability) or `severity`
    /// (it writes a severity 0-1); default: a float raster is a severity, an integer one a mask.
    #[arg(long, value_enum)]
    pub target_kind: Option<TargetKindArg>,
    /// The ONNX model to write (M.run.json, M.metrics.csv and a checkpoint go beside it).
    #[arg(long)]
    pub out: PathBuf,
    /// Fraction of the scene held out for validation (training tiles never touch it).
    #[arg(long, value_parser = open_fraction, default_value_t = 0.25)]
    pub holdout: f64,
    /// Which side of the scene is held out.
    #[arg(long, value_enum, default_value_t = SideArg::Right)]
    pub holdout_side: SideArg,
    /// Principal components of the spectra per scene that the U-Net reads.
    #[arg(long, value_parser = at_least::<1>, default_value_t = 8)]
    pub components: usize,
    /// Adversarial loss: non-saturating (the reference's "vanilla") or lsgan.
    #[arg(long, default_value = "non-saturating")]
    pub loss: String,
    /// Updates of the generator and the discriminator.
    #[arg(long, value_parser = at_least::<1>, default_value_t = Pix2pixTrainConfig::default().steps)]
    pub steps: usize,
    /// Tiles per batch.
    #[arg(long, value_parser = at_least::<2>, default_value_t = Pix2pixTrainConfig::default().batch_size)]
    pub batch_size: usize,
    /// Side of the training tiles (a multiple of 2^depth).
    #[arg(long, value_parser = at_least::<1>, default_value_t = Pix2pixTrainConfig::default().tile)]
    pub tile: usize,
    /// Adam learning rate.
    #[arg(long, value_parser = positive, default_value_t = Pix2pixTrainConfig::default().lr)]
    pub lr: f64,
    /// Weight of the L1 distance to the target.
    #[arg(long, value_parser = non_negative, default_value_t = Pix2pixTrainConfig::default().l1_weight)]
    pub l1_weight: f64,
    /// Do not flip and rotate training tiles.
    #[arg(long)]
    pub no_augment: bool,
    /// U-Net down-sampling steps.
    #[arg(long, value_parser = at_least::<1>, default_value_t = Pix2pixArchitecture::default().depth)]
    pub depth: usize,
    /// Channels of the U-Net's first level (doubling per level up to 8 times this).
    #[arg(long, value_parser = at_least::<1>, default_value_t = Pix2pixArchitecture::default().base_width)]
    pub base_width: usize,
    /// Dropout probability of the inner decoder blocks while training.
    #[arg(long, value_parser = fraction, default_value_t = Pix2pixArchitecture::default().dropout)]
    pub dropout: f64,
    /// Seed of training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `--holdout-side`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SideArg {
    /// The last columns.
    Right,
    /// The first columns.
    Left,
    /// The first rows.
    Top,
    /// The last rows.
    Bottom,
}

/// `hypersynth fuse`.
#[derive(Debug, Args)]
pub struct FuseArgs {
    /// The pix2pix damage model.
    #[arg(long)]
    pub model: PathBuf,
    /// The pre-event scene.
    #[arg(long)]
    pub pre: PathBuf,
    /// The post-event scene, on the same grid.
    #[arg(long)]
    pub post: PathBuf,
    /// The damage probability (or, from a severity model, severity) COG to write
    /// (OUT.run.json, with --threshold OUT.mask.tif and with --classes OUT.classes.tif go
    /// beside it).
    #[arg(long)]
    pub out: PathBuf,
    /// Tile side in pixels (a multiple of the model's 2^depth).
    #[arg(long, value_parser = at_least::<1>, default_value_t = fuse::DEFAULT_TILE)]
    pub tile: usize,
    /// Pixels shared by neighbouring tiles, blended smoothly (less than half the tile).
    #[arg(long, default_value_t = fuse::DEFAULT_OVERLAP)]
    pub overlap: usize,
    /// Tiles per ONNX Runtime call [default: 1 on the CPU, 4 on a GPU].
    #[arg(long, value_parser = at_least::<1>)]
    pub batch: Option<usize>,
    /// Passes per tile with the model's dropout on (Monte Carlo dropout): OUT gets their
    /// mean and, as a second band, their standard deviation (`uncertainty`); 1 runs the
    /// model once, as it is.
    #[arg(long, value_parser = at_least::<1>, default_value_t = fuse::DEFAULT_SAMPLES)]
    pub samples: usize,
    /// Also write a 0/1 mask of probability (or severity) >= this.
    #[arg(long, value_parser = unit)]
    pub threshold: Option<f64>,
    /// Severity models: also write severity classes at these ascending thresholds in (0, 1)
    /// (as dNBR's low / moderate / high grades: 0.1,0.27,0.44,0.66 gives classes 0 to 4).
    #[arg(long, value_delimiter = ',', value_parser = unit)]
    pub classes: Vec<f64>,
    /// Where the model runs.
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Labelled spectra: a cube with a class raster, a spectral library with a class table, or
/// a spectra table.
#[derive(Debug, Args)]
pub struct LabelArgs {
    /// The cube (GeoTIFF, ENVI, NEON HDF5, a GDAL /vsi path, ...); needs --labels. Repeat
    /// --cube and --labels to pool the labelled pixels of several scenes (same bands).
    #[arg(long, requires = "labels")]
    pub cube: Vec<PathBuf>,
    /// Class raster aligned with --cube (0 = unlabelled), one per --cube, in order.
    #[arg(long, requires = "cube")]
    pub labels: Vec<PathBuf>,
    /// A CSV listing scenes to pool, one per row: columns `scene` and `labels` (or `image`
    /// and `mask`; paths relative to the CSV's folder).
    #[arg(long, conflicts_with_all = ["cube", "library", "table"])]
    pub scenes: Option<PathBuf>,
    /// `class_id,name` CSV naming the classes of --labels.
    #[arg(long)]
    pub classes: Option<PathBuf>,
    /// A CSV of the bands' centre wavelengths and FWHM in nm (columns `wavelength_nm`,
    /// `fwhm_nm`; one row per band), for cubes that state none (a gdalbuildvrt mosaic).
    #[arg(long)]
    pub wavelengths: Option<PathBuf>,
    /// HDF5 only: the 3-D dataset to read.
    #[arg(long)]
    pub dataset: Option<String>,
    /// HDF5 only: the axis holding the bands.
    #[arg(long)]
    pub band_axis: Option<usize>,
    /// An ENVI spectral library (.sli); needs --class-table.
    #[arg(long, conflicts_with_all = ["cube", "table"], requires = "class_table")]
    pub library: Option<PathBuf>,
    /// CSV naming each library spectrum's class (first column: spectrum names).
    #[arg(long, requires = "library")]
    pub class_table: Option<PathBuf>,
    /// The class-table column to use.
    #[arg(long, requires = "library")]
    pub class_column: Option<String>,
    /// A CSV or Parquet spectra table (class_id, band columns named by wavelength).
    #[arg(long, visible_alias = "real", conflicts_with_all = ["cube", "library"])]
    pub table: Option<PathBuf>,
}

/// `hypersynth train spectral`.
#[derive(Debug, Args)]
pub struct TrainSpectralArgs {
    /// The labelled spectra.
    #[command(flatten)]
    pub labels: LabelArgs,
    /// The ONNX model to write (M.run.json and, for the GAN, M.metrics.csv and a
    /// checkpoint go beside it).
    #[arg(long)]
    pub out: PathBuf,
    /// The generator: real training spectra varied with every class's measured scatter
    /// (exemplar; measured to help classifiers most, docs/TRAINING.md), the conditional
    /// GAN (gan; the options below marked GAN), or the exemplar-conditioned GAN (dagan:
    /// another spectrum of a class from a real one and noise, learned on pairs of
    /// class-mates; the options marked DAGAN, and the GAN's adversarial settings).
    #[arg(long, value_enum, default_value_t = GeneratorArg::Exemplar)]
    pub generator: GeneratorArg,
    /// DAGAN: a real pair is a spectrum and one of its K nearest class-mates (0: any
    /// class-mate).
    #[arg(long, value_name = "K", default_value_t = DaganArchitecture::default().mates)]
    pub mates: usize,
    /// DAGAN: classes are drawn for the pairs by their pixel count to this power (0: alike,
    /// 1: by count).
    #[arg(long, value_parser = unit, default_value_t = DaganTrainConfig::default().class_balance)]
    pub class_balance: f64,
    /// DAGAN: after training, scale each class's moves to the mean size of the class's own
    /// real pairs (docs/TRAINING.md).
    #[arg(long)]
    pub calibrate_moves: bool,
    /// Exemplar: scale of the variation's standard deviation (1: as measured).
    #[arg(long, value_parser = non_negative, default_value_t = ExemplarConfig::default().spread)]
    pub spread: f64,
    /// Exemplar: how far each synthetic spectrum's centre moves towards one of its
    /// exemplar's 5 nearest class-mates at most, as a fraction of the way (0: the exemplar).
    #[arg(long, value_parser = unit, default_value_t = ExemplarConfig::default().interpolate)]
    pub interpolate: f64,
    /// Exemplar: weight of the class's own covariance against the shape pooled over all
    /// classes (0: pooled only, 1: own only).
    #[arg(long, value_parser = unit, default_value_t = ExemplarConfig::default().own_weight)]
    pub own_weight: f64,
    /// Exemplar: borrow the variation's shape from spectrally similar classes, class j's
    /// scatter weighing exp(-angle / DEG) by the angle between class means (0: every
    /// class's scatter by its pixel count alone).
    #[arg(long, value_parser = non_negative, default_value_t = ExemplarConfig::default().borrow_angle_deg.unwrap_or(0.0))]
    pub borrow_angle: f64,
    /// Exemplar: standard deviation of the log of a per-spectrum brightness factor (0: off).
    #[arg(long, value_parser = non_negative, default_value_t = ExemplarConfig::default().brightness)]
    pub brightness: f64,
    /// Exemplar: vary the spectra themselves, additively, rather than their logarithms
    /// (multiplicatively; the default, docs/TRAINING.md).
    #[arg(long)]
    pub linear: bool,
    /// GAN: adversarial loss: minimax, non-saturating, wgan-clip, wgan-gp, lsgan, dragan,
    /// began or hinge (docs/TRAINING.md compares them).
    #[arg(long, default_value = "non-saturating", value_parser = str::parse::<Loss>)]
    pub loss: Loss,
    /// GAN: spectral normalisation of the discriminator's layers.
    #[arg(long)]
    pub spectral_norm: bool,
    /// GAN and DAGAN: generator updates [default: 2000; DAGAN 4000].
    #[arg(long, value_parser = at_least::<1>)]
    pub steps: Option<usize>,
    /// Discriminator updates per generator update.
    #[arg(long, value_parser = at_least::<1>, default_value_t = TrainConfig::default().d_steps)]
    pub d_steps: usize,
    /// Spectra per batch.
    #[arg(long, value_parser = at_least::<2>, default_value_t = TrainConfig::default().batch_size)]
    pub batch_size: usize,
    /// Generator learning rate.
    #[arg(long, value_parser = positive, default_value_t = TrainConfig::default().lr_generator)]
    pub lr_g: f64,
    /// Discriminator learning rate.
    #[arg(long, value_parser = positive, default_value_t = TrainConfig::default().lr_discriminator)]
    pub lr_d: f64,
    /// Capacity of the buffer of past generated spectra mixed into D's batches (0: off).
    #[arg(long, default_value_t = 0)]
    pub history: usize,
    /// Weight of feature matching on D's last hidden layer (0: off).
    #[arg(long, value_parser = non_negative, default_value_t = 0.0)]
    pub feature_matching: f64,
    /// One-sided label smoothing (D's real target is 1 - this).
    #[arg(long, value_parser = fraction, default_value_t = 0.0)]
    pub label_smoothing: f64,
    /// Initial standard deviation of instance noise on D's inputs, decaying to 0 (0: off).
    #[arg(long, value_parser = non_negative, default_value_t = 0.0)]
    pub instance_noise: f64,
    /// Decay of the generator's exponential moving average (0: off).
    #[arg(long, value_parser = fraction, default_value_t = TrainConfig::default().ema.unwrap_or(0.0))]
    pub ema: f64,
    /// Weight of the AC-GAN auxiliary class loss (0: off).
    #[arg(long, value_parser = non_negative, default_value_t = 0.0)]
    pub aux_classifier: f64,
    /// Length of the noise vector.
    #[arg(long, value_parser = at_least::<1>, default_value_t = SpectralCganArchitecture::default().latent)]
    pub latent: usize,
    /// Generator hidden widths, comma-separated [default: 128,256; DAGAN 256,256].
    #[arg(long, value_parser = at_least::<1>, value_delimiter = ',')]
    pub generator_widths: Option<Vec<usize>>,
    /// Discriminator hidden widths, comma-separated [default: 256,128].
    #[arg(long, value_parser = at_least::<1>, value_delimiter = ',')]
    pub discriminator_widths: Option<Vec<usize>>,
    /// Layout of the generator's normalised space: the leading principal components of
    /// the bands (plus Gaussian noise of each class's measured spread along the others),
    /// or each band's range.
    #[arg(long, value_enum, default_value_t = NormalisationArg::PrincipalComponents)]
    pub normalisation: NormalisationArg,
    /// Principal components the generator learns (with --normalisation principal-components).
    #[arg(long, value_parser = at_least::<1>, default_value_t = DEFAULT_COMPONENTS)]
    pub components: usize,
    /// GAN: fraction of each class held out for validation [default: 0.2] (the exemplar
    /// model chooses nothing on a validation share and takes none).
    #[arg(long, value_parser = fraction)]
    pub validation: Option<f64>,
    /// Fraction of each class held out as the untouched test split, which the model never
    /// sees and `augment`'s report scores on [default: 0 for the exemplar model, which
    /// then uses every given pixel (`augment` checks its recipe by fitting it again
    /// without a test share); 0.2 for the GAN].
    #[arg(long, value_parser = fraction)]
    pub test: Option<f64>,
    /// Keep at most N training spectra of class C, as C=N[,C=N...] (simulates scarce classes).
    #[arg(long, value_delimiter = ',', value_parser = parse_thin)]
    pub thin: Vec<(u32, usize)>,
    /// How labelled pixels are split: `random` (single pixels), or `blocks[:SIZE]` (square
    /// blocks of SIZE pixels, 16 by default: no block holds pixels of one class in two
    /// splits, so test pixels are not the neighbours of training pixels).
    #[arg(long, value_parser = parse_split, default_value = "random")]
    pub split: SplitArg,
    /// Seed of the split and of training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The default of `--components`: that of the default layout.
const DEFAULT_COMPONENTS: usize = match Layout::DEFAULT {
    Layout::PrincipalComponents(k) => k,
    Layout::PerBand => 0,
};

/// `train pix2pix --target-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetKindArg {
    /// 0/1 damage: the model writes a damage probability.
    Mask,
    /// A continuous severity in [0, 1]: the model writes a severity.
    Severity,
}

/// `--generator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GeneratorArg {
    /// Real training spectra varied with every class's measured scatter.
    Exemplar,
    /// The adversarially trained conditional GAN.
    Gan,
    /// The exemplar-conditioned GAN (DAGAN).
    Dagan,
}

/// `--normalisation`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NormalisationArg {
    /// Each band's training range to (-1, 1).
    PerBand,
    /// Each principal component's training range to (-1, 1).
    PrincipalComponents,
}

/// A whole number of at least `MIN`.
fn at_least<const MIN: usize>(s: &str) -> Result<usize, String> {
    let n: usize = s.trim().parse().map_err(|_| format!("{s:?} is not a whole number"))?;
    if n < MIN { Err(format!("must be at least {MIN}")) } else { Ok(n) }
}

/// A finite number within `range`, described in the message as `what`.
fn number_in(s: &str, range: impl std::ops::RangeBounds<f64>, what: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() && range.contains(&v) { Ok(v) } else { Err(format!("must be {what}")) }
}

/// A finite number above 0 (learning rates).
fn positive(s: &str) -> Result<f64, String> {
    number_in(s, (std::ops::Bound::Excluded(0.0), std::ops::Bound::Unbounded), "a finite number above 0")
}

/// A finite number of at least 0 (loss weights, noise).
fn non_negative(s: &str) -> Result<f64, String> {
    number_in(s, 0.0.., "a finite number of at least 0")
}

/// A fraction from 0 up to (not including) 1.
fn fraction(s: &str) -> Result<f64, String> {
    number_in(s, 0.0..1.0, "at least 0 and less than 1")
}

/// A fraction strictly between 0 and 1.
fn open_fraction(s: &str) -> Result<f64, String> {
    number_in(s, (std::ops::Bound::Excluded(0.0), std::ops::Bound::Excluded(1.0)), "above 0 and less than 1")
}

/// A Parquet compression name (see [`TableCompression::NAMES`]).
fn table_compression(s: &str) -> Result<TableCompression, String> {
    s.parse()
}

/// A number from 0 to 1, both included (probabilities).
fn unit(s: &str) -> Result<f64, String> {
    number_in(s, 0.0..=1.0, "between 0 and 1")
}

/// `--psf-offset`: where the low-res pixels are centred.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PsfOffsetArg {
    /// ROWS,COLS high-res pixels from the block's centre.
    At([f64; 2]),
    /// Measured where the domains cover the same ground.
    Auto,
}

/// `--psf-offset ROWS,COLS` (two finite numbers) or `auto`.
fn psf_offset(s: &str) -> Result<PsfOffsetArg, String> {
    if s == "auto" {
        return Ok(PsfOffsetArg::Auto);
    }
    match s.split(',').map(|v| number_in(v, .., "a finite number")).collect::<Result<Vec<_>, _>>()?[..] {
        [rows, cols] => Ok(PsfOffsetArg::At([rows, cols])),
        _ => Err(format!("{s:?} is not ROWS,COLS (two numbers, e.g. -0.5,-0.5) or auto")),
    }
}

/// `--split`: the block side, `None` for single pixels at random.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitArg(pub Option<usize>);

fn parse_split(s: &str) -> Result<SplitArg, String> {
    match s.split_once(':') {
        None if s == "random" => Ok(SplitArg(None)),
        None if s == "blocks" => Ok(SplitArg(Some(DEFAULT_BLOCK))),
        Some(("blocks", side)) => match side.trim().parse::<usize>() {
            Ok(side) if side >= 1 => Ok(SplitArg(Some(side))),
            _ => Err(format!("the block side {side:?} is not a whole number of pixels of at least 1")),
        },
        _ => Err(format!("{s:?} is neither random nor blocks[:SIZE]")),
    }
}

fn parse_thin(s: &str) -> Result<(u32, usize), String> {
    let (c, n) = s.split_once('=').ok_or_else(|| format!("{s:?} is not CLASS=N"))?;
    Ok((c.trim().parse().map_err(|_| format!("bad class id {c:?}"))?, n.trim().parse().map_err(|_| format!("bad count {n:?}"))?))
}

/// `hypersynth augment`.
#[derive(Debug, Args)]
pub struct AugmentArgs {
    /// The spectral-cgan ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// The real labelled spectra.
    #[command(flatten)]
    pub labels: LabelArgs,
    /// Output folder (synthetic.parquet, augmented.parquet, report/, run.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Bring every class below N training spectra up to N.
    #[arg(long, value_parser = at_least::<1>, conflicts_with = "balance", required_unless_present = "balance")]
    pub target_per_class: Option<usize>,
    /// Bring every class up to the largest class.
    #[arg(long)]
    pub balance: bool,
    /// Seed of the generator's noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write every generated spectrum. By default only those whose nearest real training
    /// spectrum (standardised bands) is of their own class are written, the first of up to
    /// 5 x the wanted count per class, so that none lands where another class lives.
    #[arg(long)]
    pub keep_all: bool,
    /// Spectra per ONNX Runtime call.
    #[arg(long, value_parser = at_least::<1>, default_value_t = augment::DEFAULT_BATCH)]
    pub batch: usize,
    /// Also write synthetic.h5.
    #[arg(long)]
    pub hdf5: bool,
    /// The Parquet tables' compression: zstd, lz4, snappy or none.
    #[arg(long, value_parser = table_compression, default_value_t = TableCompression::default())]
    pub compression: TableCompression,
    /// Where the model runs.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Do not write the quality report (OUT/report/).
    #[arg(long)]
    pub no_report: bool,
}

/// `hypersynth report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The real labelled spectra.
    #[command(flatten)]
    pub labels: LabelArgs,
    /// A CSV or Parquet table of synthetic spectra only (e.g. augment's synthetic.parquet).
    #[arg(long)]
    pub synthetic: PathBuf,
    /// Output folder: the report goes into OUT/report/, run.json beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// Take the real test rows from the training split recorded in this hypersynth model,
    /// so that they are pixels its training never saw.
    #[arg(long, conflicts_with = "test")]
    pub model: Option<PathBuf>,
    /// Otherwise hold out this fraction of each real class as test rows.
    #[arg(long, value_parser = open_fraction, default_value_t = 0.2)]
    pub test: f64,
    /// Otherwise, how: `random` (single pixels) or `blocks[:SIZE]` (square blocks of SIZE
    /// pixels, 16 by default, spatially disjoint).
    #[arg(long, value_parser = parse_split, default_value = "random", conflicts_with = "model")]
    pub split: SplitArg,
    /// Seed of the split, subsamples and classifiers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Classifiers and metrics use at most this many rows per class and set (a seeded
    /// subsample), so that the report's cost does not grow with the scene.
    #[arg(long, value_parser = at_least::<2>, default_value_t = QualityConfig::default().max_rows_per_class)]
    pub max_rows_per_class: usize,
}

/// `hypersynth classify`.
#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// The labelled spectra to fit the classifier on (e.g. --table augmented.parquet, or
    /// --cube C --labels L).
    #[command(flatten)]
    pub labels: LabelArgs,
    /// Map with this classifier file (STEM.classifier.json of an earlier classify) instead
    /// of fitting one.
    #[arg(long, conflicts_with_all = ["cube", "scenes", "library", "table", "classifier", "seed"])]
    pub classifier_file: Option<PathBuf>,
    /// The classifier to fit.
    #[arg(long, value_enum, default_value = "rbf-svm")]
    pub classifier: ClassifierArg,
    /// A spectral model (train spectral's ONNX) whose synthetic spectra are added to the
    /// training spectra, made and selected as `augment --target-per-class N` makes them.
    #[arg(long, requires = "target_per_class", conflicts_with = "classifier_file")]
    pub model: Option<PathBuf>,
    /// With --model: bring every class below N training spectra to N.
    #[arg(long, requires = "model", value_parser = at_least::<1>)]
    pub target_per_class: Option<usize>,
    /// The scene to map (any cube hypersynth reads; its bands are matched to the training
    /// bands by wavelength).
    #[arg(long)]
    pub scene: PathBuf,
    /// A CSV of the scene's band wavelengths and FWHM in nm, for a scene that states none.
    #[arg(long)]
    pub scene_wavelengths: Option<PathBuf>,
    /// The class map (COG); STEM.confidence.tif, STEM.classifier.json, STEM.run.json and
    /// the check's files are written beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// A class raster on the scene's grid (0 = unlabelled): the map's accuracy on its
    /// labelled pixels that the training did not take.
    #[arg(long)]
    pub check: Option<PathBuf>,
    /// Seed of the random forest.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `classify --classifier`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ClassifierArg {
    /// RBF support vector machine (C = 100, gamma = "scale", one against one).
    RbfSvm,
    /// Random forest of 100 trees.
    RandomForest,
    /// 5 nearest neighbours.
    Knn,
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
    /// A CSV of the bands' centre wavelengths and FWHM in nm (columns `wavelength_nm`,
    /// `fwhm_nm`; one row per band), for a cube that states none.
    #[arg(long)]
    pub wavelengths: Option<PathBuf>,
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
    /// Folder for TensorRT's engine and timing caches (`--device tensorrt`): engines are
    /// built on the first run of a model and tile shape, and loaded from here after that.
    #[arg(long, env = "HYPERSYNTH_TENSORRT_CACHE")]
    pub tensorrt_cache: Option<PathBuf>,
    /// Let TensorRT run layers in float16 (`--device tensorrt` only; docs/PERFORMANCE.md
    /// has its measured difference from float32).
    #[arg(long)]
    pub fp16: bool,
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
