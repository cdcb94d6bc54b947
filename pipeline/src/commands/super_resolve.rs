//! `hypersynth super-resolve`: resample a low-res scene to the finer grid (cubic
//! convolution, through GDAL, each low-res value placed where the model's card says the
//! low-res pixels are centred), refine it tile by tile with a cyclegan-sr model, and write
//! a Cloud-Optimized GeoTIFF; optionally score it, plain bicubic and plain Lanczos
//! resampling against a high-res reference.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use hypersynth_data::{CogWriter, Compression, Cube, CubeMeta, Resampling, ResamplingKernel, SampleType, Window, stac_item_path};
use hypersynth_onnx::SessionOptions;
use hypersynth_onnx_format::{ModelCard, ModelKind, Normalisation};
use hypersynth_spectral::{ImageQuality, ImageScores, SSIM_WINDOW};
use ndarray::{Array3, Array4, Axis};
use serde_json::{Value, json};

use crate::run_record::RunRecord;
use crate::scene_inference::{SceneModel, model_files};
use crate::tiling::{TileCounts, TileGrid, TileSource};

/// Default tile side in pixels on the high-res grid (command line and job file).
pub const DEFAULT_TILE: usize = 128;
/// Default pixels shared by neighbouring tiles (command line and job file).
pub const DEFAULT_OVERLAP: usize = 16;

/// Resolved settings of `super-resolve`.
#[derive(Debug, Clone)]
pub struct SuperResolve {
    /// The cyclegan-sr model.
    pub model: PathBuf,
    /// The low-resolution scene.
    pub input: PathBuf,
    /// The high-resolution COG to write; `OUT.run.json` goes beside it.
    pub out: PathBuf,
    /// The scale the caller expects; must match the model's when given.
    pub scale: Option<usize>,
    /// Tile side in pixels, on the high-resolution grid.
    pub tile: usize,
    /// Pixels shared by neighbouring tiles.
    pub overlap: usize,
    /// Tiles per ONNX Runtime call.
    pub batch: usize,
    /// A high-resolution scene of the same area to score against.
    pub reference: Option<PathBuf>,
    /// Where the model runs.
    pub session: SessionOptions,
}

/// What `super-resolve` wrote and measured.
#[derive(Debug, Clone)]
pub struct SuperResolveOutcome {
    /// The high-resolution COG.
    pub output: PathBuf,
    /// Tiles run and skipped.
    pub tiles: TileCounts,
    /// Time spent inside ONNX Runtime.
    pub onnx_time: Duration,
    /// With a reference: the model's scores and plain resampling's.
    pub quality: Option<Quality>,
}

/// The model's output and plain resampling of the input, each scored against a reference.
#[derive(Debug, Clone, Copy)]
pub struct Quality {
    /// The super-resolved scene.
    pub model: ImageScores,
    /// GDAL's cubic convolution of the input, its pixels centred on their blocks.
    pub bicubic: ImageScores,
    /// GDAL's Lanczos resampling of the same.
    pub lanczos: ImageScores,
}

impl Quality {
    /// Each method's name and scores, the model first.
    pub fn methods(&self) -> [(&'static str, ImageScores); 3] {
        [("model", self.model), ("bicubic", self.bicubic), ("lanczos", self.lanczos)]
    }
}

/// The scores as the table `super-resolve --reference` prints: a header, then one line per
/// method.
impl std::fmt::Display for Quality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:<8} {:>9} {:>7} {:>8}", "", "PSNR dB", "SSIM", "SAM deg")?;
        for (name, s) in self.methods() {
            write!(f, "\n{name:<8} {:>9.2} {:>7.4} {:>8.3}", s.psnr_db, s.ssim, s.sam_deg)?;
        }
        Ok(())
    }
}

/// Runs the model over the scene; see [`SuperResolve`].
pub fn run(settings: &SuperResolve) -> Result<SuperResolveOutcome> {
    let clock = Instant::now();
    let inputs =
        [model_files(&settings.model), std::iter::once(settings.input.clone()).chain(settings.reference.clone()).collect()].concat();
    let outputs = [settings.out.clone(), stac_item_path(&settings.out), crate::run_record::beside(&settings.out)];
    hypersynth_data::check_outputs(&inputs, &outputs)?;
    let Prepared { mut model, scale, fine, grid, truth } = prepare(settings)?;
    let meta = fine.meta().clone();
    let out_meta = output_meta(&meta);
    let scene = hypersynth_data::SceneMetadata::read(&settings.input);
    let mut writer =
        CogWriter::create(&settings.out, &out_meta, Compression::Deflate)?.dated(scene.datetime).with_metadata(&scene.items)?;
    let record = RunRecord::start(
        "super-resolve",
        &[settings.model.clone(), settings.input.clone()],
        json!({"scale": scale, "tile": settings.tile, "overlap": settings.overlap, "batch": settings.batch, "reference": settings.reference}),
    )?;

    let normalisation = model.card.normalisation.clone();
    let sources = [TileSource { cube: &fine, offset: &normalisation.offset, scale: &normalisation.scale }];
    let mut to_physical = |output: Array4<f32>| to_physical(output, meta.bands, &normalisation, &settings.model);
    let nodata = out_meta.nodata.map(|v| v as f32);
    let mut write = |window: Window, mut values: Array3<f32>| -> Result<()> {
        if let Some(nd) = nodata {
            values.mapv_inplace(|v| if v.is_nan() { nd } else { v });
        }
        Ok(writer.write(window, values.view())?)
    };
    let inference = model.run(&grid, settings.batch, &sources, meta.bands, &mut to_physical, &mut write)?;
    // Closed before the COG is finished: its file blocks leave GDAL's cache with it.
    drop(fine);
    let output = writer.finish()?;

    let quality = truth.as_ref().map(|truth| score(&output, &settings.input, scale, truth)).transpose()?;
    record.finish(
        &crate::run_record::beside(&settings.out),
        &[output.clone(), stac_item_path(&output)],
        inference.record(
            &model,
            json!({
                "grid": {"rows": meta.rows, "cols": meta.cols, "bands": meta.bands, "geotransform": meta.georef.geotransform},
                "quality": quality.map(|q| q.methods().iter().map(|(name, s)| (name.to_string(), scores_json(s))).collect::<serde_json::Map<_, _>>()),
            }),
        ),
    )?;
    tracing::info!(
        "wrote {} ({} x {} pixels, {} tiles; {:.1} s, {:.1} s in ONNX Runtime)",
        output.display(),
        meta.rows,
        meta.cols,
        inference.tiles.run,
        clock.elapsed().as_secs_f64(),
        inference.onnx_time.as_secs_f64()
    );
    Ok(SuperResolveOutcome { output, tiles: inference.tiles, onnx_time: inference.onnx_time, quality })
}

/// What `super-resolve` has opened and checked before any work.
struct Prepared {
    model: SceneModel,
    scale: usize,
    /// The input resampled to the finer grid, as the model reads it.
    fine: Cube,
    grid: TileGrid,
    truth: Option<Cube>,
}

/// Opens the model and the scenes and checks them against each other and the settings:
/// the model's scale, its bands, the tile against the finer grid, the reference's grid.
fn prepare(settings: &SuperResolve) -> Result<Prepared> {
    let model = SceneModel::open(&settings.model, &settings.session, ModelKind::CycleganSr, "super-resolve")?;
    let scale = model_scale(&model.card, &settings.model)?;
    if let Some(asked) = settings.scale
        && asked != scale
    {
        bail!("{}: the model super-resolves x{scale}, not x{asked} as --scale asks", settings.model.display());
    }
    let fine = Cube::open_resampled(&settings.input, &Resampling::cubic(scale).with_psf_offset(model.card.psf_offset()))?;
    let meta = fine.meta();
    model.check_bands(meta)?;
    if meta.rows < settings.tile || meta.cols < settings.tile {
        bail!(
            "{}: {} rows x {} columns after x{scale} resampling, smaller than one {}-pixel tile; use a smaller --tile",
            settings.input.display(),
            meta.rows,
            meta.cols,
            settings.tile
        );
    }
    let grid = model.grid(meta.rows, meta.cols, settings.tile, settings.overlap)?;
    let truth = settings.reference.as_deref().map(|r| open_reference(r, meta)).transpose()?;
    Ok(Prepared { model, scale, fine, grid, truth })
}

/// The model's output (`[tiles, channels, rows, cols]`, in the space it reads) back in
/// physical values; one channel per band of the scene.
fn to_physical(mut output: Array4<f32>, bands: usize, normalisation: &Normalisation, model: &Path) -> Result<Array4<f32>> {
    if output.dim().1 != bands {
        bail!("{}: the model wrote {} channels for a scene of {bands} bands", model.display(), output.dim().1);
    }
    for (c, mut plane) in output.axis_iter_mut(Axis(1)).enumerate() {
        let (offset, scale) = (normalisation.offset[c] as f32, normalisation.scale[c] as f32);
        if (offset, scale) != (0.0, 1.0) {
            plane.mapv_inplace(|v| v * scale + offset);
        }
    }
    Ok(output)
}

/// The factor the model's card says it super-resolves by (`training.scale`).
fn model_scale(card: &ModelCard, model: &Path) -> Result<usize> {
    match card.scale() {
        Some(scale) => Ok(scale),
        None => bail!("{}: the model card does not give its scale (hypersynth.training.scale)", model.display()),
    }
}

/// The output's layout: the finer grid with the input's bands, wavelengths and nodata
/// marker, as float32 physical values.
fn output_meta(fine: &CubeMeta) -> CubeMeta {
    CubeMeta { dtype: SampleType::Float32, scale: vec![1.0; fine.bands], offset: vec![0.0; fine.bands], ..fine.clone() }
}

fn scores_json(s: &ImageScores) -> Value {
    json!({"psnr_db": s.psnr_db, "ssim": s.ssim, "sam_deg": s.sam_deg})
}

/// Opens the reference scene, which must have the grid and bands of the super-resolved
/// scene `fine`; checked before any work.
fn open_reference(reference: &Path, fine: &CubeMeta) -> Result<Cube> {
    let truth = Cube::open(reference)?;
    let (m, t) = (fine, truth.meta());
    if (t.rows, t.cols, t.bands) != (m.rows, m.cols, m.bands) {
        bail!(
            "{}: {} rows x {} columns x {} bands, but the super-resolved scene has {} x {} x {}",
            reference.display(),
            t.rows,
            t.cols,
            t.bands,
            m.rows,
            m.cols,
            m.bands
        );
    }
    Ok(truth)
}

/// Rows per strip when scoring.
const SCORE_ROWS: usize = 64;

/// PSNR, SSIM and mean spectral angle of `output`, and of plain bicubic and Lanczos
/// resampling of `input` by `scale` (pixels centred on their blocks, as a user would
/// resample), against `truth` (same grid and bands), strip by strip.
fn score(output: &Path, input: &Path, scale: usize, truth: &Cube) -> Result<Quality> {
    let estimate = Cube::open(output)?;
    let bicubic = Cube::open_resampled(input, &Resampling::cubic(scale))?;
    let lanczos = Cube::open_resampled(input, &Resampling::cubic(scale).with_kernel(ResamplingKernel::Lanczos))?;
    let m = truth.meta();
    // The reference's range gives PSNR's peak and SSIM's L.
    let (mut low, mut high) = (f32::INFINITY, f32::NEG_INFINITY);
    for block in truth.blocks(SCORE_ROWS) {
        for &v in block?.data.iter().filter(|v| !v.is_nan()) {
            (low, high) = (low.min(v), high.max(v));
        }
    }
    let range = f64::from(high - low);
    let methods = [&estimate, &bicubic, &lanczos];
    let mut sums = methods.map(|_| ImageQuality::new(range));
    let halo = SSIM_WINDOW / 2;
    for start in (0..m.rows).step_by(SCORE_ROWS) {
        let end = (start + SCORE_ROWS).min(m.rows);
        let (lo, hi) = (start.saturating_sub(halo), (end + halo).min(m.rows));
        let window = Window { row: lo, col: 0, rows: hi - lo, cols: m.cols };
        let counted: Range<usize> = start - lo..end - lo;
        let expected = truth.read(window)?.data;
        for (cube, sum) in methods.iter().zip(&mut sums) {
            sum.add(cube.read(window)?.data.view(), expected.view(), counted.clone());
        }
    }
    let [model, bicubic, lanczos] = sums.map(|s| s.scores());
    let quality = Quality { model, bicubic, lanczos };
    for (name, s) in quality.methods() {
        tracing::info!(
            "against {}: {name} PSNR {:.2} dB, SSIM {:.4}, SAM {:.3}°",
            truth.meta().path.display(),
            s.psnr_db,
            s.ssim,
            s.sam_deg
        );
    }
    Ok(quality)
}
