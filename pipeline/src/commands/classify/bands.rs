//! Which bands of a scene a classifier takes: matched to its training bands by wavelength.

use anyhow::{Result, bail};
use hypersynth_data::CubeMeta;

use crate::labelled::WAVELENGTH_TOLERANCE_NM;

/// For each of `wanted` (training wavelengths, nm), the scene band (0-based) of the same
/// wavelength; refused when the scene states no wavelengths or lacks one of them.
pub fn match_bands(scene: &CubeMeta, wanted: &[f64]) -> Result<Vec<usize>> {
    let path = scene.path.display();
    let Some(have) = &scene.wavelengths_nm else {
        bail!("{path}: the scene states no wavelengths, so its bands cannot be matched to the classifier's; give --scene-wavelengths");
    };
    let mut bands = Vec::with_capacity(wanted.len());
    let mut missing = Vec::new();
    for &w in wanted {
        // A good band first, should the scene list a wavelength twice.
        let same = |b: &usize| (have[*b] - w).abs() <= WAVELENGTH_TOLERANCE_NM;
        match (0..have.len()).filter(same).max_by_key(|&b| scene.good_bands[b]) {
            Some(b) => bands.push(b),
            None => missing.push(w),
        }
    }
    if missing.len() == wanted.len() {
        bail!(
            "{path}: no band in common with the classifier ({} bands, {:.2}..{:.2} nm; the scene's {:.2}..{:.2} nm)",
            wanted.len(),
            wanted.first().copied().unwrap_or(f64::NAN),
            wanted.last().copied().unwrap_or(f64::NAN),
            have.first().copied().unwrap_or(f64::NAN),
            have.last().copied().unwrap_or(f64::NAN)
        );
    }
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().take(5).map(|w| format!("{w:.2}")).collect();
        bail!(
            "{path}: lacks {} of the classifier's {} bands (first: {} nm); the classifier needs every band it was fitted on",
            missing.len(),
            wanted.len(),
            list.join(", ")
        );
    }
    Ok(bands)
}
