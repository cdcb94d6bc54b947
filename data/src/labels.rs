//! Class rasters aligned with a cube, and class-name tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::Serialize;

use crate::cube::CubeMeta;
use crate::{Error, Result};

/// A class: its integer id (as in the label raster) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct ClassInfo {
    /// The id; 0 means unlabelled in class rasters.
    pub id: u32,
    /// The human-readable name.
    pub name: String,
}

/// A class raster: one class id per pixel, 0 for unlabelled.
#[derive(Debug, Clone)]
pub struct ClassRaster {
    /// The file it was read from.
    pub path: PathBuf,
    /// `[rows, cols]` class ids.
    pub ids: Array2<u32>,
    /// The classes present, with names from the class table where one was given, else
    /// `class_<id>`.
    pub classes: Vec<ClassInfo>,
}

impl ClassRaster {
    /// Reads the class raster at `path`, checking that it is aligned with `cube` (same
    /// size and geotransform), with optional names from a `class_id,name` CSV.
    pub fn read(path: &Path, cube: &CubeMeta, names: Option<&Path>) -> Result<Self> {
        let dataset = crate::gdal::open_dataset(path)?;
        let (cols, rows) = dataset.raster_size();
        if (rows, cols) != (cube.rows, cube.cols) {
            return Err(Error::invalid(
                path,
                format!("labels are {rows} x {cols} pixels but the cube {} is {} x {}", cube.path.display(), cube.rows, cube.cols),
            ));
        }
        let georef = crate::gdal::georef(&dataset);
        if let (Some(a), Some(b)) = (georef.geotransform, cube.georef.geotransform)
            && a.iter().zip(b.iter()).any(|(x, y)| (x - y).abs() > 1e-6 * x.abs().max(y.abs()).max(1.0))
        {
            return Err(Error::invalid(path, format!("labels geotransform {a:?} differs from the cube's {b:?}")));
        }
        if dataset.raster_count() != 1 {
            return Err(Error::invalid(path, format!("a class raster has one band; this file has {}", dataset.raster_count())));
        }
        let band = dataset.rasterband(1).map_err(Error::gdal(path, "open band 1"))?;
        let mut values = vec![0f64; rows * cols];
        band.read_into_slice::<f64>((0, 0), (cols, rows), (cols, rows), &mut values, None)
            .map_err(|e| Error::invalid(path, format!("reading labels failed ({e})")))?;
        let nodata = band.no_data_value();
        let mut ids = Vec::with_capacity(values.len());
        for v in values {
            let id = if nodata == Some(v) || v.is_nan() { 0.0 } else { v };
            if id < 0.0 || id.fract() != 0.0 || id > f64::from(u32::MAX) {
                return Err(Error::invalid(path, format!("label value {v} is not a non-negative integer class id")));
            }
            ids.push(id as u32);
        }
        let ids = Array2::from_shape_vec((rows, cols), ids).map_err(|e| Error::invalid(path, e.to_string()))?;
        let table = names.map(read_class_names).transpose()?;
        let classes = present_classes(&ids, table.as_ref());
        if let (Some(table), Some(names)) = (&table, names) {
            let unnamed: Vec<String> = classes.iter().filter(|c| !table.contains_key(&c.id)).map(|c| c.id.to_string()).collect();
            if !unnamed.is_empty() {
                return Err(Error::invalid(
                    path,
                    format!("holds class id(s) {} that {} does not name; add them there", unnamed.join(", "), names.display()),
                ));
            }
        }
        Ok(Self { path: path.to_path_buf(), ids, classes })
    }

    /// Pixel counts per class id (0 excluded).
    pub fn counts(&self) -> BTreeMap<u32, usize> {
        class_counts(self.ids.iter().copied())
    }
}

/// How many times each class id occurs in `ids`, 0 (unlabelled) left out.
pub fn class_counts(ids: impl IntoIterator<Item = u32>) -> BTreeMap<u32, usize> {
    let mut counts = BTreeMap::new();
    for id in ids.into_iter().filter(|&id| id != 0) {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

fn present_classes(ids: &Array2<u32>, names: Option<&BTreeMap<u32, String>>) -> Vec<ClassInfo> {
    let mut present: Vec<u32> = ids.iter().copied().filter(|&id| id != 0).collect();
    present.sort_unstable();
    present.dedup();
    present
        .into_iter()
        .map(|id| ClassInfo { id, name: names.and_then(|n| n.get(&id).cloned()).unwrap_or_else(|| format!("class_{id}")) })
        .collect()
}

/// Reads a `class_id,name` CSV (with a header row); see [`parse_class_names`].
pub fn read_class_names(path: &Path) -> Result<BTreeMap<u32, String>> {
    crate::error::ensure_exists(path)?;
    let text = std::fs::read(path).map_err(Error::io(path, "read"))?;
    parse_class_names(&text).map_err(|problem| Error::invalid(path, problem))
}

/// Parses the text of a `class_id,name` CSV (with a header row): every id once, every
/// name non-empty, at least one class. A row for id 0 (unlabelled) is ignored.
pub fn parse_class_names(text: &[u8]) -> std::result::Result<BTreeMap<u32, String>, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text);
    let header = reader.headers().map_err(|e| format!("line 1: {e}"))?;
    if header.get(0).is_some_and(|v| v.trim().parse::<u32>().is_ok()) {
        return Err("line 1 is a class row; the file needs a header first (class_id,name)".into());
    }
    let mut names = BTreeMap::new();
    let mut lines = BTreeMap::new();
    for (row, record) in reader.records().enumerate() {
        let line = row + 2;
        let record = record.map_err(|e| format!("line {line}: {e}"))?;
        let id = record.get(0).and_then(|v| v.trim().parse::<u32>().ok());
        let name = record.get(1).map(str::trim).filter(|n| !n.is_empty());
        let (Some(id), Some(name), 2) = (id, name, record.len()) else {
            return Err(format!("line {line}: expected class_id,name (a whole number, then a name)"));
        };
        if let Some(first) = lines.insert(id, line) {
            return Err(format!("line {line}: class id {id} is listed twice (first on line {first})"));
        }
        if id != 0 {
            names.insert(id, name.to_string());
        }
    }
    if names.is_empty() {
        return Err("lists no classes (expected a header, then class_id,name rows)".into());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_tables_with_duplicates_gaps_or_no_rows_are_refused() {
        let ok = parse_class_names(b"class_id,name\n1,roof\n0,unlabelled\n5, soil \n").unwrap();
        assert_eq!(ok, BTreeMap::from([(1, "roof".to_string()), (5, "soil".to_string())]));
        for (text, problem) in [
            (&b"class_id,name\n1,roof\n1,tree\n"[..], "line 3: class id 1 is listed twice (first on line 2)"),
            (b"class_id,name\n", "lists no classes"),
            (b"", "lists no classes"),
            (b"class_id,name\nroof,1\n", "line 2: expected class_id,name"),
            (b"class_id,name\n2,\n", "line 2: expected class_id,name"),
            (b"class_id,name\n2,a,b\n", "line 2: expected class_id,name"),
            (b"1,roof\n2,tree\n", "needs a header"),
        ] {
            let err = parse_class_names(text).expect_err(problem);
            assert!(err.contains(problem), "{err:?} lacks {problem:?}");
        }
    }
}
