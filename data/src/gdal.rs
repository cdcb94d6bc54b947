//! Cubes read through GDAL: GeoTIFF, ENVI and any other GDAL raster.

use std::path::{Path, PathBuf};

use gdal::{Dataset, DatasetOptions, GdalOpenFlags, Metadata};
use gdal_sys::GDALDataType;
use ndarray::Array3;

use crate::cube::{CubeMeta, CubeReader, Georef, Resampling, SampleType, Window, nm_per_unit};
use crate::stored::StoredPlanes;
use crate::{Error, Result};

/// GDAL's block cache unless `GDAL_CACHEMAX` says otherwise: a cap, so that memory does not
/// grow with the scene as GDAL's default (5 % of RAM) lets it. Readers that cross block
/// boundaries (strips of a few rows, windows of a resampled scene) re-read blocks from it;
/// tiled inference's direct reads drop theirs at once (`read_stored_planes`).
const BLOCK_CACHE_MB: &str = "512";

/// GDAL's block cache while a COG is finished ([`SmallBlockCache`]): the COG driver's copy
/// and the overview levels pass each block through the cache once, so a small one costs
/// them nothing, where the reading cap would let the copy of a wide scene fill it.
const FINISHING_CACHE_BYTES: i64 = 64 << 20;

/// GDAL's block cache held at most [`FINISHING_CACHE_BYTES`] while at least one guard
/// lives (the cache is the process's: the first guard lowers it, the last one puts back
/// what it was), for work that reads each block once.
pub(crate) struct SmallBlockCache(());

/// Guards alive, and the cache's size before the first.
static SMALL_CACHE: std::sync::Mutex<(usize, i64)> = std::sync::Mutex::new((0, 0));

impl SmallBlockCache {
    pub(crate) fn hold() -> Self {
        configure_gdal();
        let mut state = SMALL_CACHE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.0 == 0 {
            // SAFETY: plain calls into GDAL's cache settings, which are thread-safe.
            state.1 = unsafe { gdal_sys::GDALGetCacheMax64() };
            unsafe { gdal_sys::GDALSetCacheMax64(state.1.min(FINISHING_CACHE_BYTES)) };
            // The blocks that leaves out, and whatever else the work before freed, go back to
            // the system: glibc keeps freed heap otherwise, and what follows would add to it.
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: malloc_trim only releases free memory.
            unsafe {
                libc::malloc_trim(0);
            }
        }
        state.0 += 1;
        Self(())
    }
}

impl Drop for SmallBlockCache {
    fn drop(&mut self) {
        let mut state = SMALL_CACHE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.0 -= 1;
        if state.0 == 0 {
            // SAFETY: as in `hold`.
            unsafe { gdal_sys::GDALSetCacheMax64(state.1) };
        }
    }
}

/// Threads GDAL decodes a window's blocks on unless `GDAL_NUM_THREADS` says otherwise
/// (`--threads` sets it): every core, as reading a compressed scene is most of the work of
/// tiled inference.
const DECODE_THREADS: &str = "ALL_CPUS";

/// Sets GDAL up once per process: its error and warning messages go to `tracing` instead of
/// stderr (the errors we return already say what failed), its block cache is capped (see
/// [`BLOCK_CACHE_MB`]) and it decodes on every core (see [`DECODE_THREADS`]).
pub(crate) fn configure_gdal() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        gdal::config::set_error_handler(|class, code, message| tracing::debug!(?class, code, "GDAL: {message}"));
        for (key, default) in [("GDAL_CACHEMAX", BLOCK_CACHE_MB), ("GDAL_NUM_THREADS", DECODE_THREADS)] {
            if std::env::var_os(key).is_none()
                && let Err(e) = gdal::config::set_config_option(key, default)
            {
                tracing::warn!("cannot set GDAL's {key}: {e}");
            }
        }
    });
}

/// Opens `path` as a raster through GDAL, refusing vector-only files.
pub(crate) fn open_dataset(path: &Path) -> Result<Dataset> {
    configure_gdal();
    crate::error::ensure_exists(path)?;
    let options = DatasetOptions { open_flags: GdalOpenFlags::GDAL_OF_RASTER | GdalOpenFlags::GDAL_OF_READONLY, ..Default::default() };
    let dataset = Dataset::open_ex(path, options).map_err(|e| {
        let detail = match e {
            gdal::errors::GdalError::NullPointer { msg, .. } => msg,
            other => other.to_string(),
        };
        // GDAL repeats the path in its message; the error names it already.
        let detail = detail.trim_start_matches(&format!("{}: ", path.display())).to_string();
        Error::invalid(
            path,
            if detail.is_empty() { "not a raster GDAL can read".into() } else { format!("not a raster GDAL can read ({detail})") },
        )
    })?;
    if dataset.raster_count() == 0 {
        return Err(Error::invalid(path, "the file has no raster bands"));
    }
    Ok(dataset)
}

/// The CRS and geotransform of a GDAL dataset.
pub(crate) fn georef(dataset: &Dataset) -> Georef {
    // GDAL reports a default identity transform as an error; that means "none".
    Georef { crs_wkt: dataset.projection(), geotransform: dataset.geo_transform().ok() }
}

/// A cube read band by band through GDAL.
pub(crate) struct GdalCube {
    path: PathBuf,
    dataset: Dataset,
    /// Whether `dataset` is a resampling virtual raster over the file.
    resampled: bool,
}

// SAFETY: a GDAL dataset handle may move between threads as long as it is used by one
// thread at a time, which `&self` access from a single owner guarantees here.
unsafe impl Send for GdalCube {}

pub(crate) fn open(path: &Path) -> Result<(CubeMeta, GdalCube)> {
    let dataset = open_dataset(path)?;
    let meta = read_meta(path, &dataset)?;
    // Force a read of the first pixel so that a truncated file fails now, not mid-job.
    GdalCube { path: path.to_path_buf(), dataset, resampled: false }.check_readable(&meta).map(|cube| (meta, cube))
}

/// `path` resampled by GDAL as `how` says, through a virtual raster: windows are
/// resampled as they are read, so the finer cube is never held whole. `meta` is the
/// source's metadata; stored values come out as float32 (scale and offset still apply).
pub(crate) fn open_resampled(path: &Path, meta: &CubeMeta, how: &Resampling) -> Result<GdalCube> {
    configure_gdal();
    let absolute = std::fs::canonicalize(path).map_err(Error::io(path, "resolve"))?;
    let escape = |text: &str| text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let nodata = meta.nodata.map(|v| format!("<NoDataValue>{v}</NoDataValue>")).unwrap_or_default();
    let source_nodata = meta.nodata.map(|v| format!("<NODATA>{v}</NODATA>")).unwrap_or_default();
    let (cols, rows) = (meta.cols * how.scale, meta.rows * how.scale);
    let (file, kernel) = (escape(&absolute.to_string_lossy()), how.kernel.gdal_name());
    let source = |b: usize, (x_off, y_off): (f64, f64)| {
        format!(
            r#"<ComplexSource resampling="{kernel}"><SourceFilename relativeToVRT="0">{file}</SourceFilename><SourceBand>{b}</SourceBand><SrcRect xOff="{x_off}" yOff="{y_off}" xSize="{}" ySize="{}"/><DstRect xOff="0" yOff="0" xSize="{cols}" ySize="{rows}"/>{source_nodata}</ComplexSource>"#,
            meta.cols, meta.rows,
        )
    };
    let mut xml = format!(r#"<VRTDataset rasterXSize="{cols}" rasterYSize="{rows}">"#);
    for b in 1..=meta.bands {
        // A window of the source shifted by a fraction of a pixel moves where its values
        // land. GDAL clips it to the source, which leaves a strip along one edge unpainted:
        // the unshifted resampling, painted first, fills it.
        let sources = match how.source_offset() {
            (0.0, 0.0) => source(b, (0.0, 0.0)),
            offset => source(b, (0.0, 0.0)) + &source(b, offset),
        };
        xml.push_str(&format!(r#"<VRTRasterBand dataType="Float32" band="{b}">{nodata}{sources}</VRTRasterBand>"#));
    }
    xml.push_str("</VRTDataset>");
    let dataset = Dataset::open(Path::new(&xml)).map_err(Error::gdal(path, "open a resampling virtual raster"))?;
    Ok(GdalCube { path: path.to_path_buf(), dataset, resampled: true })
}

impl GdalCube {
    /// Columns of the file's blocks (1 where GDAL does not say).
    fn block_cols(&self) -> usize {
        self.dataset.rasterband(1).map_or(1, |band| band.block_size().0).max(1)
    }

    /// A truncated file fails now, not mid-job. A local GeoTIFF says where each block's
    /// bytes lie, so its last blocks are checked against the file's length without
    /// decoding them (a block of a hyperspectral scene is tens of megabytes); other files
    /// have their last pixel read.
    fn check_readable(self, meta: &CubeMeta) -> Result<Self> {
        if let (Some(end), Ok(file)) = (self.tiff_data_end(meta), std::fs::metadata(&self.path)) {
            if end > file.len() {
                return Err(Error::invalid(
                    &self.path,
                    format!("truncated: its last block ends at byte {end}, but the file has {} bytes", file.len()),
                ));
            }
            return Ok(self);
        }
        self.read_stored(Window { row: meta.rows - 1, col: meta.cols - 1, rows: 1, cols: 1 })?;
        Ok(self)
    }

    /// Where the bytes of each band's last block end, the furthest of them, as GDAL's TIFF
    /// metadata states it; `None` for other files, virtual paths and when GDAL does not say.
    fn tiff_data_end(&self, meta: &CubeMeta) -> Option<u64> {
        if meta.format != "GTiff" || crate::vsi::is_virtual(&self.path) {
            return None;
        }
        let mut end = 0;
        for b in 1..=meta.bands {
            let band = self.dataset.rasterband(b).ok()?;
            let (block_cols, block_rows) = band.block_size();
            let (x, y) = ((meta.cols - 1) / block_cols.max(1), (meta.rows - 1) / block_rows.max(1));
            let number = |key: &str| band.metadata_item(&format!("{key}_{x}_{y}"), "TIFF")?.trim().parse::<u64>().ok();
            end = end.max(number("BLOCK_OFFSET")? + number("BLOCK_SIZE")?);
        }
        Some(end)
    }

    /// Reads every band of window `w` into `buffer` as `T` (GDAL's type `gdal_type`), value
    /// (band, row, col) at `band * spacing.band + row * spacing.line + col * spacing.pixel`.
    fn raster_io<T>(&self, w: Window, buffer: &mut [T], gdal_type: gdal_sys::GDALDataType::Type, spacing: Spacing) -> Result<()> {
        use gdal_sys::{CPLErr, GDALRWFlag};
        use std::ffi::c_int;
        let bands = self.dataset.raster_count();
        let last = (bands - 1) * spacing.band + (w.rows - 1) * spacing.line + (w.cols - 1) * spacing.pixel;
        assert!(last < buffer.len(), "a buffer of {} values cannot hold window {w:?} of {bands} bands", buffer.len());
        let bytes = |values: usize| (values * std::mem::size_of::<T>()) as i64;
        // GDAL sizes are C ints; the window lies inside the raster (checked by the caller).
        let (col, row, cols, rows) = (w.col as c_int, w.row as c_int, w.cols as c_int, w.rows as c_int);
        // SAFETY: every value GDAL writes lies inside `buffer` (the last one is checked
        // above), as `gdal_type`, which the callers pair with `T`; a null band map means
        // bands 1..=count; the dataset handle lives as long as `self`, which one thread at a
        // time uses.
        let status = unsafe {
            gdal_sys::GDALDatasetRasterIOEx(
                self.dataset.c_dataset(),
                GDALRWFlag::GF_Read,
                col,
                row,
                cols,
                rows,
                buffer.as_mut_ptr().cast(),
                cols,
                rows,
                gdal_type,
                bands as c_int,
                std::ptr::null_mut(),
                bytes(spacing.pixel),
                bytes(spacing.line),
                bytes(spacing.band),
                std::ptr::null_mut(),
            )
        };
        if status != CPLErr::CE_None {
            // SAFETY: GDAL returns a valid C string (possibly empty) owned by its thread state.
            let message = unsafe { std::ffi::CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()) }.to_string_lossy().into_owned();
            return Err(Error::invalid(&self.path, format!("reading window {w:?} failed ({message}); is the file truncated?")));
        }
        Ok(())
    }
}

/// Where [`GdalCube::raster_io`] puts values: the distance, in values, between neighbouring
/// pixels, lines and bands.
#[derive(Debug, Clone, Copy)]
struct Spacing {
    pixel: usize,
    line: usize,
    band: usize,
}

impl CubeReader for GdalCube {
    fn read_stored(&self, w: Window) -> Result<Array3<f32>> {
        let bands = self.dataset.raster_count();
        let mut values = vec![0.0; w.rows * w.cols * bands];
        self.raster_io(w, &mut values, GDALDataType::GDT_Float32, Spacing { pixel: bands, line: w.cols * bands, band: 1 })?;
        Array3::from_shape_vec((w.rows, w.cols, bands), values).map_err(|e| Error::invalid(&self.path, format!("window {w:?}: {e}")))
    }

    /// GDAL reads of all bands (each file block is decoded once, whatever the file's
    /// interleaving, and on GDAL_NUM_THREADS threads), straight into band planes. A file
    /// read directly is read a few block columns at a time (one per decoding thread), each
    /// chunk's blocks dropped from GDAL's block cache once copied: this reader's callers
    /// keep the values and read each block once (tiled inference), so the cache would only
    /// hold, up to its cap, what is never read again. A resampled cube is read at once and
    /// keeps its blocks, which its windows share.
    fn read_stored_planes(&self, w: Window, out: &mut StoredPlanes, at: usize, band_stride: usize) -> Result<()> {
        let spacing = Spacing { pixel: 1, line: w.cols, band: band_stride };
        let chunk = self.read_chunk_cols(w.col + w.cols);
        let mut col = w.col;
        while col < w.col + w.cols {
            let end = (col + 1).next_multiple_of(chunk).min(w.col + w.cols);
            let part = Window { col, cols: end - col, ..w };
            let from = at + (col - w.col);
            match out {
                StoredPlanes::UInt8(v) => self.raster_io(part, &mut v[from..], GDALDataType::GDT_Byte, spacing)?,
                StoredPlanes::Int16(v) => self.raster_io(part, &mut v[from..], GDALDataType::GDT_Int16, spacing)?,
                StoredPlanes::UInt16(v) => self.raster_io(part, &mut v[from..], GDALDataType::GDT_UInt16, spacing)?,
                StoredPlanes::Float32(v) => self.raster_io(part, &mut v[from..], GDALDataType::GDT_Float32, spacing)?,
            }
            if !self.resampled {
                self.release_cached_blocks();
            }
            col = end;
        }
        Ok(())
    }

    fn release_cached_blocks(&self) {
        // SAFETY: the handle is open as long as `self`; flushing a dataset opened read-only
        // only frees its cached blocks. From GDAL 3.7 on it returns an error code, which a
        // read-only flush has no use for; before, nothing.
        #[allow(clippy::let_unit_value)]
        let _ = unsafe { gdal_sys::GDALFlushCache(self.dataset.c_dataset()) };
    }

    fn block_rows(&self) -> usize {
        self.dataset.rasterband(1).map_or(1, |band| band.block_size().1)
    }

    /// One block column per decoding thread; the whole width of a resampled cube.
    fn read_chunk_cols(&self, cols: usize) -> usize {
        if self.resampled { cols } else { self.block_cols() * decode_threads() }
    }
}

/// The threads GDAL decodes on: `GDAL_NUM_THREADS` (see [`DECODE_THREADS`]), a number or
/// `ALL_CPUS`.
fn decode_threads() -> usize {
    match gdal::config::get_config_option("GDAL_NUM_THREADS", "1").unwrap_or_default().trim() {
        "ALL_CPUS" => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n.parse().unwrap_or(1).max(1),
    }
}

fn read_meta(path: &Path, ds: &Dataset) -> Result<CubeMeta> {
    let (cols, rows) = ds.raster_size();
    let bands = ds.raster_count();
    let mut wavelengths = Vec::with_capacity(bands);
    let mut units = None;
    let mut fwhm = Vec::with_capacity(bands);
    let mut bbl = Vec::with_capacity(bands);
    let mut scale = Vec::with_capacity(bands);
    let mut offset = Vec::with_capacity(bands);
    let mut names = Vec::with_capacity(bands);
    let mut nodata = None;
    let mut dtype = SampleType::Float32;
    for b in 1..=bands {
        let band = ds.rasterband(b).map_err(Error::gdal(path, "open band"))?;
        if b == 1 {
            dtype = sample_type(path, band.band_type())?;
            nodata = band.no_data_value();
        }
        wavelengths.push(band.metadata_item("wavelength", "").and_then(|v| v.trim().parse::<f64>().ok()));
        units = units.or_else(|| band.metadata_item("wavelength_units", ""));
        fwhm.push(band.metadata_item("fwhm", "").and_then(|v| v.trim().parse::<f64>().ok()));
        bbl.push(band.metadata_item("bbl", "").and_then(|v| v.trim().parse::<f64>().ok()));
        scale.push(band.scale());
        offset.push(band.offset());
        names.push(band.description().unwrap_or_default());
    }

    // ENVI headers (through GDAL's ENVI domain) fill what the bands do not carry.
    let envi = |key: &str| ds.metadata_item(key, "ENVI").map(|v| parse_envi_list(&v));
    let wavelengths: Option<Vec<f64>> = collect_all(wavelengths).or_else(|| envi("wavelength"));
    let units = units.or_else(|| ds.metadata_item("wavelength_units", "ENVI"));
    let fwhm = collect_all(fwhm).or_else(|| envi("fwhm"));
    let bbl = collect_all(bbl).or_else(|| envi("bbl"));
    let gains = collect_all(scale).or_else(|| envi("data_gain_values"));
    let offsets = collect_all(offset).or_else(|| envi("data_offset_values"));
    let reflectance_scale = ds.metadata_item("reflectance_scale_factor", "ENVI").and_then(|v| v.trim().parse::<f64>().ok());
    let nodata = nodata.or_else(|| ds.metadata_item("data_ignore_value", "ENVI").and_then(|v| v.trim().parse().ok()));

    let check_len = |what: &str, v: &Option<Vec<f64>>| match v {
        Some(v) if v.len() != bands => Err(Error::invalid(path, format!("{} {what} values for {bands} bands", v.len()))),
        _ => Ok(()),
    };
    for (what, v) in [("wavelength", &wavelengths), ("fwhm", &fwhm), ("bbl", &bbl), ("gain", &gains), ("offset", &offsets)] {
        check_len(what, v)?;
    }
    let nm = match &wavelengths {
        Some(w) => nm_per_unit(units.as_deref(), w, path)?,
        None => 1.0,
    };
    let to_nm = |v: Vec<f64>| v.into_iter().map(|x| x * nm).collect::<Vec<_>>();
    let scale = match (gains, reflectance_scale) {
        (Some(g), _) => g,
        (None, Some(f)) if f != 0.0 => vec![1.0 / f; bands],
        _ => vec![1.0; bands],
    };
    let has_names = names.iter().any(|n| !n.is_empty());
    Ok(CubeMeta {
        path: path.to_path_buf(),
        format: ds.driver().short_name(),
        rows,
        cols,
        bands,
        dtype,
        wavelengths_nm: wavelengths.map(to_nm),
        fwhm_nm: fwhm.map(to_nm),
        good_bands: bbl.map(|v| v.iter().map(|&x| x != 0.0).collect()).unwrap_or_else(|| vec![true; bands]),
        scale,
        offset: offsets.unwrap_or_else(|| vec![0.0; bands]),
        nodata,
        georef: georef(ds),
        band_names: has_names.then_some(names),
    })
}

fn sample_type(path: &Path, t: gdal::raster::GdalDataType) -> Result<SampleType> {
    use gdal::raster::GdalDataType as G;
    Ok(match t {
        G::UInt8 => SampleType::UInt8,
        G::Int16 => SampleType::Int16,
        G::UInt16 => SampleType::UInt16,
        G::Int32 => SampleType::Int32,
        G::UInt32 => SampleType::UInt32,
        G::Float32 => SampleType::Float32,
        G::Float64 => SampleType::Float64,
        other => return Err(Error::invalid(path, format!("sample type {} is not supported", other.name()))),
    })
}

/// `Some(all values)` when every band has one, else `None`.
fn collect_all<T>(values: Vec<Option<T>>) -> Option<Vec<T>> {
    values.into_iter().collect()
}

/// Parses an ENVI list value such as `{400.0, 410.0}` into numbers, skipping blanks.
pub(crate) fn parse_envi_list(value: &str) -> Vec<f64> {
    value.trim().trim_start_matches('{').trim_end_matches('}').split(',').filter_map(|v| v.trim().parse::<f64>().ok()).collect()
}
