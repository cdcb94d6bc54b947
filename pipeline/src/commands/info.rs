//! `hypersynth info`: what a cube holds, as the file states it.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use hypersynth_data::{ClassRaster, Cube, CubeMeta, CubeSource};

/// A class raster to check against the cube and count.
#[derive(Debug, Clone)]
pub struct Labels {
    /// The class raster (0 = unlabelled).
    pub raster: PathBuf,
    /// Optional `class_id,name` CSV.
    pub names: Option<PathBuf>,
}

/// Prints the metadata of the cube at `source`, and the class counts of `labels`, as text
/// or JSON.
pub fn run(source: &CubeSource, labels: Option<&Labels>, json: bool) -> Result<()> {
    let cube = Cube::open_source(source)?;
    let labels = labels.map(|l| ClassRaster::read(&l.raster, cube.meta(), l.names.as_deref())).transpose()?;
    let counts: Vec<(u32, String, usize)> = labels
        .iter()
        .flat_map(|l| {
            let counts = l.counts();
            l.classes.iter().map(move |c| (c.id, c.name.clone(), counts.get(&c.id).copied().unwrap_or(0))).collect::<Vec<_>>()
        })
        .collect();
    if json {
        let mut value = serde_json::to_value(cube.meta())?;
        if labels.is_some() {
            value["classes"] = counts.iter().map(|(id, name, n)| serde_json::json!({"id": id, "name": name, "pixels": n})).collect();
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", describe(cube.meta()));
        for (id, name, n) in &counts {
            println!("class {id:>4}:   {n:>7} pixels  {name}");
        }
    }
    Ok(())
}

/// A human-readable summary of a cube's metadata.
pub fn describe(meta: &CubeMeta) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "file:         {}", meta.path.display());
    let _ = writeln!(s, "format:       {}", meta.format);
    let _ = writeln!(s, "size:         {} rows x {} cols x {} bands", meta.rows, meta.cols, meta.bands);
    let _ = writeln!(s, "data type:    {}", meta.dtype);
    match &meta.wavelengths_nm {
        Some(w) => {
            let _ = writeln!(s, "wavelengths:  {:.2} .. {:.2} nm", w[0], w[w.len() - 1]);
        }
        None => {
            let _ = writeln!(s, "wavelengths:  not stated in the file");
        }
    }
    if let Some(f) = &meta.fwhm_nm {
        let (lo, hi) = min_max(f);
        let _ = writeln!(s, "fwhm:         {lo:.2} .. {hi:.2} nm");
    }
    let _ = writeln!(s, "scale/offset: {}", scale_offset(meta));
    let _ = writeln!(s, "nodata:       {}", meta.nodata.map_or("none".to_string(), |v| v.to_string()));
    let bad: Vec<String> = meta.good_bands.iter().enumerate().filter(|(_, g)| !**g).map(|(i, _)| (i + 1).to_string()).collect();
    let _ =
        writeln!(s, "bad bands:    {}", if bad.is_empty() { "none".to_string() } else { format!("{} ({})", bad.len(), bad.join(", ")) });
    let _ = writeln!(s, "crs:          {}", crs_name(&meta.georef.crs_wkt));
    match meta.georef.geotransform {
        Some(gt) => {
            let _ = writeln!(s, "origin:       ({}, {})", gt[0], gt[3]);
            let _ = writeln!(s, "pixel size:   ({}, {})", gt[1], gt[5]);
        }
        None => {
            let _ = writeln!(s, "geotransform: none (pixel coordinates)");
        }
    }
    s
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

fn scale_offset(meta: &CubeMeta) -> String {
    let same = |v: &[f64]| v.iter().all(|&x| x == v[0]);
    if same(&meta.scale) && same(&meta.offset) {
        format!("{} / {} (physical = stored x scale + offset)", meta.scale[0], meta.offset[0])
    } else {
        let (lo, hi) = min_max(&meta.scale);
        format!("per band (scale {lo} .. {hi})")
    }
}

/// The CRS's own name from its WKT (the first quoted string), or "none".
fn crs_name(wkt: &str) -> String {
    if wkt.is_empty() {
        return "none".into();
    }
    wkt.split('"').nth(1).unwrap_or(wkt).to_string()
}
