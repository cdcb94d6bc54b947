//! What a scene states about itself beyond its bands: the scene-level metadata that the
//! products made from it carry (`convert`, `super-resolve`), and when it was taken (the
//! STAC Items' datetime).

use std::path::Path;

use gdal::Metadata;

/// Keys of GDAL's default domain that are not carried: what GDAL manages itself, and what
/// hypersynth writes per band (ENVI's `Band_N` descriptions, wavelengths, FWHM, bad bands).
const NOT_CARRIED: [&str; 6] = ["AREA_OR_POINT", "wavelength", "wavelength_units", "fwhm", "bbl", "band_names"];

/// Keys that state when a scene was taken, in the order they are trusted.
const DATETIME_KEYS: [&str; 4] = ["ACQUISITION_DATETIME", "start_time", "acquisition_time", "TIFFTAG_DATETIME"];

/// What the scene at a path states about itself, read once with [`SceneMetadata::read`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SceneMetadata {
    /// GDAL's default domain (e.g. EnMAP's `start_time`), less what GDAL manages itself
    /// (`AREA_OR_POINT`) and what hypersynth writes per band (ENVI's `Band_N`,
    /// `wavelength`, `wavelength_units`, `fwhm`, `bbl`, `band_names`); empty when GDAL cannot open the file (an HDF5 file read by
    /// hypersynth's own reader).
    pub items: Vec<(String, String)>,
    /// When the scene was taken, for the STAC Items of what is made from it: the
    /// acquisition time its metadata states (`ACQUISITION_DATETIME`, `start_time`,
    /// `acquisition_time` or `TIFFTAG_DATETIME`, TIFF's form turned into RFC 3339), else the file's modification time; `None` when neither can be read. A
    /// function of the input alone, so that a rerun writes the same Item.
    pub datetime: Option<String>,
}

impl SceneMetadata {
    /// Reads the scene at `path` (opening it once through GDAL).
    pub fn read(path: &Path) -> Self {
        let items = default_domain(path);
        let stated = DATETIME_KEYS.iter().find_map(|key| items.iter().find(|(k, _)| k == key)).map(|(_, value)| rfc3339_of(value));
        let datetime = stated.or_else(|| std::fs::metadata(path).and_then(|m| m.modified()).ok().map(crate::stac::rfc3339));
        Self { items, datetime }
    }
}

/// The carried items of GDAL's default domain of the raster at `path`.
fn default_domain(path: &Path) -> Vec<(String, String)> {
    let Ok(dataset) = gdal::Dataset::open(path) else { return Vec::new() };
    let per_band = |key: &str| key.strip_prefix("Band_").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let items = dataset.metadata_domain("").unwrap_or_default();
    items
        .iter()
        .filter_map(|item| item.split_once('='))
        .filter(|(key, _)| !NOT_CARRIED.contains(key) && !per_band(key))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// A stated time: TIFF's "YYYY:MM:DD HH:MM:SS" to RFC 3339; others are taken as they are.
fn rfc3339_of(value: &str) -> String {
    let value = value.trim();
    let b = value.as_bytes();
    if b.len() == 19 && b[4] == b':' && b[7] == b':' && b[10] == b' ' {
        return format!("{}-{}-{}T{}Z", &value[..4], &value[5..7], &value[8..10], &value[11..]);
    }
    value.to_string()
}
