//! Cubes read through the HDF5 library: the NEON AOP reflectance layout, or any named
//! 3-D dataset with a chosen band axis.

use std::path::{Path, PathBuf};

use hdf5::types::{VarLenAscii, VarLenUnicode};
use hdf5::{Container, Conversion, Dataset, File, Ix};
use ndarray::{Array3, Ix3, s};

use crate::cube::{CubeMeta, CubeReader, GeoTransform, Georef, SampleType, Window, nm_per_unit};
use crate::{Error, Result};

/// A cube stored as one 3-D HDF5 dataset.
pub(crate) struct Hdf5Cube {
    path: PathBuf,
    dataset: Dataset,
    band_axis: usize,
}

pub(crate) fn open(path: &Path, dataset: Option<&str>, band_axis: Option<usize>) -> Result<(CubeMeta, Hdf5Cube)> {
    let file = File::open(path).map_err(Error::hdf5(path, "open HDF5 file"))?;
    match dataset {
        Some(name) => open_named(path, &file, name, band_axis.unwrap_or(2)),
        None => {
            if band_axis.is_some() {
                return Err(Error::invalid(path, "--band-axis needs --dataset"));
            }
            open_neon(path, &file)
        }
    }
}

/// The NEON AOP layout: `/<SITE>/Reflectance/Reflectance_Data` as `[rows, cols, bands]`
/// with `Scale_Factor` and `Data_Ignore_Value` attributes, wavelengths and FWHM under
/// `Metadata/Spectral_Data`, and `Map_Info` / `Coordinate_System_String` under
/// `Metadata/Coordinate_System`.
fn open_neon(path: &Path, file: &File) -> Result<(CubeMeta, Hdf5Cube)> {
    let sites = file.member_names().map_err(Error::hdf5(path, "list groups"))?;
    let site = sites.iter().find(|s| file.link_exists(&format!("{s}/Reflectance/Reflectance_Data"))).ok_or_else(|| {
        Error::invalid(path, "no NEON reflectance dataset (/<SITE>/Reflectance/Reflectance_Data); name the dataset with --dataset")
    })?;
    let root = format!("{site}/Reflectance");
    let data_name = format!("{root}/Reflectance_Data");
    let dataset = file.dataset(&data_name).map_err(Error::hdf5(path, format!("open {data_name}")))?;
    let mut meta = base_meta(path, &dataset, &data_name, 2, "HDF5 (NEON AOP)")?;

    let spectral = |name: &str| -> Result<Option<(Vec<f64>, Option<String>)>> {
        let full = format!("{root}/Metadata/Spectral_Data/{name}");
        if !file.link_exists(&full) {
            return Ok(None);
        }
        let ds = file.dataset(&full).map_err(Error::hdf5(path, format!("open {full}")))?;
        let values = ds.read_raw::<f64>().map_err(Error::hdf5(path, format!("read {full}")))?;
        Ok(Some((values, ds.attr("Units").ok().and_then(|a| read_string(&a)))))
    };
    if let Some((wl, unit)) = spectral("Wavelength")? {
        let nm = nm_per_unit(unit.as_deref(), &wl, path)?;
        meta.wavelengths_nm = Some(wl.iter().map(|v| v * nm).collect());
        meta.fwhm_nm = spectral("FWHM")?.map(|(f, _)| f.iter().map(|v| v * nm).collect());
    }
    let coords = format!("{root}/Metadata/Coordinate_System");
    let string_at = |name: &str| file.dataset(&format!("{coords}/{name}")).ok().and_then(|d| read_string(&d));
    let geotransform = string_at("Map_Info").map(|m| parse_map_info(path, &m)).transpose()?;
    let crs_wkt = string_at("Coordinate_System_String").unwrap_or_default();
    meta.georef = Georef { crs_wkt, geotransform };
    check_lengths(&meta)?;
    Ok((meta, Hdf5Cube { path: path.to_path_buf(), dataset, band_axis: 2 }))
}

/// Any 3-D dataset; scale, offset and nodata are taken from NEON-style (`Scale_Factor`,
/// `Data_Ignore_Value`) or CF-style (`scale_factor`, `add_offset`, `_FillValue`)
/// attributes, wavelengths from a `wavelength` attribute with `wavelength_units`.
fn open_named(path: &Path, file: &File, name: &str, band_axis: usize) -> Result<(CubeMeta, Hdf5Cube)> {
    if band_axis > 2 {
        return Err(Error::invalid(path, format!("band axis {band_axis} is not 0, 1 or 2")));
    }
    if !file.link_exists(name) {
        return Err(Error::invalid(path, format!("no dataset {name:?} in the file")));
    }
    let dataset = file.dataset(name).map_err(|e| Error::invalid(path, format!("{name:?} is not a dataset ({e})")))?;
    let mut meta = base_meta(path, &dataset, name, band_axis, "HDF5")?;
    if let Some(wl) = dataset.attr("wavelength").ok().and_then(|a| a.read_raw::<f64>().ok()) {
        let unit = dataset.attr("wavelength_units").ok().and_then(|a| read_string(&a));
        let nm = nm_per_unit(unit.as_deref(), &wl, path)?;
        meta.wavelengths_nm = Some(wl.iter().map(|v| v * nm).collect());
    }
    check_lengths(&meta)?;
    Ok((meta, Hdf5Cube { path: path.to_path_buf(), dataset, band_axis }))
}

fn base_meta(path: &Path, dataset: &Dataset, name: &str, band_axis: usize, format: &str) -> Result<CubeMeta> {
    let shape: Vec<Ix> = dataset.shape();
    if shape.len() != 3 {
        return Err(Error::invalid(path, format!("dataset {name:?} has {} dimensions, a cube needs 3", shape.len())));
    }
    let bands = shape[band_axis];
    let mut spatial = (0..3).filter(|&a| a != band_axis).map(|a| shape[a]);
    let (rows, cols) = (spatial.next().unwrap_or(0), spatial.next().unwrap_or(0));
    if rows == 0 || cols == 0 || bands == 0 {
        return Err(Error::invalid(path, format!("dataset {name:?} is empty ({shape:?})")));
    }
    let descriptor = dataset.dtype().and_then(|t| t.to_descriptor()).map_err(Error::hdf5(path, format!("read the type of {name}")))?;
    let dtype = sample_type(&descriptor)
        .ok_or_else(|| Error::invalid(path, format!("dataset {name:?} holds {descriptor}, not numbers hypersynth reads")))?;
    let number = |attr: &str| dataset.attr(attr).ok().and_then(|a| a.read_scalar::<f64>().ok());
    let scale = match (number("Scale_Factor"), number("scale_factor")) {
        // NEON divides: reflectance = stored / Scale_Factor.
        (Some(f), _) if f != 0.0 => 1.0 / f,
        (_, Some(f)) => f,
        _ => 1.0,
    };
    Ok(CubeMeta {
        path: path.to_path_buf(),
        format: format.to_string(),
        rows,
        cols,
        bands,
        dtype,
        wavelengths_nm: None,
        fwhm_nm: None,
        good_bands: vec![true; bands],
        scale: vec![scale; bands],
        offset: vec![number("add_offset").unwrap_or(0.0); bands],
        nodata: number("Data_Ignore_Value").or_else(|| number("_FillValue")),
        georef: Georef { crs_wkt: String::new(), geotransform: None },
        band_names: None,
    })
}

fn sample_type(t: &hdf5::types::TypeDescriptor) -> Option<SampleType> {
    use hdf5::types::{FloatSize, IntSize, TypeDescriptor as T};
    Some(match t {
        T::Unsigned(IntSize::U1) => SampleType::UInt8,
        T::Integer(IntSize::U1) | T::Integer(IntSize::U2) => SampleType::Int16,
        T::Unsigned(IntSize::U2) => SampleType::UInt16,
        T::Integer(IntSize::U4) => SampleType::Int32,
        T::Unsigned(IntSize::U4) => SampleType::UInt32,
        T::Float(FloatSize::U4) => SampleType::Float32,
        T::Float(FloatSize::U8) | T::Integer(IntSize::U8) | T::Unsigned(IntSize::U8) => SampleType::Float64,
        _ => return None,
    })
}

fn check_lengths(meta: &CubeMeta) -> Result<()> {
    for (what, v) in [("wavelength", &meta.wavelengths_nm), ("FWHM", &meta.fwhm_nm)] {
        if let Some(v) = v
            && v.len() != meta.bands
        {
            return Err(Error::invalid(&meta.path, format!("{} {what} values for {} bands", v.len(), meta.bands)));
        }
    }
    Ok(())
}

/// Reads a scalar string attribute or dataset, variable- or fixed-length.
fn read_string(c: &Container) -> Option<String> {
    c.read_scalar::<VarLenUnicode>()
        .map(|s| s.as_str().to_string())
        .or_else(|_| c.read_scalar::<VarLenAscii>().map(|s| s.as_str().to_string()))
        .or_else(|_| c.read_scalar::<hdf5::types::FixedAscii<4096>>().map(|s| s.as_str().to_string()))
        .ok()
}

/// Parses ENVI-style NEON `Map_Info`:
/// `projection, ref_x, ref_y, easting, northing, pixel_x, pixel_y, ...` where the
/// reference pixel is 1-based.
fn parse_map_info(path: &Path, map_info: &str) -> Result<GeoTransform> {
    let fields: Vec<&str> = map_info.split(',').map(str::trim).collect();
    let number = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (number(1), number(2), number(3), number(4), number(5), number(6)) {
        (Some(rx), Some(ry), Some(e), Some(n), Some(px), Some(py)) => Ok([e - (rx - 1.0) * px, px, 0.0, n + (ry - 1.0) * py, 0.0, -py]),
        _ => Err(Error::invalid(path, format!("cannot parse Map_Info {map_info:?}"))),
    }
}

impl CubeReader for Hdf5Cube {
    fn read_stored(&self, w: Window) -> Result<Array3<f32>> {
        let (r, c) = (w.row..w.row + w.rows, w.col..w.col + w.cols);
        let reader = self.dataset.as_reader().conversion(Conversion::Hard);
        let read = match self.band_axis {
            0 => reader.read_slice::<f32, _, Ix3>(s![.., r, c]).map(|a| a.permuted_axes([1, 2, 0])),
            1 => reader.read_slice::<f32, _, Ix3>(s![r, .., c]).map(|a| a.permuted_axes([0, 2, 1])),
            _ => reader.read_slice::<f32, _, Ix3>(s![r, c, ..]),
        };
        let array = read.map_err(Error::hdf5(&self.path, format!("read window {w:?}")))?;
        Ok(array.as_standard_layout().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_info_gives_the_corner_of_pixel_one() {
        let gt = parse_map_info(Path::new("x.h5"), "UTM, 1.000, 1.000, 368000.00, 4307000.0, 1.0, 1.0, 13, North, WGS-84, units=Meters, 0")
            .unwrap();
        assert_eq!(gt, [368000.0, 1.0, 0.0, 4307000.0, 0.0, -1.0]);
        let gt = parse_map_info(Path::new("x.h5"), "UTM, 2, 3, 100, 200, 10, 10").unwrap();
        assert_eq!(gt, [90.0, 10.0, 0.0, 220.0, 0.0, -10.0]);
        assert!(parse_map_info(Path::new("x.h5"), "nonsense").is_err());
    }
}
