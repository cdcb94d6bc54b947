//! Cloud-Optimized GeoTIFF output, streamed block by block and renamed into place only
//! when complete.
//!
//! Blocks go to a tiled staging GeoTIFF beside the target; [`CogWriter::finish`] adds the
//! overview levels to it ([`Overviews`]) and has GDAL's COG driver copy it (compressing it
//! into the COG layout) to a temporary name, then renames that to the target. Memory
//! follows the block size, not the scene size.

use std::path::{Path, PathBuf};

use gdal::raster::{Buffer, ColorInterpretation, GdalType, RasterCreationOptions};
use gdal::{Dataset, DriverManager, Metadata};
use ndarray::ArrayView3;

use crate::atomic::AtomicPath;
use crate::cube::{CubeMeta, SampleType, Window};
use crate::overview::{BLOCK, Overviews, overview_factors, write_average_overviews};
use crate::transpose::transpose_into;
use crate::{Error, Result};

/// The lossless compression of a COG; both use a predictor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    /// DEFLATE: readable by every GeoTIFF reader.
    #[default]
    Deflate,
    /// ZSTD: faster, needs GDAL >= 2.3 to read.
    Zstd,
}

impl Compression {
    fn gdal_name(self) -> &'static str {
        match self {
            Self::Deflate => "DEFLATE",
            Self::Zstd => "ZSTD",
        }
    }
}

/// Writes a COG with the layout and band metadata of a [`CubeMeta`]: size, sample type,
/// CRS, geotransform, nodata, scale/offset, and per band `wavelength`,
/// `wavelength_units`, `fwhm`, `bbl` and a description.
pub struct CogWriter {
    staging: AtomicPath,
    dataset: Dataset,
    output: AtomicPath,
    bands: usize,
    compression: Compression,
    overviews: Overviews,
    /// The layout, for the STAC Item written beside the COG.
    meta: CubeMeta,
    /// The STAC Item's datetime.
    datetime: Option<String>,
    /// Band 1's category names by value, written to the COG's `.aux.xml` (GeoTIFF keeps no
    /// category names itself).
    categories: Option<Vec<String>>,
}

impl std::fmt::Debug for CogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CogWriter").field("target", &self.output.target()).finish_non_exhaustive()
    }
}

impl CogWriter {
    /// Starts writing `target` laid out as `meta` describes (`meta.path` is ignored).
    pub fn create(target: &Path, meta: &CubeMeta, compression: Compression) -> Result<Self> {
        crate::gdal::configure_gdal();
        let output = AtomicPath::new(target)?;
        // Named without the process id, so that a later run's AtomicPath finds and removes
        // what a killed run left staged.
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let staging = AtomicPath::new(&target.with_file_name(format!(".{name}.staging.tif")))?;
        let driver = DriverManager::get_driver_by_name("GTiff").map_err(Error::gdal(target, "load the GTiff driver"))?;
        // Band-interleaved: `write` writes band by band, and in a pixel-interleaved file each
        // band's write of a block reads back and rewrites every band of it once GDAL's
        // cache can no longer hold the partly written blocks (a 224-band scene 1,000 pixels
        // wide spent 90 % of super-resolve there).
        let (width, height) = (format!("BLOCKXSIZE={BLOCK}"), format!("BLOCKYSIZE={BLOCK}"));
        let options = RasterCreationOptions::from_iter([
            "TILED=YES",
            width.as_str(),
            height.as_str(),
            "BIGTIFF=IF_SAFER",
            "PHOTOMETRIC=MINISBLACK",
            "INTERLEAVE=BAND",
        ]);
        let create = match meta.dtype {
            SampleType::UInt8 => create::<u8>,
            SampleType::Int16 => create::<i16>,
            SampleType::UInt16 => create::<u16>,
            SampleType::Int32 => create::<i32>,
            SampleType::UInt32 => create::<u32>,
            SampleType::Float32 => create::<f32>,
            SampleType::Float64 => create::<f64>,
        };
        let mut dataset = create(&driver, staging.temp(), meta, &options).map_err(Error::gdal(target, "create the staging GeoTIFF"))?;
        describe(&mut dataset, meta).map_err(Error::gdal(target, "write band metadata"))?;
        Ok(Self {
            staging,
            dataset,
            output,
            bands: meta.bands,
            compression,
            overviews: Overviews::default(),
            meta: meta.clone(),
            datetime: None,
            categories: None,
        })
    }

    /// Makes the overview levels as `overviews` says (by default [`Overviews::Average`]).
    pub fn with_overviews(mut self, overviews: Overviews) -> Self {
        self.overviews = overviews;
        self
    }

    /// Dates the STAC Item written beside the COG (RFC 3339; [`crate::SceneMetadata::datetime`] of
    /// the scene it is made from); without a date the Item is dated when it is written.
    pub fn dated(mut self, datetime: Option<String>) -> Self {
        self.datetime = datetime;
        self
    }

    /// Carries scene-level metadata (key, value) into the COG's default domain, as
    /// [`crate::SceneMetadata::items`] reads them from the scene it is made from.
    pub fn with_metadata(mut self, items: &[(String, String)]) -> Result<Self> {
        for (key, value) in items {
            self.dataset.set_metadata_item(key, value, "").map_err(Error::gdal(self.output.target(), "write the scene's metadata"))?;
        }
        Ok(self)
    }

    /// Gives band 1 (of an integer COG of one band) a colour table and category names:
    /// value `v` is named `categories[v].1` and drawn in `categories[v].2` (RGB); values
    /// without an entry stay unnamed and black. The names go into `TARGET.aux.xml`
    /// (GDAL and QGIS read them from there; GeoTIFF holds none), the colours into the
    /// GeoTIFF.
    pub fn with_categories(mut self, categories: &[(u32, String, [u8; 3])]) -> Result<Self> {
        use gdal::raster::{ColorEntry, ColorTable, PaletteInterpretation};
        let target = self.output.target().to_path_buf();
        let top = categories.iter().map(|c| c.0).max().unwrap_or(0) as usize;
        if self.bands != 1 || self.meta.dtype.is_float() || top > u16::MAX as usize {
            return Err(Error::invalid(&target, "categories are for an integer raster of one band and values up to 65535"));
        }
        let mut table = ColorTable::new(PaletteInterpretation::Rgba);
        let mut names = vec![String::new(); top + 1];
        for v in 0..=top {
            table.set_color_entry(v as u16, &ColorEntry::rgba(0, 0, 0, 255));
        }
        for (value, name, [r, g, b]) in categories {
            table.set_color_entry(*value as u16, &ColorEntry::rgba(i16::from(*r), i16::from(*g), i16::from(*b), 255));
            names[*value as usize] = name.clone();
        }
        let mut band = self.dataset.rasterband(1).map_err(Error::gdal(&target, "open band"))?;
        band.set_color_table(&table);
        band.set_color_interpretation(ColorInterpretation::PaletteIndex).map_err(Error::gdal(&target, "set the palette"))?;
        self.categories = Some(names);
        Ok(self)
    }

    /// Writes `data` (`[rows, cols, bands]`, stored values) at `window`. Band-major memory
    /// (`[bands, rows, cols]` permuted to that shape) is written without a transposition.
    pub fn write(&mut self, window: Window, data: ArrayView3<'_, f32>) -> Result<()> {
        let target = self.output.target().to_path_buf();
        if data.dim() != (window.rows, window.cols, self.bands) {
            return Err(Error::invalid(&target, format!("block of shape {:?} does not fit window {window:?}", data.dim())));
        }
        let pixels = window.rows * window.cols;
        let planes = band_planes(data);
        for (b, plane) in planes.chunks_exact(pixels).enumerate() {
            let mut buffer = Buffer::new((window.cols, window.rows), plane.to_vec());
            let mut band = self.dataset.rasterband(b + 1).map_err(Error::gdal(&target, "open band"))?;
            band.write((window.col as isize, window.row as isize), (window.cols, window.rows), &mut buffer)
                .map_err(Error::gdal(&target, "write block"))?;
        }
        // Out of GDAL's block cache at once: written blocks left there crowd out the input's
        // blocks, which the cache shares, and a pixel-interleaved input then decodes each
        // of its blocks again for every band (a 224-band scene 1,000 pixels wide ran 4 x
        // slower). A block written in part is read back, uncompressed, when its next rows
        // come.
        self.dataset.flush_cache().map_err(Error::gdal(&target, "flush the staging GeoTIFF"))?;
        Ok(())
    }

    /// Converts the staged raster to a COG and renames it into place, then writes its STAC
    /// Item beside it ([`crate::stac_item_path`]).
    pub fn finish(self) -> Result<PathBuf> {
        let Self { staging, mut dataset, output, compression, overviews, meta, datetime, categories, .. } = self;
        let target = output.target().to_path_buf();
        let _cache = crate::gdal::SmallBlockCache::hold();
        // The levels go into the staging file, which the COG driver copies (OVERVIEWS=AUTO):
        // both kinds get the same level sizes (each rounded up from the one below).
        let factors = overview_factors(meta.rows, meta.cols);
        if !factors.is_empty() {
            match overviews {
                Overviews::Average => write_average_overviews(&mut dataset, &meta, &factors),
                Overviews::Mode => dataset.build_overviews("MODE", &factors, &[]),
            }
            .map_err(Error::gdal(&target, "write the overviews"))?;
        }
        dataset.flush_cache().map_err(Error::gdal(&target, "flush the staging GeoTIFF"))?;
        let driver = DriverManager::get_driver_by_name("COG").map_err(Error::gdal(&target, "load the COG driver"))?;
        let compress = format!("COMPRESS={}", compression.gdal_name());
        let block = format!("BLOCKSIZE={BLOCK}");
        let options = RasterCreationOptions::from_iter([
            compress.as_str(),
            "PREDICTOR=YES",
            "BIGTIFF=IF_SAFER",
            block.as_str(),
            "NUM_THREADS=ALL_CPUS",
        ]);
        let cog = dataset.create_copy(&driver, output.temp(), &options).map_err(Error::gdal(&target, "write the COG"))?;
        cog.close().map_err(Error::gdal(&target, "close the COG"))?;
        dataset.close().map_err(Error::gdal(&target, "close the staging GeoTIFF"))?;
        drop(staging);
        if let Some(names) = categories {
            // Before the COG: a run killed between the two leaves no COG without its names.
            crate::atomic::write_atomically(&aux_xml_path(&target), category_aux_xml(&names).as_bytes())?;
        }
        let cog = output.commit()?;
        crate::stac::write_stac_item(&cog, &meta, datetime.as_deref())?;
        Ok(cog)
    }
}

/// Where GDAL looks for the side metadata of `target` (its category names): `TARGET.aux.xml`.
pub fn aux_xml_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".aux.xml");
    PathBuf::from(name)
}

/// A GDAL PAM document naming band 1's values.
fn category_aux_xml(names: &[String]) -> String {
    let escape = |t: &str| t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let categories: String = names.iter().map(|n| format!("      <Category>{}</Category>\n", escape(n))).collect();
    format!(
        "<PAMDataset>\n  <PAMRasterBand band=\"1\">\n    <CategoryNames>\n{categories}    </CategoryNames>\n  </PAMRasterBand>\n</PAMDataset>\n"
    )
}

/// `data`'s bands one after another, each `[rows, cols]` row-major: its own memory when it is
/// band-major, else a transposed copy.
fn band_planes<'a>(data: ArrayView3<'a, f32>) -> std::borrow::Cow<'a, [f32]> {
    let (rows, cols, bands) = data.dim();
    if let Some(planes) = data.permuted_axes([2, 0, 1]).to_slice() {
        return planes.into();
    }
    match data.to_slice() {
        Some(pixels) => {
            let mut planes = vec![0.0; pixels.len()];
            transpose_into(pixels, rows * cols, bands, &mut planes, rows * cols, 0);
            planes.into()
        }
        None => data.permuted_axes([2, 0, 1]).iter().copied().collect::<Vec<_>>().into(),
    }
}

fn create<T: GdalType>(
    driver: &gdal::Driver,
    path: &Path,
    meta: &CubeMeta,
    options: &RasterCreationOptions,
) -> gdal::errors::Result<Dataset> {
    driver.create_with_band_type_with_options::<T, _>(path, meta.cols, meta.rows, meta.bands, options)
}

fn describe(dataset: &mut Dataset, meta: &CubeMeta) -> gdal::errors::Result<()> {
    if let Some(gt) = meta.georef.geotransform {
        dataset.set_geo_transform(&gt)?;
    }
    if !meta.georef.crs_wkt.is_empty() {
        dataset.set_projection(&meta.georef.crs_wkt)?;
    }
    for b in 0..meta.bands {
        let mut band = dataset.rasterband(b + 1)?;
        band.set_color_interpretation(if b == 0 { ColorInterpretation::GrayIndex } else { ColorInterpretation::Undefined })?;
        if let Some(nodata) = meta.nodata {
            band.set_no_data_value(Some(nodata))?;
        }
        if meta.scale[b] != 1.0 || meta.offset[b] != 0.0 {
            band.set_scale(meta.scale[b])?;
            band.set_offset(meta.offset[b])?;
        }
        let wavelength = meta.wavelengths_nm.as_ref().map(|w| w[b]);
        if let Some(w) = wavelength {
            band.set_metadata_item("wavelength", &format!("{w}"), "")?;
            band.set_metadata_item("wavelength_units", "Nanometers", "")?;
        }
        if let Some(f) = meta.fwhm_nm.as_ref().map(|f| f[b]) {
            band.set_metadata_item("fwhm", &format!("{f}"), "")?;
        }
        if !meta.good_bands.iter().all(|&g| g) {
            band.set_metadata_item("bbl", if meta.good_bands[b] { "1" } else { "0" }, "")?;
        }
        let name = meta.band_names.as_ref().map(|n| n[b].clone()).filter(|n| !n.is_empty());
        let description = name.unwrap_or_else(|| match wavelength {
            Some(w) => format!("band {} ({w:.2} Nanometers)", b + 1),
            None => format!("band {}", b + 1),
        });
        band.set_description(&description)?;
    }
    Ok(())
}
