//! `train cyclegan --psf-offset auto`: where the low-res pixels are centred, measured where a
//! low-res scene (domain A) and a high-res scene (domain B) cover the same ground on aligned
//! grids.
//!
//! Each candidate offset resamples the low-res scene to the high-res grid as training and
//! `super-resolve` do (cubic convolution, each low-res value placed at the offset from its
//! block's centre) and compares it with the high-res scene over their common pixels; the
//! offset where they correlate best, band by band, wins. A point-spread function symmetric
//! about its centre blurs the low-res scene without moving it, so the resampled scene lines
//! up with the high-res one best where that centre is. Unpaired scenes that
//! share no ground cannot tell the offset (docs/SUPER_RESOLUTION.md), so `auto` then refuses
//! rather than guesses.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use hypersynth_data::{Block, Cube, CubeMeta, Resampling, Window};
use serde::Serialize;

/// Candidate offsets are multiples of this, in high-res pixels.
const STEP: f64 = 0.25;
/// The compared area is at most this many high-res pixels on a side (the overlap's centre).
const MAX_SIDE: usize = 256;
/// The compared area needs at least this many high-res pixels on a side.
const MIN_SIDE: usize = 16;
/// High-res pixels left out along each side of the low-res scene's extent, where cubic
/// convolution runs out of low-res neighbours, per unit of scale.
const EDGE_PER_SCALE: usize = 2;

/// A measured offset and what it was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct PsfEstimate {
    /// (rows, columns) in high-res pixels from the low-res block's centre.
    pub offset: [f64; 2],
    /// The low-res scene compared.
    pub low_res: PathBuf,
    /// The high-res scene compared.
    pub high_res: PathBuf,
    /// The compared pixels, in the high-res scene.
    pub window: Window,
    /// One minus the mean correlation over bands of the resampled low-res scene with the
    /// high-res one, at the offset found.
    pub mismatch: f64,
    /// The same with the low-res pixels centred on their blocks (offset 0, 0).
    pub centred_mismatch: f64,
}

/// Measures the offset on the first pair of a domain-A scene and a domain-B scene that share
/// at least [`MIN_SIDE`] x [`MIN_SIDE`] high-res pixels of ground on aligned grids (domain B
/// as opened scenes); refuses when no pair does, saying why for each.
pub fn estimate(domain_a: &[PathBuf], domain_b: &[Cube], scale: usize) -> Result<PsfEstimate> {
    let mut reasons = Vec::new();
    for low in domain_a {
        let low_meta = Cube::open(low)?.meta().clone();
        for high in domain_b {
            match common_pixels(&low_meta, high.meta(), scale) {
                Ok((on_low, on_high)) => return measure(&low_meta, high, scale, on_low, on_high),
                Err(why) => reasons.push(format!("{} and {}: {why}", low.display(), high.meta().path.display())),
            }
        }
    }
    bail!(
        "--psf-offset auto needs a low-res scene (--domain-a) and a high-res scene (--domain-b) that cover the same ground on aligned grids, \
         and none do ({}); scenes without common ground cannot tell where the low-res pixels are centred: give --psf-offset ROWS,COLS \
         (docs/SUPER_RESOLUTION.md says how to measure it)",
        reasons.join("; ")
    )
}

/// The pixels both scenes cover, as a window of the low-res scene resampled by `scale` and
/// the same ground as a window of the high-res scene; why not when they share none.
fn common_pixels(low: &CubeMeta, high: &CubeMeta, scale: usize) -> std::result::Result<(Window, Window), String> {
    let (Some(gl), Some(gh)) = (low.georef.geotransform, high.georef.geotransform) else {
        return Err("one has no geotransform".into());
    };
    if low.georef.crs_wkt != high.georef.crs_wkt {
        return Err("their coordinate reference systems differ".into());
    }
    if [gl[2], gl[4], gh[2], gh[4]].iter().any(|&t| t != 0.0) {
        return Err("a rotated geotransform".into());
    }
    let s = scale as f64;
    let (dx, dy) = (gl[1] / s, gl[5] / s);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs();
    if !close(gh[1], dx) || !close(gh[5], dy) {
        return Err(format!("the high-res pixels are {} x {}, not the low-res pixels / {scale}", gh[1], gh[5]));
    }
    // The high-res scene's origin in pixels of the resampled low-res grid.
    let (col, row) = ((gh[0] - gl[0]) / dx, (gh[3] - gl[3]) / dy);
    if (col - col.round()).abs() > 1e-3 || (row - row.round()).abs() > 1e-3 {
        return Err("their grids are not aligned (the high-res origin falls between resampled low-res pixels)".into());
    }
    let edge = EDGE_PER_SCALE * scale;
    let span = |start: f64, high_len: usize, low_len: usize| -> Option<(usize, usize)> {
        let first = (start.round() as i64).max(edge as i64);
        let end = (start.round() as i64 + high_len as i64).min((low_len * scale) as i64 - edge as i64);
        let len = end - first;
        (len >= MIN_SIDE as i64).then(|| {
            let len = len as usize;
            let kept = len.min(MAX_SIDE);
            (first as usize + (len - kept) / 2, kept)
        })
    };
    let (Some((low_row, rows)), Some((low_col, cols))) = (span(row, high.rows, low.rows), span(col, high.cols, low.cols)) else {
        return Err(format!("they share fewer than {MIN_SIDE} x {MIN_SIDE} high-res pixels away from the low-res scene's edges"));
    };
    let on_low = Window { row: low_row, col: low_col, rows, cols };
    let on_high =
        Window { row: (low_row as i64 - row.round() as i64) as usize, col: (low_col as i64 - col.round() as i64) as usize, rows, cols };
    Ok((on_low, on_high))
}

/// Searches the offsets within the low-res block on a grid of 2 x [`STEP`], then the
/// neighbours of the best on the grid of [`STEP`].
fn measure(low_meta: &CubeMeta, high: &Cube, scale: usize, on_low: Window, on_high: Window) -> Result<PsfEstimate> {
    let (low, high_path) = (low_meta.path.as_path(), high.meta().path.as_path());
    let truth = high.read(on_high)?;
    let bands: Vec<usize> =
        (0..truth.data.dim().2).filter(|&b| high.meta().good_bands[b] && low_meta.good_bands.get(b) == Some(&true)).collect();
    let half_steps = (scale as f64 / 2.0 / STEP).round() as i64;
    let mut scores: BTreeMap<(i64, i64), f64> = BTreeMap::new();
    let mut score = |at: (i64, i64)| -> Result<f64> {
        if let Some(&s) = scores.get(&at) {
            return Ok(s);
        }
        let offset = [at.0 as f64 * STEP, at.1 as f64 * STEP];
        let resampled = Cube::open_resampled(low, &Resampling::cubic(scale).with_psf_offset(offset))?.read(on_low)?;
        let mismatch = mismatch(&resampled, &truth, &bands)
            .with_context(|| format!("{} and {}: no pixel has data in both where they overlap", low.display(), high_path.display()))?;
        tracing::debug!(rows = offset[0], cols = offset[1], mismatch, "psf offset candidate");
        scores.insert(at, mismatch);
        Ok(mismatch)
    };
    let centred = score((0, 0))?;
    let mut best = ((0i64, 0i64), centred);
    // Every second candidate first, then the neighbours of the best of those.
    let coarse: Vec<i64> = (-half_steps..=half_steps).filter(|k| k % 2 == 0).collect();
    let mut consider = |at: (i64, i64), best: &mut ((i64, i64), f64)| -> Result<()> {
        let s = score(at)?;
        // Ties go to the offset nearer the block's centre.
        let nearer = at.0.abs() + at.1.abs() < best.0.0.abs() + best.0.1.abs();
        if s < best.1 || (s == best.1 && nearer) {
            *best = (at, s);
        }
        Ok(())
    };
    for &r in &coarse {
        for &c in &coarse {
            consider((r, c), &mut best)?;
        }
    }
    let ((r, c), _) = best;
    for at in (r - 1..=r + 1).flat_map(|r| (c - 1..=c + 1).map(move |c| (r, c))) {
        if at.0.abs() <= half_steps && at.1.abs() <= half_steps {
            consider(at, &mut best)?;
        }
    }
    let ((r, c), mismatch) = best;
    Ok(PsfEstimate {
        offset: [r as f64 * STEP, c as f64 * STEP],
        low_res: low.to_path_buf(),
        high_res: high_path.to_path_buf(),
        window: on_high,
        mismatch,
        centred_mismatch: centred,
    })
}

/// One minus the mean over `bands` of the correlation between `estimate` and `truth` over
/// the pixels valid in both; `None` when none is. Correlation, not squared difference, so
/// that a gain or an offset between the two sensors' values does not count as misfit
/// (docs/SUPER_RESOLUTION.md).
fn mismatch(estimate: &Block, truth: &Block, bands: &[usize]) -> Option<f64> {
    let mut sums = vec![[0.0f64; 5]; bands.len()];
    let mut count = 0usize;
    let pixels = estimate.data.rows().into_iter().zip(truth.data.rows()).zip(estimate.valid.iter().zip(&truth.valid));
    for ((e, t), _) in pixels.filter(|(_, (a, b))| **a && **b) {
        count += 1;
        for (s, &b) in sums.iter_mut().zip(bands) {
            let (e, t) = (f64::from(e[b]), f64::from(t[b]));
            *s = [s[0] + e, s[1] + t, s[2] + e * e, s[3] + t * t, s[4] + e * t];
        }
    }
    (count > 0 && !bands.is_empty()).then(|| {
        let n = count as f64;
        let correlation = |s: &[f64; 5]| {
            let cov = s[4] - s[0] * s[1] / n;
            let var = (s[2] - s[0] * s[0] / n) * (s[3] - s[1] * s[1] / n);
            if var > 0.0 { cov / var.sqrt() } else { 0.0 }
        };
        1.0 - sums.iter().map(correlation).sum::<f64>() / bands.len() as f64
    })
}
