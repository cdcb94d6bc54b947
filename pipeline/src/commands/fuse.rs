//! `hypersynth fuse`: run a pix2pix damage model over co-registered pre- and post-event
//! scenes, tile by tile, and write what the model learnt, a damage probability or a
//! severity 0-1 (and optionally a 0/1 mask at a threshold, and severity classes), as
//! Cloud-Optimized GeoTIFFs on the scenes' grid with named bands.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use hypersynth_data::{CogWriter, Compression, Cube, CubeMeta, Overviews, SampleType, Window, stac_item_path};
use hypersynth_onnx::SessionOptions;
use hypersynth_onnx_format::{DamageOutput, ModelCard, ModelKind};
use ndarray::{Array3, Axis, s};
use serde_json::json;

use crate::run_record::RunRecord;
use crate::scene_inference::{SceneModel, check_same_size, model_files};
use crate::tiling::{TileCounts, TileSource};

/// Default tile side in pixels (command line and job file).
pub const DEFAULT_TILE: usize = 256;
/// Default pixels shared by neighbouring tiles (command line and job file).
pub const DEFAULT_OVERLAP: usize = 32;
/// Default passes per tile: one, with dropout off and no uncertainty band (command line
/// and job file).
pub const DEFAULT_SAMPLES: usize = 1;

/// The name of the uncertainty band: the standard deviation of the dropout passes.
pub const UNCERTAINTY_BAND: &str = "uncertainty";

/// The nodata value of the probability raster.
pub const PROBABILITY_NODATA: f64 = -9999.0;
/// The nodata value of the mask and class rasters (their data values are small integers).
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
    /// Passes per tile: beyond one, the model runs this many times with its dropout on
    /// (Monte Carlo dropout); the output's first band is their mean and a second band,
    /// `uncertainty`, their standard deviation. Mask and classes are cut from the mean.
    pub samples: usize,
    /// Also write a 0/1 mask of probability (or severity) >= this.
    pub threshold: Option<f64>,
    /// Severity models: also write classes at these ascending thresholds (`OUT.classes.tif`:
    /// class k where k thresholds are at most the severity).
    pub classes: Vec<f64>,
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
    /// The severity class COG, with `--classes`.
    pub classes: Option<PathBuf>,
    /// Tiles run and skipped.
    pub tiles: TileCounts,
    /// Time spent inside ONNX Runtime.
    pub onnx_time: Duration,
}

/// Runs the model over the scene; see [`Fuse`].
pub fn run(settings: &Fuse) -> Result<FuseOutcome> {
    let clock = Instant::now();
    // Each COG with its STAC Item (what the run record lists), and the run record.
    let products: Vec<PathBuf> = product_cogs(settings).iter().flat_map(|c| [c.clone(), stac_item_path(c)]).collect();
    let inputs = [model_files(&settings.model), vec![settings.pre.clone(), settings.post.clone()]].concat();
    hypersynth_data::check_outputs(&inputs, &[&products[..], &[crate::run_record::beside(&settings.out)]].concat())?;
    check_thresholds(settings)?;
    let mut model = SceneModel::open(&settings.model, &settings.session, ModelKind::Pix2pix, "fuse")?;
    model.set_samples(settings.samples)?;
    let (offset, scale) = output_mapping(&model.card, &settings.model)?;
    let output = model.card.damage_output();
    if !settings.classes.is_empty() && output != DamageOutput::Severity {
        bail!("{}: writes a damage probability; --classes grades a severity model's output", settings.model.display());
    }
    let pre = Cube::open(&settings.pre)?;
    let post = Cube::open(&settings.post)?;
    check_scenes(pre.meta(), post.meta(), &model)?;
    let (rows, cols, bands) = (pre.meta().rows, pre.meta().cols, pre.meta().bands);
    let grid = model.grid(rows, cols, settings.tile, settings.overlap)?;

    let value_bands: &[&str] = if settings.samples > 1 { &[output.as_str(), UNCERTAINTY_BAND] } else { &[output.as_str()] };
    let mut writers = Products::create(settings, pre.meta(), value_bands)?;
    let record = RunRecord::start(
        "fuse",
        &[settings.model.clone(), settings.pre.clone(), settings.post.clone()],
        json!({"tile": settings.tile, "overlap": settings.overlap, "batch": settings.batch, "samples": settings.samples,
               "threshold": settings.threshold, "classes": settings.classes, "output": output.as_str()}),
    )?;

    // The model reads pre-event bands, then post-event bands, normalised as the card says.
    let normalisation = model.card.normalisation.clone();
    let sources = [
        TileSource { cube: &pre, offset: &normalisation.offset[..bands], scale: &normalisation.scale[..bands] },
        TileSource { cube: &post, offset: &normalisation.offset[bands..], scale: &normalisation.scale[bands..] },
    ];
    // The card's output mapping is applied to the blended pixels: to the value, and its scale
    // to the standard deviation of the samples.
    let mut write = |window: Window, mut values: Array3<f32>| {
        values.index_axis_mut(Axis(2), 0).mapv_inplace(|v| v * scale + offset);
        if settings.samples > 1 {
            values.index_axis_mut(Axis(2), 1).mapv_inplace(|v| v * scale.abs());
        }
        writers.write(window, values)
    };
    let inference = model.run(&grid, settings.batch, &sources, value_bands.len(), &mut Ok, &mut write)?;
    let (probability, mask, classes) = writers.finish()?;
    record.finish(
        &crate::run_record::beside(&settings.out),
        &products,
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
    Ok(FuseOutcome { probability, mask, classes, tiles: inference.tiles, onnx_time: inference.onnx_time })
}

/// The COGs `fuse` writes: the model's output, and the mask and the severity classes when
/// asked for.
fn product_cogs(settings: &Fuse) -> Vec<PathBuf> {
    [
        Some(settings.out.clone()),
        settings.threshold.map(|_| mask_path(&settings.out)),
        (!settings.classes.is_empty()).then(|| classes_path(&settings.out)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `--threshold` and `--classes` as probabilities (or severities) between 0 and 1.
fn check_thresholds(settings: &Fuse) -> Result<()> {
    if settings.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
        bail!("--threshold must lie between 0 and 1");
    }
    if settings.classes.windows(2).any(|w| w[0] >= w[1]) || settings.classes.iter().any(|t| !(0.0..=1.0).contains(t)) {
        bail!("--classes must be ascending thresholds between 0 and 1, not {:?}", settings.classes);
    }
    Ok(())
}

/// The rasters `fuse` writes, row by row.
struct Products<'a> {
    /// The model's output: the damage probability or the severity.
    value: CogWriter,
    /// The 0/1 mask at its threshold.
    mask: Option<(CogWriter, f64)>,
    /// The severity classes.
    classes: Option<CogWriter>,
    /// The class thresholds, ascending.
    thresholds: &'a [f64],
}

impl<'a> Products<'a> {
    /// The writers of `settings`' products on the grid of `scene` (the pre-event scene),
    /// dated as the post-event scene; the value raster has `value_bands`.
    fn create(settings: &'a Fuse, scene: &CubeMeta, value_bands: &[&str]) -> Result<Self> {
        let datetime = hypersynth_data::SceneMetadata::read(&settings.post).datetime;
        let writer = |path: &Path, meta: &CubeMeta, overviews: Overviews| {
            Ok::<_, anyhow::Error>(CogWriter::create(path, meta, Compression::Deflate)?.dated(datetime.clone()).with_overviews(overviews))
        };
        // The mask and the classes are labels: their overviews take the most common one.
        let labels = |path: &Path, name: &str| writer(path, &output_meta(scene, SampleType::UInt8, MASK_NODATA, &[name]), Overviews::Mode);
        Ok(Self {
            value: writer(&settings.out, &output_meta(scene, SampleType::Float32, PROBABILITY_NODATA, value_bands), Overviews::Average)?,
            mask: match settings.threshold {
                Some(t) => Some((labels(&mask_path(&settings.out), "damage_mask")?, t)),
                None => None,
            },
            classes: if settings.classes.is_empty() { None } else { Some(labels(&classes_path(&settings.out), "severity_class")?) },
            thresholds: &settings.classes,
        })
    }

    /// Writes finished pixels at `window`, `[rows, cols, bands]` (the value, then the
    /// uncertainty when sampled): NaN (no data) becomes each raster's nodata value.
    fn write(&mut self, window: Window, values: Array3<f32>) -> Result<()> {
        let value = values.slice(s![.., .., 0..1]);
        let nodata_or = |f: &dyn Fn(f64) -> f32| value.mapv(|v| if v.is_nan() { MASK_NODATA as f32 } else { f(f64::from(v)) });
        if let Some((mask, t)) = &mut self.mask {
            mask.write(window, nodata_or(&|v| f32::from(u8::from(v >= *t))).view())?;
        }
        if let Some(classes) = &mut self.classes {
            let thresholds = self.thresholds;
            classes.write(window, nodata_or(&|v| thresholds.iter().filter(|&&t| v >= t).count() as f32).view())?;
        }
        self.value.write(window, values.mapv(|v| if v.is_nan() { PROBABILITY_NODATA as f32 } else { v }).view())?;
        Ok(())
    }

    /// Finishes every raster; returns the value, mask and class rasters' paths.
    fn finish(self) -> Result<(PathBuf, Option<PathBuf>, Option<PathBuf>)> {
        let value = self.value.finish()?;
        let mask = self.mask.map(|(w, _)| w.finish()).transpose()?;
        let classes = self.classes.map(CogWriter::finish).transpose()?;
        Ok((value, mask, classes))
    }
}

/// The severity classes' path beside the severity: `SEV.tif` gives `SEV.classes.tif`.
pub fn classes_path(out: &Path) -> PathBuf {
    out.with_extension("classes.tif")
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

/// A raster on `scene`'s grid with a band of each name.
fn output_meta(scene: &CubeMeta, dtype: SampleType, nodata: f64, names: &[&str]) -> CubeMeta {
    let bands = names.len();
    CubeMeta {
        path: PathBuf::new(),
        format: "GTiff".into(),
        rows: scene.rows,
        cols: scene.cols,
        bands,
        dtype,
        wavelengths_nm: None,
        fwhm_nm: None,
        good_bands: vec![true; bands],
        scale: vec![1.0; bands],
        offset: vec![0.0; bands],
        nodata: Some(nodata),
        georef: scene.georef.clone(),
        band_names: Some(names.iter().map(|n| n.to_string()).collect()),
    }
}
