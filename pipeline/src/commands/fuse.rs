//! `hypersynth fuse`: run a pix2pix damage model over co-registered pre- and post-event
//! scenes, tile by tile, and write the damage probability (and optionally a binary mask)
//! as Cloud-Optimized GeoTIFFs on the scenes' grid.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use hypersynth_data::{CogWriter, Compression, Cube, CubeMeta, SampleType, Window};
use hypersynth_onnx::SessionOptions;
use hypersynth_onnx_format::{ModelCard, ModelKind};
use ndarray::Array3;
use serde_json::json;

use crate::run_record::RunRecord;
use crate::scene_inference::{SceneModel, check_same_size, model_files};
use crate::tiling::{TileCounts, TileSource};

/// Default tile side in pixels (command line and job file).
pub const DEFAULT_TILE: usize = 256;
/// Default pixels shared by neighbouring tiles (command line and job file).
pub const DEFAULT_OVERLAP: usize = 32;

/// The nodata value of the probability raster.
pub const PROBABILITY_NODATA: f64 = -9999.0;
/// The nodata value of the mask raster (its data values are 0 and 1).
pub const MASK_NODATA: f64 = 255.0;

/// Resolved settings of `fuse`.
#[derive(Debug, Clone)]
pub struct Fuse {
    /// The pix2pix model.
    pub model: PathBuf,
    /// The pre-event scene.
    pub pre: PathBuf,
    /// The post-event scene, on the same grid.
    pub post: PathBuf,
    /// The damage probability raster to write; `run.json` goes beside it as
    /// `OUT.run.json`, the mask as `OUT.mask.tif`.
    pub out: PathBuf,
    /// Tile side in pixels.
    pub tile: usize,
    /// Pixels shared by neighbouring tiles.
    pub overlap: usize,
    /// Tiles per ONNX Runtime call.
    pub batch: usize,
    /// Also write a 0/1 mask of probability >= this.
    pub threshold: Option<f64>,
    /// Where the model runs.
    pub session: SessionOptions,
}

/// What `fuse` wrote and measured.
#[derive(Debug, Clone)]
pub struct FuseOutcome {
    /// The probability COG.
    pub probability: PathBuf,
    /// The mask COG, with `--threshold`.
    pub mask: Option<PathBuf>,
    /// Tiles run and skipped.
    pub tiles: TileCounts,
    /// Time spent inside ONNX Runtime.
    pub onnx_time: Duration,
}

/// Runs the model over the scene; see [`Fuse`].
pub fn run(settings: &Fuse) -> Result<FuseOutcome> {
    let clock = Instant::now();
    let outputs: Vec<PathBuf> =
        [Some(settings.out.clone()), settings.threshold.map(|_| mask_path(&settings.out)), Some(crate::run_record::beside(&settings.out))]
            .into_iter()
            .flatten()
            .collect();
    let inputs = [model_files(&settings.model), vec![settings.pre.clone(), settings.post.clone()]].concat();
    hypersynth_data::check_outputs(&inputs, &outputs)?;
    if settings.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
        bail!("--threshold must lie between 0 and 1");
    }
    let mut model = SceneModel::open(&settings.model, &settings.session, ModelKind::Pix2pix, "fuse")?;
    let (offset, scale) = output_mapping(&model.card, &settings.model)?;
    let pre = Cube::open(&settings.pre)?;
    let post = Cube::open(&settings.post)?;
    check_scenes(pre.meta(), post.meta(), &model)?;
    let (rows, cols, bands) = (pre.meta().rows, pre.meta().cols, pre.meta().bands);
    let grid = model.grid(rows, cols, settings.tile, settings.overlap)?;

    let prob_meta = output_meta(pre.meta(), SampleType::Float32, PROBABILITY_NODATA, "damage probability");
    let mut probability = CogWriter::create(&settings.out, &prob_meta, Compression::Deflate)?;
    let mut mask = match settings.threshold {
        Some(_) => Some(CogWriter::create(
            &mask_path(&settings.out),
            &output_meta(pre.meta(), SampleType::UInt8, MASK_NODATA, "damage mask"),
            Compression::Deflate,
        )?),
        None => None,
    };
    let record = RunRecord::start(
        "fuse",
        &[settings.model.clone(), settings.pre.clone(), settings.post.clone()],
        json!({"tile": settings.tile, "overlap": settings.overlap, "batch": settings.batch, "threshold": settings.threshold}),
    )?;

    // The model reads pre-event bands, then post-event bands, normalised as the card says.
    let normalisation = model.card.normalisation.clone();
    let sources = [
        TileSource { cube: &pre, offset: &normalisation.offset[..bands], scale: &normalisation.scale[..bands] },
        TileSource { cube: &post, offset: &normalisation.offset[bands..], scale: &normalisation.scale[bands..] },
    ];
    // The card's output mapping is applied to the blended rows.
    let mut write = |first: usize, values: Array3<f32>| {
        write_rows(&mut probability, mask.as_mut(), settings.threshold, first, values.mapv(|v| v * scale + offset))
    };
    let inference = model.run(&grid, settings.batch, &sources, 1, &mut Ok, &mut write)?;
    let probability = probability.finish()?;
    let mask = match mask {
        Some(writer) => Some(writer.finish()?),
        None => None,
    };
    let outputs: Vec<PathBuf> = std::iter::once(probability.clone()).chain(mask.clone()).collect();
    record.finish(
        &crate::run_record::beside(&settings.out),
        &outputs,
        inference.record(&model, json!({"scene": {"rows": rows, "cols": cols, "bands": bands}})),
    )?;
    tracing::info!(
        "wrote {} ({} tiles, {} without data; {:.1} s, {:.1} s in ONNX Runtime)",
        probability.display(),
        inference.tiles.run,
        inference.tiles.skipped,
        clock.elapsed().as_secs_f64(),
        inference.onnx_time.as_secs_f64()
    );
    Ok(FuseOutcome { probability, mask, tiles: inference.tiles, onnx_time: inference.onnx_time })
}

/// The mask's path beside the probability: `DAMAGE.tif` gives `DAMAGE.mask.tif`.
pub fn mask_path(out: &Path) -> PathBuf {
    out.with_extension("mask.tif")
}

/// The card's output mapping of the single output channel (identity when absent).
fn output_mapping(card: &ModelCard, model: &Path) -> Result<(f32, f32)> {
    match &card.output {
        None => Ok((0.0, 1.0)),
        Some(m) if m.offset.len() == 1 => Ok((m.offset[0] as f32, m.scale[0] as f32)),
        Some(m) => bail!("{}: the model writes {} channels; fuse needs a 1-channel damage model", model.display(), m.offset.len()),
    }
}

/// Pre and post must share the grid, and their bands must be the model's.
fn check_scenes(pre: &CubeMeta, post: &CubeMeta, model: &SceneModel) -> Result<()> {
    check_same_size(pre, post, "pre and post must be co-registered on the same grid")?;
    if pre.georef.geotransform != post.georef.geotransform {
        bail!("{}: its geotransform differs from the pre-event scene's; pre and post must be co-registered", post.path.display());
    }
    model.check_bands(pre)?;
    model.check_bands(post)
}

/// A one-band raster on `scene`'s grid.
fn output_meta(scene: &CubeMeta, dtype: SampleType, nodata: f64, description: &str) -> CubeMeta {
    CubeMeta {
        path: PathBuf::new(),
        format: "GTiff".into(),
        rows: scene.rows,
        cols: scene.cols,
        bands: 1,
        dtype,
        wavelengths_nm: None,
        fwhm_nm: None,
        good_bands: vec![true],
        scale: vec![1.0],
        offset: vec![0.0],
        nodata: Some(nodata),
        georef: scene.georef.clone(),
        band_names: Some(vec![description.to_string()]),
    }
}

/// Writes finished rows: NaN (no data) becomes each raster's nodata value.
fn write_rows(
    probability: &mut CogWriter,
    mask: Option<&mut CogWriter>,
    threshold: Option<f64>,
    first: usize,
    values: Array3<f32>,
) -> Result<()> {
    let (rows, cols, _) = values.dim();
    let window = Window { row: first, col: 0, rows, cols };
    if let (Some(mask), Some(t)) = (mask, threshold) {
        let binary = values.mapv(|v| if v.is_nan() { MASK_NODATA as f32 } else { f32::from(u8::from(f64::from(v) >= t)) });
        mask.write(window, binary.view())?;
    }
    probability.write(window, values.mapv(|v| if v.is_nan() { PROBABILITY_NODATA as f32 } else { v }).view())?;
    Ok(())
}
