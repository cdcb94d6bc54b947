//! Spectral libraries: labelled spectra without a scene, from ENVI `.sli` files with a
//! class table, or from CSV/Parquet tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::envi::EnviHeader;
use crate::labels::ClassInfo;
use crate::{Error, Result};

/// Labelled spectra: one row per spectrum.
#[derive(Debug, Clone)]
pub struct SpectralLibrary {
    /// The file the spectra came from.
    pub path: PathBuf,
    /// Spectrum names, one per row.
    pub names: Vec<String>,
    /// Band centres in nanometres, when known.
    pub wavelengths_nm: Option<Vec<f64>>,
    /// `[spectra, bands]`, in the library's own units (no scale applied unless the file
    /// states one).
    pub spectra: Array2<f32>,
    /// Class id per spectrum; 0 for spectra without a class.
    pub labels: Vec<u32>,
    /// The classes, sorted by id.
    pub classes: Vec<ClassInfo>,
}

impl SpectralLibrary {
    /// Spectrum counts per class id (0 excluded).
    pub fn counts(&self) -> BTreeMap<u32, usize> {
        crate::labels::class_counts(self.labels.iter().copied())
    }
}

/// Reads an ENVI spectral library (`.sli` with its `.hdr` beside it) and labels its spectra
/// from `class_table`, a CSV whose first column holds spectrum names and whose other
/// columns hold class names; `class_column` picks one (required when there are several).
/// A JSON file with the CSV's stem (EnMAP-Box style, `{column: {categories: [[id, name,
/// colour], ...]}}`) supplies class ids; otherwise ids are 1, 2, ... in name order.
pub fn read_envi_library(sli: &Path, class_table: Option<&Path>, class_column: Option<&str>) -> Result<SpectralLibrary> {
    crate::error::ensure_exists(sli)?;
    let hdr_path = header_path(sli)?;
    let header = EnviHeader::read(&hdr_path)?;
    if !header.get("file type").is_some_and(|t| t.to_ascii_lowercase().contains("spectral library")) {
        return Err(Error::invalid(&hdr_path, "not an ENVI spectral library (file type is not \"ENVI Spectral Library\")"));
    }
    let field = |key: &str| header.integer(key).ok_or_else(|| Error::invalid(&hdr_path, format!("missing or invalid {key:?}")));
    let (bands, count, data_type) = (field("samples")?, field("lines")?, field("data type")?);
    let offset = header.integer("header offset").unwrap_or(0);
    let big_endian = header.integer("byte order") == Some(1);
    let bytes = std::fs::read(sli).map_err(Error::io(sli, "read"))?;
    let values =
        decode(&bytes[offset.min(bytes.len())..], data_type, big_endian, bands * count).map_err(|problem| Error::invalid(sli, problem))?;
    let mut spectra = Array2::from_shape_vec((count, bands), values).map_err(|e| Error::invalid(sli, e.to_string()))?;
    if let Some(factor) = header.get("reflectance scale factor").and_then(|v| v.trim().parse::<f32>().ok()).filter(|f| *f != 0.0) {
        spectra.mapv_inplace(|v| v / factor);
    }
    let wavelengths_nm = match header.numbers("wavelength") {
        Some(w) if w.len() == bands => {
            let nm = crate::cube::nm_per_unit(header.get("wavelength units"), &w, &hdr_path)?;
            Some(w.iter().map(|v| v * nm).collect())
        }
        Some(w) => return Err(Error::invalid(&hdr_path, format!("{} wavelengths for {bands} bands", w.len()))),
        None => None,
    };
    let names = header.strings("spectra names").unwrap_or_else(|| (1..=count).map(|i| format!("spectrum_{i}")).collect());
    if names.len() != count {
        return Err(Error::invalid(&hdr_path, format!("{} spectra names for {count} spectra", names.len())));
    }
    let (labels, classes) = match class_table {
        Some(table) => label_by_name(&names, table, class_column)?,
        None => (vec![0; count], Vec::new()),
    };
    Ok(SpectralLibrary { path: sli.to_path_buf(), names, wavelengths_nm, spectra, labels, classes })
}

fn header_path(sli: &Path) -> Result<PathBuf> {
    let candidates = [sli.with_extension("hdr"), PathBuf::from(format!("{}.hdr", sli.display()))];
    candidates
        .into_iter()
        .find(|p| p.exists())
        .ok_or_else(|| Error::invalid(sli, "no ENVI header beside the library (looked for .hdr and .sli.hdr)"))
}

fn decode(bytes: &[u8], data_type: usize, big_endian: bool, n: usize) -> std::result::Result<Vec<f32>, String> {
    let size = match data_type {
        1 => 1,
        2 | 12 => 2,
        3 | 4 | 13 => 4,
        5 | 14 | 15 => 8,
        other => return Err(format!("ENVI data type {other} is not supported")),
    };
    if bytes.len() < n * size {
        return Err(format!("file holds {} bytes, the header promises {} (truncated?)", bytes.len(), n * size));
    }
    let word = |chunk: &[u8]| -> [u8; 8] {
        let mut w = [0u8; 8];
        w[..size].copy_from_slice(chunk);
        if big_endian {
            w[..size].reverse();
        }
        w
    };
    Ok(bytes[..n * size]
        .chunks_exact(size)
        .map(|c| {
            let w = word(c);
            match data_type {
                1 => f32::from(w[0]),
                2 => f32::from(i16::from_le_bytes([w[0], w[1]])),
                12 => f32::from(u16::from_le_bytes([w[0], w[1]])),
                3 => i32::from_le_bytes([w[0], w[1], w[2], w[3]]) as f32,
                13 => u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as f32,
                4 => f32::from_le_bytes([w[0], w[1], w[2], w[3]]),
                5 => f64::from_le_bytes(w) as f32,
                14 => i64::from_le_bytes(w) as f32,
                _ => u64::from_le_bytes(w) as f32,
            }
        })
        .collect())
}

/// Labels `names` from the class table at `table`.
fn label_by_name(names: &[String], table: &Path, column: Option<&str>) -> Result<(Vec<u32>, Vec<ClassInfo>)> {
    crate::error::ensure_exists(table)?;
    let mut reader = csv::Reader::from_path(table).map_err(|e| Error::invalid(table, e.to_string()))?;
    let headers: Vec<String> = reader.headers().map_err(|e| Error::invalid(table, e.to_string()))?.iter().map(str::to_string).collect();
    let candidates = &headers[1.min(headers.len())..];
    let index = match column {
        Some(c) => headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(c))
            .ok_or_else(|| Error::invalid(table, format!("no column {c:?}; columns are {}", headers.join(", "))))?,
        None if candidates.len() == 1 => 1,
        None => {
            return Err(Error::invalid(
                table,
                format!("several class columns ({}); choose one with --class-column", candidates.join(", ")),
            ));
        }
    };
    let mut rows: Vec<(String, String)> = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Error::invalid(table, format!("line {}: {e}", line + 2)))?;
        if let (Some(name), Some(class)) = (record.get(0), record.get(index)) {
            rows.push((name.trim().to_string(), class.trim().to_string()));
        }
    }
    let ids = class_ids(table, &headers[index], rows.iter().map(|(_, class)| class))?;
    let classes_in_order = match_rows(names, &rows, table)?;
    let labels: Vec<u32> = classes_in_order.iter().map(|class| ids.get(*class).copied().unwrap_or(0)).collect();
    let mut classes: Vec<ClassInfo> = ids.into_iter().map(|(name, id)| ClassInfo { id, name }).collect();
    classes.retain(|c| labels.contains(&c.id));
    classes.sort();
    Ok((labels, classes))
}

/// The class of each spectrum in `names`, from the table's `(name, class)` rows.
///
/// A table with one row per spectrum whose names agree row by row (at least 99 %) is read
/// by position, so that repeated names and the odd truncated header name (both occur in
/// real libraries) do no harm; each disagreeing name is logged. Any other table is keyed by
/// name, and a name listed twice with different classes is refused.
fn match_rows<'a>(names: &[String], rows: &'a [(String, String)], table: &Path) -> Result<Vec<&'a String>> {
    if rows.len() == names.len() {
        let differing: Vec<usize> = (0..names.len()).filter(|&i| names[i].trim() != rows[i].0).collect();
        if differing.len() * 100 <= names.len() {
            for &i in &differing {
                tracing::warn!(
                    "{}: row {} names {:?}, the library {:?}; matched by position",
                    table.display(),
                    i + 2,
                    rows[i].0,
                    names[i].trim()
                );
            }
            return Ok(rows.iter().map(|(_, class)| class).collect());
        }
    }
    let mut by_name: BTreeMap<&str, &String> = BTreeMap::new();
    for (name, class) in rows {
        if let Some(previous) = by_name.insert(name, class)
            && previous != class
        {
            return Err(Error::invalid(table, format!("spectrum {name:?} is listed with classes {previous:?} and {class:?}")));
        }
    }
    names
        .iter()
        .map(|name| {
            by_name.get(name.trim()).copied().ok_or_else(|| Error::invalid(table, format!("spectrum {name:?} is not in the class table")))
        })
        .collect()
}

/// Class name to id: from the EnMAP-Box JSON beside the table when it defines the column,
/// else 1, 2, ... in name order.
fn class_ids<'a>(table: &Path, column: &str, names: impl Iterator<Item = &'a String>) -> Result<BTreeMap<String, u32>> {
    let json_path = table.with_extension("json");
    if json_path.exists() {
        let text = std::fs::read_to_string(&json_path).map_err(Error::io(&json_path, "read"))?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::invalid(&json_path, e.to_string()))?;
        if let Some(categories) = json.get(column).and_then(|c| c.get("categories")).and_then(|c| c.as_array()) {
            let mut ids = BTreeMap::new();
            for entry in categories {
                match (entry.get(0).and_then(|v| v.as_u64()), entry.get(1).and_then(|v| v.as_str())) {
                    (Some(id), Some(name)) if id > 0 => {
                        ids.insert(name.to_string(), id as u32);
                    }
                    (Some(_), Some(_)) => {}
                    _ => return Err(Error::invalid(&json_path, format!("bad category entry {entry}"))),
                }
            }
            return Ok(ids);
        }
    }
    let mut unique: Vec<&String> = names.collect();
    unique.sort();
    unique.dedup();
    Ok(unique.into_iter().enumerate().map(|(i, n)| (n.clone(), i as u32 + 1)).collect())
}
