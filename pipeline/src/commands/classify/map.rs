//! Mapping a scene with a fitted classifier: row blocks of the scene (memory bounded by
//! the block, whatever the scene's size), every block's pixels predicted over every core,
//! written as a COG of class ids (with names and colours) and a COG of confidences.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Result;
use hypersynth_data::{ClassRaster, CogWriter, Compression, Cube, CubeMeta, Overviews, SampleType, SceneMetadata};
use hypersynth_spectral::Classifier;
use ndarray::{Array2, Array3};

use super::check::Confusion;
use crate::progress;

/// The map's value where the scene has no data.
pub const NO_CLASS: u32 = 0;

/// What [`map_scene`] writes.
#[derive(Debug, Clone)]
pub struct MapFiles {
    /// The class map.
    pub map: PathBuf,
    /// The confidence map.
    pub confidence: PathBuf,
    /// Pixels mapped.
    pub mapped: u64,
    /// Pixels without data (nodata in the map).
    pub without_data: u64,
}

/// Labelled pixels to score the map on: a class raster on the scene's grid, less the
/// pixels (`row * cols + col`) the classifier was trained on.
pub struct CheckPixels<'a> {
    /// The class raster.
    pub raster: &'a ClassRaster,
    /// The scene's pixels the training took.
    pub trained_on: &'a HashSet<u64>,
}

/// Maps `cube` with `classifier`, which takes the cube's bands `bands` in order: writes
/// the class map to `map` (class ids, [`NO_CLASS`] without data, named and coloured by
/// `categories`) and the confidence to `confidence` (float32, NaN without data); with
/// `check`, counts its labelled pixels by true and mapped class.
pub fn map_scene(
    cube: &Cube,
    bands: &[usize],
    classifier: &Classifier,
    categories: &[(u32, String, [u8; 3])],
    (map, confidence): (&Path, &Path),
    check: Option<CheckPixels<'_>>,
) -> Result<(MapFiles, Option<Confusion>)> {
    let meta = cube.meta();
    let top = classifier.classes.iter().copied().max().unwrap_or(0);
    let dtype = if top <= u32::from(u8::MAX) { SampleType::UInt8 } else { SampleType::UInt16 };
    let scene = SceneMetadata::read(&meta.path);
    let named: Vec<(u32, String, [u8; 3])> =
        std::iter::once((NO_CLASS, "no data".to_string(), [0, 0, 0])).chain(categories.iter().cloned()).collect();
    let mut map_writer = CogWriter::create(map, &single_band(meta, dtype, f64::from(NO_CLASS), "class"), Compression::Deflate)?
        .with_overviews(Overviews::Mode)
        .with_categories(&named)?
        .dated(scene.datetime.clone())
        .with_metadata(&scene.items)?;
    let mut confidence_writer =
        CogWriter::create(confidence, &single_band(meta, SampleType::Float32, f64::NAN, "confidence"), Compression::Deflate)?
            .dated(scene.datetime)
            .with_metadata(&scene.items)?;
    let mut confusion = check.as_ref().map(|_| Confusion::default());
    let (mut mapped, mut without_data) = (0u64, 0u64);
    let rows_per_block = crate::commands::convert::rows_per_block(meta);
    let bar = progress::bar(meta.rows as u64, "mapping", "rows");
    for window in cube.row_windows(rows_per_block) {
        let block = cube.read(window)?;
        // The pixels with data in every band taken, as rows of those bands.
        let mut pixels = Vec::new();
        let mut values = Vec::new();
        for ((r, c), &valid) in block.valid.indexed_iter() {
            let spectrum = bands.iter().map(|&b| block.data[[r, c, b]]);
            if valid && spectrum.clone().all(f32::is_finite) {
                pixels.push((r, c));
                values.extend(spectrum);
            }
        }
        let x = Array2::from_shape_vec((pixels.len(), bands.len()), values)?;
        let predicted = classifier.predict(x.view())?;
        let mut classes = Array3::from_elem((window.rows, window.cols, 1), NO_CLASS as f32);
        let mut confidences = Array3::from_elem((window.rows, window.cols, 1), f32::NAN);
        for (&(r, c), &(class, share)) in pixels.iter().zip(&predicted) {
            classes[[r, c, 0]] = class as f32;
            confidences[[r, c, 0]] = share;
        }
        if let (Some(check), Some(confusion)) = (&check, &mut confusion) {
            count_check(check, confusion, window, &classes, meta.cols);
        }
        mapped += pixels.len() as u64;
        without_data += (window.rows * window.cols - pixels.len()) as u64;
        map_writer.write(window, classes.view())?;
        confidence_writer.write(window, confidences.view())?;
        bar.inc(window.rows as u64);
    }
    bar.set_message("writing COGs");
    let confidence = confidence_writer.finish()?;
    let map = map_writer.finish()?;
    bar.finish_and_clear();
    Ok((MapFiles { map, confidence, mapped, without_data }, confusion))
}

/// Counts the check's labelled pixels of `window` by true and mapped class.
fn count_check(check: &CheckPixels<'_>, confusion: &mut Confusion, window: hypersynth_data::Window, classes: &Array3<f32>, cols: usize) {
    for r in 0..window.rows {
        for c in 0..window.cols {
            let (row, col) = (window.row + r, window.col + c);
            let truth = check.raster.ids[[row, col]];
            if truth == 0 {
                continue;
            }
            let mapped = classes[[r, c, 0]] as u32;
            if mapped == NO_CLASS {
                confusion.without_data += 1;
            } else if check.trained_on.contains(&((row * cols + col) as u64)) {
                confusion.trained_on += 1;
            } else {
                confusion.add(truth, mapped);
            }
        }
    }
}

/// The layout of a one-band raster of `dtype` on `scene`'s grid.
fn single_band(scene: &CubeMeta, dtype: SampleType, nodata: f64, name: &str) -> CubeMeta {
    CubeMeta {
        bands: 1,
        dtype,
        wavelengths_nm: None,
        fwhm_nm: None,
        good_bands: vec![true],
        scale: vec![1.0],
        offset: vec![0.0],
        nodata: Some(nodata),
        band_names: Some(vec![name.to_string()]),
        ..scene.clone()
    }
}
