//! Spectra tables (CSV or Parquet): one row per spectrum, a `class_id` column, optional
//! `class_name` and `name` columns, and one column per band whose name is the band's
//! wavelength in nanometres (e.g. `400.0`).

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::Array2;
use polars::prelude::*;

use crate::labels::ClassInfo;
use crate::library::SpectralLibrary;
use crate::{Error, Result};

/// The columns of a spectra table, read into plain vectors.
struct Columns {
    headers: Vec<String>,
    /// Column-major cell text: `text[column][row]`.
    text: Vec<Vec<String>>,
}

/// Reads a spectra table from a `.csv` or `.parquet` file.
pub fn read_spectra_table(path: &Path) -> Result<SpectralLibrary> {
    crate::error::ensure_exists(path)?;
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let columns = match ext.as_deref() {
        Some("csv") => read_csv(path)?,
        Some("parquet") | Some("pq") => read_parquet(path)?,
        _ => return Err(Error::invalid(path, "spectra tables must be .csv or .parquet")),
    };
    to_library(path, columns)
}

fn read_csv(path: &Path) -> Result<Columns> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| Error::invalid(path, e.to_string()))?;
    let headers: Vec<String> =
        reader.headers().map_err(|e| Error::invalid(path, e.to_string()))?.iter().map(|h| h.trim().to_string()).collect();
    let mut text = vec![Vec::new(); headers.len()];
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Error::invalid(path, format!("line {}: {e}", line + 2)))?;
        for (column, cell) in text.iter_mut().zip(record.iter()) {
            column.push(cell.trim().to_string());
        }
    }
    Ok(Columns { headers, text })
}

fn read_parquet(path: &Path) -> Result<Columns> {
    let file = std::fs::File::open(path).map_err(Error::io(path, "open"))?;
    let frame =
        ParquetReader::new(file).finish().map_err(|source| Error::Table { path: path.to_path_buf(), operation: "read Parquet", source })?;
    let mut headers = Vec::new();
    let mut text = Vec::new();
    for column in frame.columns() {
        let as_text =
            column.cast(&DataType::String).map_err(|source| Error::Table { path: path.to_path_buf(), operation: "read column", source })?;
        let strings = as_text.str().map_err(|source| Error::Table { path: path.to_path_buf(), operation: "read column", source })?;
        headers.push(column.name().to_string());
        text.push(strings.iter().map(|v| v.unwrap_or_default().to_string()).collect());
    }
    Ok(Columns { headers, text })
}

fn to_library(path: &Path, columns: Columns) -> Result<SpectralLibrary> {
    let find = |name: &str| columns.headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let id_column = find("class_id").ok_or_else(|| Error::invalid(path, "no class_id column"))?;
    let rows = columns.text[id_column].len();
    let band_columns: Vec<(usize, f64)> =
        columns.headers.iter().enumerate().filter_map(|(i, h)| h.parse::<f64>().ok().map(|w| (i, w))).collect();
    if band_columns.is_empty() {
        return Err(Error::invalid(path, "no band columns (columns named by wavelength in nm, e.g. \"400.0\")"));
    }
    let mut spectra = Array2::<f32>::zeros((rows, band_columns.len()));
    for (b, &(column, _)) in band_columns.iter().enumerate() {
        for (row, cell) in columns.text[column].iter().enumerate() {
            spectra[[row, b]] = cell.parse::<f32>().map_err(|_| {
                Error::invalid(path, format!("row {}, column {:?}: {cell:?} is not a number", row + 1, columns.headers[column]))
            })?;
        }
    }
    let mut labels = Vec::with_capacity(rows);
    for (row, cell) in columns.text[id_column].iter().enumerate() {
        let id = cell.parse::<f64>().ok().filter(|v| *v >= 0.0 && v.fract() == 0.0);
        labels.push(
            id.ok_or_else(|| Error::invalid(path, format!("row {}: class_id {cell:?} is not a non-negative integer", row + 1)))? as u32
        );
    }
    let mut names_by_id = BTreeMap::new();
    if let Some(c) = find("class_name") {
        for (id, name) in labels.iter().zip(&columns.text[c]) {
            names_by_id.entry(*id).or_insert_with(|| name.clone());
        }
    }
    let mut classes: Vec<ClassInfo> = labels
        .iter()
        .filter(|&&id| id != 0)
        .map(|&id| ClassInfo { id, name: names_by_id.get(&id).cloned().unwrap_or_else(|| format!("class_{id}")) })
        .collect();
    classes.sort();
    classes.dedup();
    let names = match find("name") {
        Some(c) => columns.text[c].clone(),
        None => (1..=rows).map(|i| format!("spectrum_{i}")).collect(),
    };
    Ok(SpectralLibrary {
        path: path.to_path_buf(),
        names,
        wavelengths_nm: Some(band_columns.iter().map(|&(_, w)| w).collect()),
        spectra,
        labels,
        classes,
    })
}
