//! Cube, label and spectral-library I/O for hypersynth.
//!
//! Hyperspectral cubes come in through GDAL (GeoTIFF, ENVI, any GDAL raster) or HDF5
//! (the NEON AOP layout, or a named 3-D dataset). A [`Cube`] reads metadata on opening —
//! wavelengths in nanometres, FWHM, bad bands, scale/offset, nodata, CRS and geotransform,
//! all as the file states them — and pixels window by window, so memory does not grow with
//! the scene.
//!
//! ```no_run
//! use hypersynth_data::Cube;
//! # fn main() -> hypersynth_data::Result<()> {
//! let cube = Cube::open("data/samples/salinasA/salinasA.tif")?;
//! println!("{} bands from {:?} nm", cube.meta().bands, cube.meta().wavelengths_nm.as_ref().map(|w| w[0]));
//! for block in cube.blocks(64) {
//!     let block = block?; // [rows, cols, bands] f32 in physical units, plus a nodata mask
//!     println!("rows {}..{}", block.window.row, block.window.row + block.window.rows);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Outputs ([`CogWriter`], [`write_atomically`]) are written under a temporary name and
//! renamed into place when complete.
#![deny(missing_docs)]

mod atomic;
mod bands;
mod cog;
mod cube;
mod envi;
mod error;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod gdal;
mod hdf5;
mod labels;
mod library;
mod outputs;
mod overview;
mod scene_metadata;
mod spectra_out;
mod stac;
mod stored;
mod table;
mod transpose;
mod vsi;

pub use atomic::{AtomicPath, write_atomically};
pub use bands::{BandTable, read_band_table};
pub use cog::{CogWriter, Compression, aux_xml_path};
pub use cube::{
    Block, Cube, CubeMeta, CubeSource, GeoTransform, Georef, Resampling, ResamplingKernel, STREAM_SAMPLES, SampleType, Window, nm_per_unit,
};
pub use envi::EnviHeader;
pub use error::{Error, Result};
pub use labels::{ClassInfo, ClassRaster, class_counts, parse_class_names, read_class_names};
pub use library::{SpectralLibrary, read_envi_library};
pub use outputs::{check_output_folder, check_outputs};
pub use overview::Overviews;
pub use scene_metadata::SceneMetadata;
pub use spectra_out::{
    PixelPosition, SpectraParquetWriter, SpectraRows, TableCompression, band_column, write_spectra_hdf5, write_spectra_parquet,
};
pub use stac::{stac_item, stac_item_path};
pub use stored::StoredPlanes;
pub use table::read_spectra_table;
pub use vsi::{is_virtual, open_bytes};
