//! Band tables: the centre wavelengths and FWHM of a cube's bands given in a CSV file, for
//! cubes that state none (`gdalbuildvrt` mosaics drop them; some sensors ship them apart).
//!
//! ```text
//! wavelength_nm,fwhm_nm,bbl
//! 418.24,6.99,1
//! 423.91,7.03,1
//! ...
//! ```
//!
//! One row per band, in band order. The wavelength column is the first whose name starts
//! with `wavelength` (`wavelength`, `wavelength_nm`, ...), the FWHM column (optional) the
//! first that starts with `fwhm`; values are nanometres. An optional `bbl` column (ENVI's
//! bad band list: 1 good, 0 bad) marks the bands to leave out.

use std::path::Path;

use crate::{CubeMeta, Error, Result};

/// A cube's band centres and, when the table has them, FWHM (nm).
#[derive(Debug, Clone, PartialEq)]
pub struct BandTable {
    /// Centre wavelengths, nm.
    pub wavelengths_nm: Vec<f64>,
    /// Full widths at half maximum, nm.
    pub fwhm_nm: Option<Vec<f64>>,
    /// Per band, whether it is good (the `bbl` column).
    pub good_bands: Option<Vec<bool>>,
}

/// Centres of the table and of the file may differ by this much (nm) and be the same band.
const SAME_BAND_NM: f64 = 0.5;

/// Reads the band table at `path`.
pub fn read_band_table(path: &Path) -> Result<BandTable> {
    crate::error::ensure_exists(path)?;
    let mut reader = csv::Reader::from_path(path).map_err(|e| Error::invalid(path, format!("not a readable CSV: {e}")))?;
    let headers = reader.headers().map_err(|e| Error::invalid(path, format!("no header row: {e}")))?.clone();
    let column = |prefix: &str| headers.iter().position(|h| h.trim().to_ascii_lowercase().starts_with(prefix));
    let Some(centre) = column("wavelength") else {
        return Err(Error::invalid(path, "no wavelength column (a header starting with \"wavelength\")"));
    };
    let width = column("fwhm");
    let bbl = column("bbl");
    let (mut wavelengths, mut fwhm, mut good) = (Vec::new(), Vec::new(), Vec::new());
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| Error::invalid(path, format!("row {}: {e}", i + 2)))?;
        let number = |c: usize, what: &str| -> Result<f64> {
            let text = row.get(c).unwrap_or("").trim();
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
                _ => Err(Error::invalid(path, format!("row {}: {what} {text:?} is not a positive number of nm", i + 2))),
            }
        };
        wavelengths.push(number(centre, "wavelength")?);
        if let Some(w) = width {
            fwhm.push(number(w, "fwhm")?);
        }
        if let Some(b) = bbl {
            good.push(match row.get(b).unwrap_or("").trim() {
                "1" => true,
                "0" => false,
                other => return Err(Error::invalid(path, format!("row {}: bbl {other:?} is neither 1 nor 0", i + 2))),
            });
        }
    }
    if wavelengths.is_empty() {
        return Err(Error::invalid(path, "no bands listed"));
    }
    Ok(BandTable { wavelengths_nm: wavelengths, fwhm_nm: width.map(|_| fwhm), good_bands: bbl.map(|_| good) })
}

/// Gives `meta` the bands of the table at `table`: it must list one row per band; a cube
/// that states its own wavelengths must agree with it (within 0.5 nm).
pub(crate) fn apply_band_table(meta: &mut CubeMeta, table: &Path) -> Result<()> {
    let bands = read_band_table(table)?;
    if bands.wavelengths_nm.len() != meta.bands {
        return Err(Error::invalid(
            table,
            format!("lists {} bands, but {} has {}", bands.wavelengths_nm.len(), meta.path.display(), meta.bands),
        ));
    }
    if let Some(stated) = &meta.wavelengths_nm
        && let Some((b, (file, listed))) =
            stated.iter().zip(&bands.wavelengths_nm).enumerate().find(|(_, (a, b))| (**a - **b).abs() > SAME_BAND_NM)
    {
        return Err(Error::invalid(table, format!("band {} is at {listed} nm, but {} states {file} nm", b + 1, meta.path.display())));
    }
    meta.wavelengths_nm = Some(bands.wavelengths_nm);
    if bands.fwhm_nm.is_some() {
        meta.fwhm_nm = bands.fwhm_nm;
    }
    if let Some(good) = bands.good_bands {
        meta.good_bands = good;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_centres_and_widths_and_refuses_bad_rows() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let good = write("bands.csv", "band,Wavelength_nm,fwhm_nm,bbl\n1,418.2,7.0,1\n2,423.9,7.1,0\n");
        assert_eq!(
            read_band_table(&good).unwrap(),
            BandTable { wavelengths_nm: vec![418.2, 423.9], fwhm_nm: Some(vec![7.0, 7.1]), good_bands: Some(vec![true, false]) }
        );
        let centres = write("centres.csv", "wavelength\n500\n");
        assert_eq!(read_band_table(&centres).unwrap().fwhm_nm, None);
        let bad = write("bad.csv", "wavelength,fwhm\n500,7\nx,7\n");
        let err = read_band_table(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.csv") && err.contains("row 3: wavelength \"x\""), "{err}");
        let none = write("none.csv", "centre,width\n500,7\n");
        assert!(read_band_table(&none).unwrap_err().to_string().contains("no wavelength column"));
    }
}
