//! Writing spectra tables: Parquet (the format [`crate::read_spectra_table`] reads back)
//! and HDF5.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ndarray::{ArrayView2, s};
use polars::prelude::*;
use polars_arrow::io::ipc::write::{default_ipc_fields, schema_to_bytes};

use crate::atomic::AtomicPath;
use crate::transpose::transpose_into;
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
    /// Where each row was read, for real pixels of a cube; `None` for rows without a
    /// pixel (synthetic spectra, library or table rows).
    pub positions: Option<&'a [PixelPosition]>,
}

/// The pixel a real spectrum was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelPosition {
    /// The scene, numbered from 0 in the order the scenes were given.
    pub scene: u32,
    /// The pixel's row in its scene.
    pub row: u32,
    /// The pixel's column in its scene.
    pub col: u32,
}

/// The columns that say where a row's pixel is ([`PixelPosition`]), null for rows without
/// one, after `class_id`, `class_name` and `source`.
const POSITION_COLUMNS: [&str; 3] = ["scene", "row", "col"];

/// The name of a band column: its wavelength in nm, as short as it stays exact.
pub fn band_column(wavelength_nm: f64) -> String {
    let text = format!("{wavelength_nm}");
    if text.contains('.') { text } else { format!("{text}.0") }
}

/// The codec of a spectra table's Parquet pages (every Parquet reader reads all four).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TableCompression {
    /// Zstandard: the smallest files at close to the speed of the others (measured in
    /// docs/PERFORMANCE.md).
    #[default]
    Zstd,
    /// LZ4 (raw).
    Lz4,
    /// Snappy.
    Snappy,
    /// No compression.
    Uncompressed,
}

impl TableCompression {
    /// The names its `FromStr` takes, in order.
    pub const NAMES: [&'static str; 4] = ["zstd", "lz4", "snappy", "none"];

    /// Its name, as [`TableCompression::NAMES`] spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Zstd => Self::NAMES[0],
            Self::Lz4 => Self::NAMES[1],
            Self::Snappy => Self::NAMES[2],
            Self::Uncompressed => Self::NAMES[3],
        }
    }

    fn parquet(self) -> ParquetCompression {
        match self {
            Self::Zstd => ParquetCompression::Zstd(None),
            Self::Lz4 => ParquetCompression::Lz4Raw,
            Self::Snappy => ParquetCompression::Snappy,
            Self::Uncompressed => ParquetCompression::Uncompressed,
        }
    }
}

impl std::fmt::Display for TableCompression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Written and read as its name (job files, run records).
impl serde::Serialize for TableCompression {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for TableCompression {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for TableCompression {
    type Err = String;

    /// One of [`TableCompression::NAMES`].
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        [Self::Zstd, Self::Lz4, Self::Snappy, Self::Uncompressed]
            .into_iter()
            .find(|c| c.name() == text)
            .ok_or_else(|| format!("{text:?} is not a table compression; use one of {}", Self::NAMES.join(", ")))
    }
}

/// Rows per Parquet row group: large enough that 200-odd band columns compress well and
/// read fast, small enough that a row group of 200 bands stays near 50 MB in memory.
const ROW_GROUP_ROWS: usize = 65_536;

/// Writes `rows` as Parquet: `class_id`, `class_name`, `source`, `scene`, `row`, `col`
/// (null without a pixel), then one float32 column per band named by its wavelength; the
/// wavelengths and `extra` go into the file's
/// key-value metadata (`hypersynth.wavelengths_nm`, ...). Written atomically.
pub fn write_spectra_parquet(path: &Path, rows: SpectraRows<'_>, extra: &[(String, String)]) -> Result<PathBuf> {
    let mut writer = SpectraParquetWriter::create(path, rows.wavelengths_nm, extra, TableCompression::default())?;
    writer.write(rows)?;
    writer.finish()
}

/// A spectra table written to Parquet as the rows come, in the layout of
/// [`write_spectra_parquet`]: rows are gathered band by band into row groups, and each
/// full row group is encoded and compressed at once, so memory stays at one row group
/// whatever the number of rows. The file appears under its name only at
/// [`SpectraParquetWriter::finish`]; dropped before that, it leaves nothing.
pub struct SpectraParquetWriter {
    out: AtomicPath,
    writer: polars::io::parquet::write::BatchedWriter<BufWriter<File>>,
    band_names: Vec<PlSmallStr>,
    pending: PendingRows,
}

/// Rows waiting for their row group, column by column.
struct PendingRows {
    class_ids: Vec<u32>,
    class_names: StringChunkedBuilder,
    sources: StringChunkedBuilder,
    /// Per row its scene, row and column, if it has a pixel.
    positions: Vec<Option<PixelPosition>>,
    /// Band `b`'s values start at `b * ROW_GROUP_ROWS`.
    bands: Vec<f32>,
}

impl PendingRows {
    fn new(bands: usize) -> Self {
        Self {
            class_ids: Vec::with_capacity(ROW_GROUP_ROWS),
            class_names: StringChunkedBuilder::new("class_name".into(), ROW_GROUP_ROWS),
            sources: StringChunkedBuilder::new("source".into(), ROW_GROUP_ROWS),
            positions: Vec::with_capacity(ROW_GROUP_ROWS),
            bands: vec![0.0; bands * ROW_GROUP_ROWS],
        }
    }

    fn len(&self) -> usize {
        self.class_ids.len()
    }

    /// The pending rows as the table's columns, named `band_names` for the bands; leaves
    /// no rows pending.
    fn take_columns(&mut self, band_names: &[PlSmallStr]) -> Vec<Column> {
        let n = self.len();
        let mut columns = Vec::with_capacity(3 + POSITION_COLUMNS.len() + band_names.len());
        columns.push(Column::new("class_id".into(), std::mem::take(&mut self.class_ids)));
        let fresh = |name: &str| StringChunkedBuilder::new(name.into(), ROW_GROUP_ROWS);
        columns.push(std::mem::replace(&mut self.class_names, fresh("class_name")).finish().into_column());
        columns.push(std::mem::replace(&mut self.sources, fresh("source")).finish().into_column());
        let positions = std::mem::take(&mut self.positions);
        let parts: [fn(&PixelPosition) -> u32; 3] = [|p| p.scene, |p| p.row, |p| p.col];
        for (name, part) in POSITION_COLUMNS.into_iter().zip(parts) {
            let values: Vec<Option<u32>> = positions.iter().map(|p| p.as_ref().map(part)).collect();
            columns.push(UInt32Chunked::from_iter_options(name.into(), values.into_iter()).into_column());
        }
        for (b, name) in band_names.iter().enumerate() {
            let values = &self.bands[b * ROW_GROUP_ROWS..b * ROW_GROUP_ROWS + n];
            columns.push(Float32Chunked::from_slice(name.clone(), values).into_column());
        }
        columns
    }
}

/// What the values of a spectra table are, in its metadata.
const VALUES: &str = "one column per band, named by its centre wavelength in nm; values as read from the source (stored x scale + offset per band), in its units";
/// The schema metadata key pandas restores as `DataFrame.attrs` (a JSON object).
const PANDAS_ATTRS: &str = "PANDAS_ATTRS";
/// The key of the Arrow schema that Parquet readers (pyarrow, arrow-rs) restore.
const ARROW_SCHEMA: &str = "ARROW:schema";

/// The `ARROW:schema` value of a table of `schema` whose schema-level metadata is
/// `metadata`: the IPC schema message, length-prefixed and base64-encoded as the Arrow
/// Parquet writers store it. Polars writes one without metadata, and pyarrow then shows
/// none of the file's key-value pairs in `schema.metadata`; given this key, polars keeps it.
fn arrow_schema_with(schema: &Schema, metadata: &[(String, String)]) -> String {
    let arrow = schema.to_arrow(CompatLevel::newest());
    let custom: polars_arrow::datatypes::Metadata = metadata.iter().map(|(k, v)| (k.as_str().into(), v.as_str().into())).collect();
    let message = schema_to_bytes(&arrow, &default_ipc_fields(arrow.iter_values()), Some(&custom));
    let mut prefixed = Vec::with_capacity(message.len() + 8);
    prefixed.extend_from_slice(&[255, 255, 255, 255]);
    prefixed.extend_from_slice(&(message.len() as u32).to_le_bytes());
    prefixed.extend_from_slice(&message);
    base64::engine::general_purpose::STANDARD.encode(prefixed)
}

impl SpectraParquetWriter {
    /// Starts the table at `path` (under a temporary name) with one band column per
    /// wavelength, `extra` in the file's key-value metadata, its pages compressed with
    /// `compression`.
    pub fn create(path: &Path, wavelengths_nm: &[f64], extra: &[(String, String)], compression: TableCompression) -> Result<Self> {
        let band_names: Vec<PlSmallStr> = wavelengths_nm.iter().map(|&w| band_column(w).into()).collect();
        let mut schema = Schema::with_capacity(3 + POSITION_COLUMNS.len() + band_names.len());
        schema.insert("class_id".into(), DataType::UInt32);
        schema.insert("class_name".into(), DataType::String);
        schema.insert("source".into(), DataType::String);
        for name in POSITION_COLUMNS {
            schema.insert(name.into(), DataType::UInt32);
        }
        for name in &band_names {
            schema.insert(name.clone(), DataType::Float32);
        }
        let mut metadata = vec![
            ("hypersynth.wavelengths_nm".to_string(), format!("{wavelengths_nm:?}")),
            ("hypersynth.wavelength_units".to_string(), "nm".to_string()),
            ("hypersynth.values".to_string(), VALUES.to_string()),
        ];
        metadata.extend_from_slice(extra);
        let attrs: serde_json::Map<String, serde_json::Value> = metadata
            .iter()
            .map(|(k, v)| {
                (k.strip_prefix("hypersynth.").unwrap_or(k).to_string(), serde_json::from_str(v).unwrap_or_else(|_| v.clone().into()))
            })
            .collect();
        metadata.push((PANDAS_ATTRS.to_string(), serde_json::Value::Object(attrs).to_string()));
        metadata.push((ARROW_SCHEMA.to_string(), arrow_schema_with(&schema, &metadata)));
        let out = AtomicPath::new(path)?;
        let file = File::create(out.temp()).map_err(Error::io(out.temp(), "create"))?;
        let writer = ParquetWriter::new(BufWriter::with_capacity(1 << 20, file))
            .with_compression(compression.parquet())
            .with_key_value_metadata(Some(KeyValueMetadata::from_static(metadata)))
            .batched(&schema)
            .map_err(|source| Error::Table { path: path.to_path_buf(), operation: "start Parquet", source })?;
        Ok(Self { out, writer, pending: PendingRows::new(band_names.len()), band_names })
    }

    /// Appends `rows`, whose band count must be the table's.
    pub fn write(&mut self, rows: SpectraRows<'_>) -> Result<()> {
        if rows.spectra.ncols() != self.band_names.len() {
            let problem = format!("{} bands given to a table of {}", rows.spectra.ncols(), self.band_names.len());
            return Err(Error::invalid(self.out.target(), problem));
        }
        let bands = self.band_names.len();
        let mut first = 0;
        while first < rows.spectra.nrows() {
            let take = (ROW_GROUP_ROWS - self.pending.len()).min(rows.spectra.nrows() - first);
            let range = first..first + take;
            let spectra = rows.spectra.slice(s![range.clone(), ..]);
            let spectra = spectra.as_standard_layout();
            let values = spectra.as_slice().ok_or_else(|| Error::invalid(self.out.target(), "spectra are not contiguous"))?;
            let pending = self.pending.len();
            transpose_into(values, take, bands, &mut self.pending.bands, ROW_GROUP_ROWS, pending);
            self.pending.class_ids.extend_from_slice(&rows.class_ids[range.clone()]);
            rows.class_names[range.clone()].iter().for_each(|name| self.pending.class_names.append_value(name));
            rows.sources[range.clone()].iter().for_each(|source| self.pending.sources.append_value(source));
            match rows.positions {
                Some(positions) => self.pending.positions.extend(positions[range].iter().copied().map(Some)),
                None => self.pending.positions.extend(std::iter::repeat_n(None, take)),
            }
            first += take;
            if self.pending.len() == ROW_GROUP_ROWS {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Writes the last row group and the footer, and renames the file into place.
    pub fn finish(mut self) -> Result<PathBuf> {
        self.flush()?;
        // Writing the footer flushes the buffered file, so write errors surface here.
        let footer = self.writer.finish();
        let Self { out, writer, .. } = self;
        footer.map_err(|source| Error::Table { path: out.target().to_path_buf(), operation: "finish Parquet", source })?;
        drop(writer);
        out.commit()
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.len() == 0 {
            return Ok(());
        }
        let columns = self.pending.take_columns(&self.band_names);
        let path = self.out.target().to_path_buf();
        let frame = DataFrame::new_infer_height(columns).map_err(|source| Error::Table {
            path: path.clone(),
            operation: "build a row group",
            source,
        })?;
        self.writer.write_batch(&frame).map_err(|source| Error::Table { path, operation: "write Parquet", source })
    }
}

/// Writes `rows` as HDF5: datasets `spectra` `[n, bands]` float32, `class_id` `[n]`,
/// `class_name` and `source` (strings), `wavelengths_nm` `[bands]`, each with a
/// `description` attribute (`wavelengths_nm` also `units`); the file's attributes are a
/// `description` and `provenance` (key, value) pairs. Written atomically.
pub fn write_spectra_hdf5(path: &Path, rows: SpectraRows<'_>, provenance: &[(String, String)]) -> Result<PathBuf> {
    use hdf5::types::VarLenUnicode;
    let out = AtomicPath::new(path)?;
    let fail = |what: &str| {
        let operation = format!("write {what}");
        move |e: hdf5::Error| Error::Hdf5 { path: path.to_path_buf(), operation, source: e }
    };
    {
        let file = hdf5::File::create(out.temp()).map_err(fail("the file"))?;
        let text = |values: &[&str]| values.iter().map(|v| v.parse::<VarLenUnicode>().unwrap_or_default()).collect::<Vec<_>>();
        let describe = |location: &hdf5::Location, key: &str, value: &str| -> hdf5::Result<()> {
            let value: VarLenUnicode = value.parse().unwrap_or_default();
            location.new_attr::<VarLenUnicode>().create(key)?.write_scalar(&value)
        };
        let spectra =
            file.new_dataset_builder().with_data(&rows.spectra.as_standard_layout()).create("spectra").map_err(fail("spectra"))?;
        describe(&spectra, "description", "one spectrum per row, one band per column, in the units of the input cube's values")
            .map_err(fail("spectra attributes"))?;
        let ids = file.new_dataset_builder().with_data(rows.class_ids).create("class_id").map_err(fail("class_id"))?;
        describe(&ids, "description", "class id per row").map_err(fail("class_id attributes"))?;
        let wavelengths =
            file.new_dataset_builder().with_data(rows.wavelengths_nm).create("wavelengths_nm").map_err(fail("wavelengths_nm"))?;
        describe(&wavelengths, "description", "band centre per column").map_err(fail("wavelengths_nm attributes"))?;
        describe(&wavelengths, "units", "nm").map_err(fail("wavelengths_nm attributes"))?;
        let names = file.new_dataset_builder().with_data(&text(rows.class_names)).create("class_name").map_err(fail("class_name"))?;
        describe(&names, "description", "class name per row").map_err(fail("class_name attributes"))?;
        let sources = file.new_dataset_builder().with_data(&text(rows.sources)).create("source").map_err(fail("source"))?;
        describe(&sources, "description", "where each row came from: real or gan (synthetic)").map_err(fail("source attributes"))?;
        describe(&file, "description", "spectra written by hypersynth (docs/FORMATS.md)").map_err(fail("attributes"))?;
        for (key, value) in provenance {
            describe(&file, key, value).map_err(fail("attributes"))?;
        }
    }
    out.commit()
}
