//! The hyperspectral cube: metadata plus windowed reads in physical units.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3};

use crate::stored::StoredPlanes;
use serde::Serialize;

use crate::{Error, Result};

pub use hypersynth_spectral::Window;

/// GDAL's affine geotransform: `[x_origin, pixel_width, row_rotation, y_origin,
/// col_rotation, pixel_height]`; pixel (col, row) has its top-left corner at
/// `x = gt[0] + col*gt[1] + row*gt[2]`, `y = gt[3] + col*gt[4] + row*gt[5]`.
pub type GeoTransform = [f64; 6];

/// Where a cube sits on the Earth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Georef {
    /// The coordinate reference system as WKT; empty when the file has none.
    pub crs_wkt: String,
    /// The geotransform; `None` when the file has none (pixel coordinates only).
    pub geotransform: Option<GeoTransform>,
}

/// How samples are stored in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SampleType {
    /// Unsigned 8-bit integer.
    UInt8,
    /// Signed 16-bit integer.
    Int16,
    /// Unsigned 16-bit integer.
    UInt16,
    /// Signed 32-bit integer.
    Int32,
    /// Unsigned 32-bit integer.
    UInt32,
    /// 32-bit float.
    Float32,
    /// 64-bit float.
    Float64,
}

impl SampleType {
    /// Whether values are floating point.
    pub fn is_float(self) -> bool {
        matches!(self, Self::Float32 | Self::Float64)
    }

    /// GDAL's name for the type (`Int16`, `Float32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::UInt8 => "Byte",
            Self::Int16 => "Int16",
            Self::UInt16 => "UInt16",
            Self::Int32 => "Int32",
            Self::UInt32 => "UInt32",
            Self::Float32 => "Float32",
            Self::Float64 => "Float64",
        }
    }

    /// Whether every stored value is exactly representable in `f32`, so that reading
    /// stored values as `f32` and writing them back is lossless.
    pub fn exact_in_f32(self) -> bool {
        matches!(self, Self::UInt8 | Self::Int16 | Self::UInt16 | Self::Float32)
    }
}

impl std::fmt::Display for SampleType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything known about a cube besides its pixels. Band-indexed vectors have one entry
/// per band, in file order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CubeMeta {
    /// The file the cube was read from.
    pub path: PathBuf,
    /// The format, e.g. `GTiff`, `ENVI`, `HDF5 (NEON AOP)`.
    pub format: String,
    /// Number of rows (lines).
    pub rows: usize,
    /// Number of columns (samples).
    pub cols: usize,
    /// Number of bands.
    pub bands: usize,
    /// The stored sample type.
    pub dtype: SampleType,
    /// Band centre wavelengths in nanometres, when the file states them.
    pub wavelengths_nm: Option<Vec<f64>>,
    /// Band full widths at half maximum in nanometres, when the file states them.
    pub fwhm_nm: Option<Vec<f64>>,
    /// `true` for bands usable for analysis (ENVI `bbl` = 1); all `true` when the file
    /// has no bad-band list.
    pub good_bands: Vec<bool>,
    /// Per-band scale: physical value = stored value x scale + offset.
    pub scale: Vec<f64>,
    /// Per-band offset, see [`CubeMeta::scale`].
    pub offset: Vec<f64>,
    /// The stored value that marks a pixel without data, if any.
    pub nodata: Option<f64>,
    /// CRS and geotransform.
    pub georef: Georef,
    /// Band names or descriptions, when the file has them.
    pub band_names: Option<Vec<String>>,
}

impl CubeMeta {
    /// The whole raster as one window.
    pub fn full_window(&self) -> Window {
        Window::full(self.rows, self.cols)
    }

    /// Checks that `window` lies inside the raster.
    pub fn check_window(&self, window: Window) -> Result<()> {
        if window.rows == 0 || window.cols == 0 || window.row + window.rows > self.rows || window.col + window.cols > self.cols {
            return Err(Error::invalid(&self.path, format!("window {window:?} lies outside the {} x {} raster", self.rows, self.cols)));
        }
        Ok(())
    }

    /// Whether stored value `v` of band `b` leaves its pixel without data: the nodata value
    /// in a good band.
    #[inline]
    pub fn voids_pixel(&self, b: usize, v: f32) -> bool {
        self.good_bands[b] && self.is_nodata(v)
    }

    /// The physical value of stored value `v` of band `b` (stored x scale + offset); NaN
    /// for the nodata value.
    #[inline]
    pub fn physical(&self, b: usize, v: f32) -> f32 {
        if self.is_nodata(v) { f32::NAN } else { (f64::from(v) * self.scale[b] + self.offset[b]) as f32 }
    }

    /// Whether a stored value is the nodata value (NaN matches a NaN nodata).
    #[inline]
    pub fn is_nodata(&self, stored: f32) -> bool {
        match self.nodata {
            Some(nd) if nd.is_nan() => stored.is_nan(),
            Some(nd) => stored == nd as f32,
            None => false,
        }
    }
}

/// A window of a cube in physical units.
#[derive(Debug, Clone)]
pub struct Block {
    /// Where in the cube this block lies.
    pub window: Window,
    /// Pixels as `[rows, cols, bands]`, physical units (stored x scale + offset). Pixels
    /// without data are NaN in every band.
    pub data: Array3<f32>,
    /// `[rows, cols]`, `true` where the pixel has data in every band.
    pub valid: Array2<bool>,
}

/// How to find the cube inside a file.
#[derive(Debug, Clone, Default)]
pub struct CubeSource {
    /// The file.
    pub path: PathBuf,
    /// For HDF5 files: the dataset to read; `None` finds the NEON AOP reflectance.
    pub dataset: Option<String>,
    /// For HDF5 datasets: which of the three axes holds the bands (default 2, i.e.
    /// `[rows, cols, bands]`).
    pub band_axis: Option<usize>,
    /// A CSV of the bands' centre wavelengths and FWHM (nm), for a cube that states none
    /// (a mosaic made by `gdalbuildvrt` drops them); see [`crate::read_band_table`].
    pub wavelengths: Option<PathBuf>,
}

impl CubeSource {
    /// A source that is just a file, its layout found from its content.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), ..Self::default() }
    }

    /// The files opening it reads: the cube and its band table (for the check that no
    /// output replaces an input, and for run records).
    pub fn files(&self) -> Vec<PathBuf> {
        std::iter::once(self.path.clone()).chain(self.wavelengths.clone()).collect()
    }
}

/// The format-specific reading behind a [`Cube`].
pub(crate) trait CubeReader: Send {
    /// Reads stored values of `window` as `[rows, cols, bands]`.
    fn read_stored(&self, window: Window) -> Result<Array3<f32>>;

    /// Reads stored values of `window` band by band into `out`: band `b`'s rows, `window.cols`
    /// values each, start at value `at + b * band_stride`.
    fn read_stored_planes(&self, window: Window, out: &mut StoredPlanes, at: usize, band_stride: usize) -> Result<()> {
        let pixels = self.read_stored(window)?;
        for (b, values) in pixels.axis_iter(ndarray::Axis(2)).enumerate() {
            for (i, &v) in values.iter().enumerate() {
                out.set(at + b * band_stride + i, v);
            }
        }
        Ok(())
    }

    /// Rows of the file's blocks: windows starting and ending on multiples of it are
    /// decoded without touching a block twice. 1 where the reader has no blocks.
    fn block_rows(&self) -> usize {
        1
    }

    /// Columns [`CubeReader::read_stored_planes`] decodes at a time, of a cube `cols` wide
    /// (see [`Cube::read_chunk_cols`]).
    fn read_chunk_cols(&self, cols: usize) -> usize {
        cols
    }

    /// Drops the file's blocks from a block cache the reader keeps (see
    /// [`Cube::release_cached_blocks`]).
    fn release_cached_blocks(&self) {}
}

/// How [`Cube::open_resampled`] maps a cube onto a grid `scale` times finer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resampling {
    /// Fine pixels per coarse pixel along each axis.
    pub scale: usize,
    /// GDAL's interpolation kernel.
    pub kernel: ResamplingKernel,
    /// Where each coarse pixel's point-spread function is centred, in fine pixels (rows,
    /// columns) from the centre of the block of fine pixels the georeferencing gives it:
    /// the interpolation places each coarse value there. `[0, 0]` when the coarse pixels
    /// are centred on their blocks, as GDAL's `average` makes them; `[-0.5, -0.5]` at x2
    /// when every second pixel was kept, starting with the first.
    pub psf_offset: [f64; 2],
}

/// An interpolation kernel of GDAL's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResamplingKernel {
    /// Cubic convolution (Keys, a = -0.5): "bicubic".
    Cubic,
    /// Lanczos windowed sinc (3 lobes).
    Lanczos,
}

impl ResamplingKernel {
    /// GDAL's name of the kernel.
    pub fn gdal_name(self) -> &'static str {
        match self {
            Self::Cubic => "cubic",
            Self::Lanczos => "lanczos",
        }
    }
}

impl Resampling {
    /// Cubic convolution by `scale`, coarse pixels centred on their blocks.
    pub fn cubic(scale: usize) -> Self {
        Self { scale, kernel: ResamplingKernel::Cubic, psf_offset: [0.0; 2] }
    }

    /// The same with `kernel`.
    pub fn with_kernel(self, kernel: ResamplingKernel) -> Self {
        Self { kernel, ..self }
    }

    /// The same with the coarse pixels centred `psf_offset` fine pixels from their blocks' centres.
    pub fn with_psf_offset(self, psf_offset: [f64; 2]) -> Self {
        Self { psf_offset, ..self }
    }

    /// The kernel, and the offset when there is one, as words.
    fn describe(&self) -> String {
        match self.psf_offset {
            [0.0, 0.0] => self.kernel.gdal_name().to_string(),
            [rows, cols] => format!("{}, coarse pixels centred {rows:+}, {cols:+} fine pixels from their blocks", self.kernel.gdal_name()),
        }
    }

    /// The coarse pixels' window that GDAL maps onto the fine grid, as (column, row) offsets
    /// in coarse pixels: a coarse value lands `psf_offset` fine pixels from its block's centre.
    pub(crate) fn source_offset(&self) -> (f64, f64) {
        let at = |o: f64| if o == 0.0 { 0.0 } else { -o / self.scale as f64 };
        (at(self.psf_offset[1]), at(self.psf_offset[0]))
    }
}

/// A hyperspectral cube opened for windowed reading.
///
/// Opening reads only metadata; pixels are read by window, so memory follows the window
/// size, not the scene size.
pub struct Cube {
    meta: CubeMeta,
    reader: Box<dyn CubeReader>,
}

impl std::fmt::Debug for Cube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cube").field("meta", &self.meta).finish_non_exhaustive()
    }
}

/// About how many samples a window of [`Cube::stream_windows`] holds (64 MiB of f32): a
/// few row blocks of a scene, the memory of the commands that stream one.
pub const STREAM_SAMPLES: usize = 16 << 20;

const HDF5_SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

impl Cube {
    /// Opens a cube file: HDF5 files (found by their signature) through the HDF5 library,
    /// everything else through GDAL.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_source(&CubeSource::file(path.as_ref()))
    }

    /// Opens a cube described by a [`CubeSource`].
    pub fn open_source(source: &CubeSource) -> Result<Self> {
        let path = source.path.as_path();
        crate::error::ensure_exists(path)?;
        let (meta, reader) = if is_hdf5(path)? {
            let (meta, reader) = crate::hdf5::open(path, source.dataset.as_deref(), source.band_axis)?;
            (meta, Box::new(reader) as Box<dyn CubeReader>)
        } else {
            if source.dataset.is_some() || source.band_axis.is_some() {
                return Err(Error::invalid(path, "--dataset and --band-axis apply to HDF5 files only"));
            }
            let (meta, reader) = crate::gdal::open(path)?;
            (meta, Box::new(reader) as Box<dyn CubeReader>)
        };
        let mut meta = meta;
        if let Some(table) = &source.wavelengths {
            crate::bands::apply_band_table(&mut meta, table)?;
        }
        tracing::debug!(path = %path.display(), format = %meta.format, rows = meta.rows, cols = meta.cols, bands = meta.bands, "opened cube");
        Ok(Self { meta, reader })
    }

    /// Opens the cube at `path` resampled to `how.scale` times finer pixels by GDAL (see
    /// [`Resampling`]): `scale` x the rows and columns, the pixel size divided by `scale`
    /// (same origin, CRS, bands, wavelengths, scale/offset and nodata), float32 samples.
    /// Windows are resampled as they are read. Needs a cube GDAL reads.
    pub fn open_resampled(path: impl AsRef<Path>, how: &Resampling) -> Result<Self> {
        let path = path.as_ref();
        let source = Self::open(path)?;
        let scale = how.scale;
        if scale == 0 {
            return Err(Error::invalid(path, "the resampling scale must be at least 1"));
        }
        if is_hdf5(path)? {
            return Err(Error::invalid(path, "resampling needs a cube GDAL reads; convert it first (hypersynth convert)"));
        }
        let mut meta = source.meta.clone();
        meta.rows *= scale;
        meta.cols *= scale;
        meta.dtype = SampleType::Float32;
        meta.format = format!("{} resampled x{scale} ({})", meta.format, how.describe());
        if let Some(gt) = meta.georef.geotransform.as_mut() {
            for i in [1, 2, 4, 5] {
                gt[i] /= scale as f64;
            }
        }
        let reader = crate::gdal::open_resampled(path, &source.meta, how)?;
        Ok(Self { meta, reader: Box::new(reader) })
    }

    /// The cube's metadata.
    pub fn meta(&self) -> &CubeMeta {
        &self.meta
    }

    /// Reads `window` as stored in the file (no scale, offset or nodata applied), as
    /// `[rows, cols, bands]`. Integer types up to 16 bits are exact in `f32`.
    pub fn read_stored(&self, window: Window) -> Result<Array3<f32>> {
        self.meta.check_window(window)?;
        self.reader.read_stored(window)
    }

    /// Reads `window` in physical units, with the nodata mask. A pixel lacks data when any
    /// good band holds the nodata value; such pixels are NaN in every band. Nodata in a
    /// bad band (as EnMAP writes there) makes just that value NaN.
    pub fn read(&self, window: Window) -> Result<Block> {
        let mut data = self.read_stored(window)?;
        let mut valid = Array2::from_elem((window.rows, window.cols), true);
        let meta = &self.meta;
        for ((r, c), ok) in valid.indexed_iter_mut() {
            let mut spectrum = data.slice_mut(ndarray::s![r, c, ..]);
            if spectrum.iter().enumerate().any(|(b, &v)| meta.voids_pixel(b, v)) {
                *ok = false;
                spectrum.fill(f32::NAN);
                continue;
            }
            for (b, v) in spectrum.iter_mut().enumerate() {
                *v = meta.physical(b, *v);
            }
        }
        Ok(Block { window, data, valid })
    }

    /// Reads the stored values of `window` band by band into `out`, without converting
    /// them (see [`CubeMeta::physical`]): band `b`'s rows, `window.cols` values each, start
    /// at value `at + b * band_stride`. For readers that keep band planes of many rows and
    /// fill them a window at a time, such as tiled inference: GDAL writes straight into
    /// `out`, in the file's own type where `out` has it (see [`StoredPlanes::for_type`]).
    pub fn read_stored_planes(&self, window: Window, out: &mut StoredPlanes, at: usize, band_stride: usize) -> Result<()> {
        self.meta.check_window(window)?;
        let plane = window.rows * window.cols;
        let needed = at + (self.meta.bands - 1) * band_stride + plane;
        if band_stride < plane || out.len() < needed {
            return Err(Error::invalid(
                &self.meta.path,
                format!("window {window:?}: {} values from {at}, {band_stride} per band, cannot hold {plane} per band", out.len()),
            ));
        }
        self.reader.read_stored_planes(window, out, at, band_stride)
    }

    /// Rows of the file's blocks (GDAL's block height; 1 for HDF5): windows that start
    /// and end on multiples of it decode each block once.
    pub fn block_rows(&self) -> usize {
        self.reader.block_rows().max(1)
    }

    /// Columns a read of stored planes ([`Cube::read_stored_planes`]) decodes at a time:
    /// a few file blocks side by side (one per decoding thread) for a file GDAL reads
    /// directly, the whole width otherwise. A reader that holds rows in column chunks of
    /// this width, starting at column 0, decodes each block once per read and can use a
    /// chunk while the next one is read.
    pub fn read_chunk_cols(&self) -> usize {
        self.reader.read_chunk_cols(self.meta.cols).clamp(1, self.meta.cols.max(1))
    }

    /// Drops the file's blocks from GDAL's block cache, for a reader done with the part of
    /// the scene they cover (a resampled cube keeps the blocks its windows share).
    pub fn release_cached_blocks(&self) {
        self.reader.release_cached_blocks()
    }

    /// Row strips of at most `rows_per_block` rows covering the cube, top to bottom.
    pub fn row_windows(&self, rows_per_block: usize) -> impl Iterator<Item = Window> + use<> {
        let (rows, cols) = (self.meta.rows, self.meta.cols);
        let step = rows_per_block.max(1);
        (0..rows).step_by(step).map(move |row| Window { row, col: 0, rows: step.min(rows - row), cols })
    }

    /// Windows covering the cube for a reader that takes each once ([`Cube::read_once`],
    /// [`Cube::read_stored_once`]), in reading order: whole rows of the file's blocks
    /// (several when one holds fewer than about [`STREAM_SAMPLES`] samples) by
    /// [`Cube::read_chunk_cols`] columns. Each block is decoded once, and the window, not
    /// the scene's width, bounds the memory a reader needs.
    pub fn stream_windows(&self) -> impl Iterator<Item = Window> + use<> {
        let (rows, cols, bands) = (self.meta.rows, self.meta.cols, self.meta.bands);
        let chunk = self.read_chunk_cols();
        let block_rows = self.block_rows();
        let step = (STREAM_SAMPLES / (chunk * bands).max(1) / block_rows * block_rows).max(block_rows);
        (0..rows).step_by(step).flat_map(move |row| {
            (0..cols).step_by(chunk).map(move |col| Window { row, col, rows: step.min(rows - row), cols: chunk.min(cols - col) })
        })
    }

    /// Reads `window` as stored (as [`Cube::read_stored`]), for readers that read each
    /// block once ([`Cube::stream_windows`]): the values come straight from the file band
    /// by band, and the file's blocks leave GDAL's cache once copied. The array is laid out
    /// band by band (`[bands, rows, cols]` permuted to `[rows, cols, bands]`).
    pub fn read_stored_once(&self, window: Window) -> Result<Array3<f32>> {
        let plane = window.rows * window.cols;
        let mut planes = StoredPlanes::Float32(vec![0.0; plane * self.meta.bands]);
        self.read_stored_planes(window, &mut planes, 0, plane)?;
        let StoredPlanes::Float32(values) = planes else { unreachable!("float32 planes stay float32") };
        let planes = Array3::from_shape_vec((self.meta.bands, window.rows, window.cols), values)
            .map_err(|e| Error::invalid(&self.meta.path, format!("window {window:?}: {e}")))?;
        Ok(planes.permuted_axes([1, 2, 0]))
    }

    /// Reads `window` in physical units with the nodata mask (as [`Cube::read`]), for
    /// readers that read each block once (see [`Cube::read_stored_once`], whose layout the
    /// block's data has).
    pub fn read_once(&self, window: Window) -> Result<Block> {
        let mut data = self.read_stored_once(window)?;
        let meta = &self.meta;
        let mut valid = vec![true; window.rows * window.cols];
        let planes = data.as_slice_memory_order_mut().expect("planes read into one buffer");
        let plane_len = valid.len().max(1);
        for (b, plane) in planes.chunks_exact(plane_len).enumerate() {
            for (ok, &v) in valid.iter_mut().zip(plane) {
                *ok &= !meta.voids_pixel(b, v);
            }
        }
        for (b, plane) in planes.chunks_exact_mut(plane_len).enumerate() {
            for (v, &ok) in plane.iter_mut().zip(&valid) {
                *v = if ok { meta.physical(b, *v) } else { f32::NAN };
            }
        }
        let valid = Array2::from_shape_vec((window.rows, window.cols), valid).expect("one flag per pixel");
        Ok(Block { window, data, valid })
    }

    /// Reads the cube strip by strip in physical units (see [`Cube::row_windows`]).
    pub fn blocks(&self, rows_per_block: usize) -> impl Iterator<Item = Result<Block>> + '_ {
        self.row_windows(rows_per_block).map(|w| self.read(w))
    }
}

fn is_hdf5(path: &Path) -> Result<bool> {
    use std::io::Read;
    if crate::vsi::is_virtual(path) {
        // The HDF5 library reads local files only; GDAL reads the rest.
        return Ok(false);
    }
    let mut head = [0u8; 8];
    let mut file = std::fs::File::open(path).map_err(Error::io(path, "open"))?;
    match file.read_exact(&mut head) {
        Ok(()) => Ok(&head == HDF5_SIGNATURE),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(Error::io(path, "read")(e)),
    }
}

/// Nanometres per unit of a file's wavelength (and FWHM) values, from the unit it names
/// (`Nanometers`, `nm`, `Micrometers`, `um`, `µm`, ...). A file that names no unit gets
/// ENVI's own rule: values all below 100 are micrometres, others nanometres; the choice is
/// logged.
pub fn nm_per_unit(unit: Option<&str>, wavelengths: &[f64], path: &Path) -> Result<f64> {
    let unit = unit.map(|u| u.trim().to_ascii_lowercase()).filter(|u| !u.is_empty() && u != "unknown");
    match unit.as_deref() {
        Some(u) if u.starts_with("nano") || u == "nm" => Ok(1.0),
        Some(u) if u.starts_with("micro") || u == "um" || u == "µm" || u == "μm" => Ok(1000.0),
        Some(u) if u.starts_with("milli") || u == "mm" => Ok(1.0e6),
        Some(u) => Err(Error::invalid(path, format!("unknown wavelength unit {u:?}"))),
        None => {
            let micrometres = wavelengths.iter().all(|&v| v < 100.0);
            tracing::warn!(path = %path.display(), "no wavelength unit in the file; taking {}", if micrometres { "micrometres" } else { "nanometres" });
            Ok(if micrometres { 1000.0 } else { 1.0 })
        }
    }
}
