//! Mapping a scene with a fitted classifier: windows of a few of the file's blocks (memory
//! bounded by the window, whatever the scene's size and width), read while the window
//! before is mapped, every window's pixels predicted over every core,
//! written as a COG of class ids (with names and colours) and a COG of confidences.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Result;
use hypersynth_data::{Block, ClassRaster, CogWriter, Compression, Cube, CubeMeta, Overviews, SampleType, SceneMetadata};
use hypersynth_spectral::Classifier;
use ndarray::{Array2, Array3, Axis};

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
    let map_writer = CogWriter::create(map, &single_band(meta, dtype, f64::from(NO_CLASS), "class"), Compression::Deflate)?
        .with_overviews(Overviews::Mode)
        .with_categories(&named)?
        .dated(scene.datetime.clone())
        .with_metadata(&scene.items)?;
    let confidence_writer =
        CogWriter::create(confidence, &single_band(meta, SampleType::Float32, f64::NAN, "confidence"), Compression::Deflate)?
            .dated(scene.datetime)
            .with_metadata(&scene.items)?;
    let mut mapper = Mapper {
        bands,
        classifier,
        confusion: check.as_ref().map(|_| Confusion::default()),
        check,
        writers: (map_writer, confidence_writer),
        mapped: 0,
        without_data: 0,
        bar: progress::bar((meta.rows * meta.cols) as u64, "mapping", "pixels"),
    };
    // The scene is read on this thread while the block before is mapped on the others.
    let (mapped, read) = std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<Block>(0);
        let worker = crate::threads::spawn_scoped(scope, "mapping", move || -> Result<Mapper<'_>> {
            for block in receive {
                mapper.map_block(&block)?;
            }
            Ok(mapper)
        });
        let worker = match worker {
            Ok(worker) => worker,
            Err(e) => return (Err(e), Ok(())),
        };
        let read = send_blocks(cube, send);
        (worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), read)
    });
    read?;
    let Mapper { writers: (map_writer, confidence_writer), confusion, mapped, without_data, bar, .. } = mapped?;
    bar.set_message("writing COGs");
    let confidence = confidence_writer.finish()?;
    let map = map_writer.finish()?;
    bar.finish_and_clear();
    Ok((MapFiles { map, confidence, mapped, without_data }, confusion))
}

/// Reads `cube` window by window ([`Cube::stream_windows`]) into `send`, until the scene
/// ends or the receiver stops.
fn send_blocks(cube: &Cube, send: std::sync::mpsc::SyncSender<Block>) -> Result<()> {
    for window in cube.stream_windows() {
        if send.send(cube.read_once(window)?).is_err() {
            break;
        }
    }
    Ok(())
}

/// What mapping a scene keeps from block to block.
struct Mapper<'a> {
    bands: &'a [usize],
    classifier: &'a Classifier,
    check: Option<CheckPixels<'a>>,
    confusion: Option<Confusion>,
    /// The class map's and the confidence map's writers.
    writers: (CogWriter, CogWriter),
    mapped: u64,
    without_data: u64,
    bar: indicatif::ProgressBar,
}

impl Mapper<'_> {
    /// Predicts the pixels of `block` that have data in every band taken, and writes
    /// their classes and confidences (and counts its check pixels).
    fn map_block(&mut self, block: &Block) -> Result<()> {
        let window = block.window;
        let views: Vec<_> = self.bands.iter().map(|&b| block.data.index_axis(Axis(2), b)).collect();
        let planes: Vec<&[f32]> = views.iter().map(|v| v.as_slice().expect("bands held plane by plane (Cube::read_once)")).collect();
        // The pixels (row-major within the window) with a value in every band taken.
        let mut taken = block.valid.as_slice().expect("a standard-layout mask").to_vec();
        for plane in &planes {
            for (ok, v) in taken.iter_mut().zip(plane.iter()) {
                *ok &= v.is_finite();
            }
        }
        let pixels: Vec<usize> = (0..taken.len()).filter(|&p| taken[p]).collect();
        // Each chunk's spectra gathered, band by band, by the thread that predicts them.
        let predicted = self.classifier.predict_rows(pixels.len(), |range| {
            let pixels = &pixels[range];
            let mut x = Array2::zeros((pixels.len(), planes.len()));
            for (mut column, plane) in x.axis_iter_mut(Axis(1)).zip(&planes) {
                for (v, &p) in column.iter_mut().zip(pixels) {
                    *v = plane[p];
                }
            }
            x
        })?;
        let mut classes = Array3::from_elem((window.rows, window.cols, 1), NO_CLASS as f32);
        let mut confidences = Array3::from_elem((window.rows, window.cols, 1), f32::NAN);
        for (&p, &(class, share)) in pixels.iter().zip(&predicted) {
            let (r, c) = (p / window.cols, p % window.cols);
            classes[[r, c, 0]] = class as f32;
            confidences[[r, c, 0]] = share;
        }
        if let (Some(check), Some(confusion)) = (&self.check, &mut self.confusion) {
            count_check(check, confusion, window, &classes);
        }
        self.mapped += pixels.len() as u64;
        self.without_data += (window.rows * window.cols - pixels.len()) as u64;
        self.writers.0.write(window, classes.view())?;
        self.writers.1.write(window, confidences.view())?;
        self.bar.inc((window.rows * window.cols) as u64);
        Ok(())
    }
}

/// Counts the check's labelled pixels of `window` by true and mapped class.
fn count_check(check: &CheckPixels<'_>, confusion: &mut Confusion, window: hypersynth_data::Window, classes: &Array3<f32>) {
    let cols = check.raster.ids.ncols();
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
