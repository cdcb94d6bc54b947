//! STAC Items beside the Cloud-Optimized GeoTIFFs hypersynth writes, so that the tools that
//! catalogue scenes find them: `OUT.tif` gets `OUT.stac.json`, a STAC 1.1 Item with the
//! footprint and bounding box in WGS84, a datetime, the projection (`proj:`) and the bands
//! (`eo:bands` with `center_wavelength` and `full_width_half_max` in micrometres), and the
//! COG as its `data` asset.

use std::path::{Path, PathBuf};

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use serde_json::{Value, json};

use crate::{CubeMeta, Error, Result};

/// The STAC version of the Items.
const STAC_VERSION: &str = "1.1.0";
/// The extensions the Items use.
const EXTENSIONS: [&str; 2] =
    ["https://stac-extensions.github.io/projection/v2.0.0/schema.json", "https://stac-extensions.github.io/eo/v1.1.0/schema.json"];

/// The STAC Item's path beside a COG: `OUT.tif` gives `OUT.stac.json`.
pub fn stac_item_path(cog: &Path) -> PathBuf {
    cog.with_extension("stac.json")
}

/// The STAC Item of the COG at `cog` laid out as `meta`, dated `datetime` (RFC 3339; see
/// [`crate::SceneMetadata::datetime`]); without one, dated when it is written.
pub fn stac_item(cog: &Path, meta: &CubeMeta, datetime: Option<&str>) -> Result<Value> {
    let written = rfc3339(std::time::SystemTime::now());
    let id = cog.file_stem().map_or_else(|| "item".into(), |s| s.to_string_lossy().into_owned());
    let href = cog.file_name().map_or_else(String::new, |n| format!("./{}", n.to_string_lossy()));
    let mut properties = serde_json::Map::new();
    properties.insert("datetime".into(), json!(datetime.unwrap_or(&written)));
    properties.insert("proj:shape".into(), json!([meta.rows, meta.cols]));
    let (geometry, bbox) = match (&meta.georef.geotransform, meta.georef.crs_wkt.is_empty()) {
        (Some(gt), false) => {
            let srs = SpatialRef::from_wkt(&meta.georef.crs_wkt).map_err(Error::gdal(cog, "read the CRS"))?;
            match srs.auth_name().as_deref().zip(srs.auth_code().ok()) {
                Some(("EPSG", code)) => properties.insert("proj:code".into(), json!(format!("EPSG:{code}"))),
                _ => properties.insert("proj:wkt2".into(), json!(meta.georef.crs_wkt)),
            };
            properties.insert("proj:transform".into(), json!([gt[1], gt[2], gt[0], gt[4], gt[5], gt[3], 0.0, 0.0, 1.0]));
            let ring = footprint(cog, &srs, gt, meta.rows, meta.cols)?;
            let (lons, lats): (Vec<f64>, Vec<f64>) = ring.iter().copied().unzip();
            let bbox = [min(&lons), min(&lats), max(&lons), max(&lats)];
            (json!({"type": "Polygon", "coordinates": [ring.iter().map(|(x, y)| [*x, *y]).collect::<Vec<_>>()]}), json!(bbox))
        }
        _ => (Value::Null, Value::Null),
    };
    let bands: Vec<Value> = (0..meta.bands)
        .map(|b| {
            let mut band = serde_json::Map::new();
            let name = meta.band_names.as_ref().and_then(|n| n.get(b).cloned()).unwrap_or_else(|| format!("band_{}", b + 1));
            band.insert("name".into(), json!(name));
            if let Some(w) = meta.wavelengths_nm.as_ref().and_then(|w| w.get(b)) {
                band.insert("center_wavelength".into(), json!(w / 1000.0));
            }
            if let Some(f) = meta.fwhm_nm.as_ref().and_then(|f| f.get(b)) {
                band.insert("full_width_half_max".into(), json!(f / 1000.0));
            }
            Value::Object(band)
        })
        .collect();
    let mut item = json!({
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": EXTENSIONS,
        "id": id,
        "geometry": geometry,
        "properties": properties,
        "links": [],
        "assets": {
            "data": {
                "href": href,
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
                "eo:bands": bands,
            }
        },
    });
    if !bbox.is_null() {
        item["bbox"] = bbox;
    }
    Ok(item)
}

/// Writes the STAC Item of the COG at `cog` beside it (atomically); returns its path.
pub fn write_stac_item(cog: &Path, meta: &CubeMeta, datetime: Option<&str>) -> Result<PathBuf> {
    let item = stac_item(cog, meta, datetime)?;
    let text = serde_json::to_string_pretty(&item).map_err(|e| Error::invalid(cog, format!("STAC Item: {e}")))?;
    crate::write_atomically(&stac_item_path(cog), text.as_bytes())
}

/// The scene's outline in WGS84 longitude/latitude: its four corners and the first again.
fn footprint(cog: &Path, srs: &SpatialRef, gt: &[f64; 6], rows: usize, cols: usize) -> Result<Vec<(f64, f64)>> {
    let corners = [(0.0, 0.0), (cols as f64, 0.0), (cols as f64, rows as f64), (0.0, rows as f64), (0.0, 0.0)];
    let (mut xs, mut ys): (Vec<f64>, Vec<f64>) =
        corners.iter().map(|&(c, r)| (gt[0] + c * gt[1] + r * gt[2], gt[3] + c * gt[4] + r * gt[5])).unzip();
    let mut source = srs.clone();
    source.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let mut wgs84 = SpatialRef::from_epsg(4326).map_err(Error::gdal(cog, "make WGS84"))?;
    wgs84.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let transform = CoordTransform::new(&source, &wgs84).map_err(Error::gdal(cog, "transform the footprint to WGS84"))?;
    transform.transform_coords(&mut xs, &mut ys, &mut []).map_err(Error::gdal(cog, "transform the footprint to WGS84"))?;
    Ok(xs.into_iter().zip(ys).collect())
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// A time as RFC 3339 in UTC (`2026-12-01T17:30:00Z`).
pub(crate) fn rfc3339(time: std::time::SystemTime) -> String {
    let secs = time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}
