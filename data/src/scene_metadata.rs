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

/// The scene-level metadata of the raster at `path` (GDAL's default domain, e.g. EnMAP's
/// `start_time`), less the keys in [`NOT_CARRIED`] and ENVI's `Band_N`; empty when GDAL
/// cannot open it (an HDF5 file read by hypersynth's own reader).
pub fn scene_metadata(path: &Path) -> Vec<(String, String)> {
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

/// When the scene at `path` was taken, for the STAC Items of what is made from it: the
/// acquisition time its metadata states ([`DATETIME_KEYS`]), else the file's modification
/// time; `None` when neither can be read. A function of the input alone, so that a rerun
/// writes the same Item.
pub fn source_datetime(path: &Path) -> Option<String> {
    let stated = scene_metadata(path);
    for key in DATETIME_KEYS {
        if let Some((_, value)) = stated.iter().find(|(k, _)| k == key) {
            let value = value.trim();
            // TIFF's "YYYY:MM:DD HH:MM:SS" to RFC 3339; others are taken as they are.
            let b = value.as_bytes();
            if b.len() == 19 && b[4] == b':' && b[7] == b':' && b[10] == b' ' {
                return Some(format!("{}-{}-{}T{}Z", &value[..4], &value[5..7], &value[8..10], &value[11..]));
            }
            return Some(value.to_string());
        }
    }
    std::fs::metadata(path).and_then(|m| m.modified()).ok().map(crate::stac::rfc3339)
}
