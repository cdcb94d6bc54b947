//! Writing spectra tables: Parquet (the format [`crate::read_spectra_table`] reads back)
//! and HDF5.

use std::path::{Path, PathBuf};

use ndarray::ArrayView2;
use polars::prelude::*;

use crate::atomic::AtomicPath;
use crate::{Error, Result};

/// Rows of spectra to write: one class id, class name and source per row.
#[derive(Debug, Clone, Copy)]
pub struct SpectraRows<'a> {
    /// `[n, bands]`.
    pub spectra: ArrayView2<'a, f32>,
    /// Class id per row.
    pub class_ids: &'a [u32],
    /// Class name per row.
    pub class_names: &'a [&'a str],
    /// Where each row comes from (`real`, `gan`, ...).
    pub sources: &'a [&'a str],
    /// Band centres in nanometres, one per column.
    pub wavelengths_nm: &'a [f64],
}

/// The name of a band column: its wavelength in nm, as short as it stays exact.
pub fn band_column(wavelength_nm: f64) -> String {
    let text = format!("{wavelength_nm}");
    if text.contains('.') { text } else { format!("{text}.0") }
}

/// Writes `rows` as Parquet: `class_id`, `class_name`, `source`, then one float32 column
/// per band named by its wavelength; the wavelengths and `extra` go into the file's
/// key-value metadata (`hypersynth.wavelengths_nm`, ...). Written atomically.
pub fn write_spectra_parquet(path: &Path, rows: SpectraRows<'_>, extra: &[(String, String)]) -> Result<PathBuf> {
    let table_error = |operation: &'static str| move |source| Error::Table { path: path.to_path_buf(), operation, source };
    let mut columns = vec![
        Column::new("class_id".into(), rows.class_ids),
        Column::new("class_name".into(), rows.class_names),
        Column::new("source".into(), rows.sources),
    ];
    for (b, &w) in rows.wavelengths_nm.iter().enumerate() {
        columns.push(Column::new(band_column(w).into(), rows.spectra.column(b).to_vec()));
    }
    let mut frame = DataFrame::new_infer_height(columns).map_err(table_error("build the table"))?;
    let mut metadata = vec![("hypersynth.wavelengths_nm".to_string(), format!("{:?}", rows.wavelengths_nm))];
    metadata.extend_from_slice(extra);
    let out = AtomicPath::new(path)?;
    let file = std::fs::File::create(out.temp()).map_err(Error::io(out.temp(), "create"))?;
    ParquetWriter::new(file)
        .with_key_value_metadata(Some(KeyValueMetadata::from_static(metadata)))
        .finish(&mut frame)
        .map_err(table_error("write Parquet"))?;
    out.commit()
}

/// Writes `rows` as HDF5: datasets `spectra` `[n, bands]` float32, `class_id` `[n]`,
/// `class_name` and `source` (strings), `wavelengths_nm` `[bands]`. Written atomically.
pub fn write_spectra_hdf5(path: &Path, rows: SpectraRows<'_>) -> Result<PathBuf> {
    use hdf5::types::VarLenUnicode;
    let out = AtomicPath::new(path)?;
    let fail = |what: &str| {
        let operation = format!("write {what}");
        move |e: hdf5::Error| Error::Hdf5 { path: path.to_path_buf(), operation, source: e }
    };
    {
        let file = hdf5::File::create(out.temp()).map_err(fail("the file"))?;
        file.new_dataset_builder().with_data(&rows.spectra.as_standard_layout()).create("spectra").map_err(fail("spectra"))?;
        file.new_dataset_builder().with_data(rows.class_ids).create("class_id").map_err(fail("class_id"))?;
        file.new_dataset_builder().with_data(rows.wavelengths_nm).create("wavelengths_nm").map_err(fail("wavelengths_nm"))?;
        let text = |values: &[&str]| values.iter().map(|v| v.parse::<VarLenUnicode>().unwrap_or_default()).collect::<Vec<_>>();
        file.new_dataset_builder().with_data(&text(rows.class_names)).create("class_name").map_err(fail("class_name"))?;
        file.new_dataset_builder().with_data(&text(rows.sources)).create("source").map_err(fail("source"))?;
    }
    out.commit()
}
