//! How close an image is to a reference image of the same scene: PSNR, SSIM and the mean
//! spectral angle, accumulated strip by strip so that whole scenes need not be in memory.
//!
//! Definitions follow scikit-image's `peak_signal_noise_ratio` and `structural_similarity`
//! (7 x 7 uniform window, sample covariances, K1 = 0.01, K2 = 0.03, the mean over windows
//! that lie wholly inside the image), applied band by band and averaged over bands.

use std::ops::Range;

use ndarray::{Array2, ArrayView2, ArrayView3, Axis};

use crate::spectral_angle_deg;

/// The side of SSIM's uniform window.
pub const SSIM_WINDOW: usize = 7;

/// PSNR, SSIM and mean spectral angle of an estimate against a reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageScores {
    /// 10 log10(data range² / mean squared error), over every band and pixel, in dB.
    pub psnr_db: f64,
    /// Mean structural similarity over bands and windows.
    pub ssim: f64,
    /// Mean angle between estimated and reference spectra over pixels, in degrees.
    pub sam_deg: f64,
}

/// Running sums behind [`ImageScores`]; feed it strips with [`ImageQuality::add`].
#[derive(Debug, Clone)]
pub struct ImageQuality {
    data_range: f64,
    squared_error: f64,
    values: u64,
    ssim: f64,
    windows: u64,
    angle: f64,
    pixels: u64,
}

impl ImageQuality {
    /// Empty sums for images whose values span `data_range` (the reference's maximum minus
    /// its minimum, in its units): PSNR's peak and SSIM's L.
    pub fn new(data_range: f64) -> Self {
        Self { data_range, squared_error: 0.0, values: 0, ssim: 0.0, windows: 0, angle: 0.0, pixels: 0 }
    }

    /// Adds a strip of `estimate` and `reference` (`[rows, cols, bands]`, NaN where a pixel
    /// has no data). The pixels of rows `counted` count, and the SSIM windows centred on
    /// them; the strip's other rows are context for those windows (give
    /// `SSIM_WINDOW / 2` rows on each side where the image has them).
    pub fn add(&mut self, estimate: ArrayView3<'_, f32>, reference: ArrayView3<'_, f32>, counted: Range<usize>) {
        let (rows, cols, bands) = reference.dim();
        debug_assert_eq!(estimate.dim(), reference.dim());
        for r in counted.clone() {
            for c in 0..cols {
                let (e, t) = (estimate.slice(ndarray::s![r, c, ..]), reference.slice(ndarray::s![r, c, ..]));
                if e.iter().chain(t.iter()).any(|v| v.is_nan()) {
                    continue;
                }
                self.squared_error += e.iter().zip(t.iter()).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum::<f64>();
                self.values += bands as u64;
                let (e, t) = (e.to_vec(), t.to_vec());
                self.angle += spectral_angle_deg(&e, &t);
                self.pixels += 1;
            }
        }
        let half = SSIM_WINDOW / 2;
        let centres = counted.start.max(half)..counted.end.min(rows.saturating_sub(half));
        for b in 0..bands {
            let (sum, n) = ssim_sum(estimate.index_axis(Axis(2), b), reference.index_axis(Axis(2), b), self.data_range, centres.clone());
            self.ssim += sum;
            self.windows += n;
        }
    }

    /// The scores so far (NaN where nothing was added).
    pub fn scores(&self) -> ImageScores {
        let mse = self.squared_error / self.values as f64;
        ImageScores {
            psnr_db: 10.0 * (self.data_range.powi(2) / mse).log10(),
            ssim: self.ssim / self.windows as f64,
            sam_deg: self.angle / self.pixels as f64,
        }
    }
}

/// Inclusive prefix sums of `f(x, y)` over a plane, with a zero first row and column.
fn integral(x: ArrayView2<'_, f32>, y: ArrayView2<'_, f32>, f: impl Fn(f64, f64) -> f64) -> Array2<f64> {
    let (rows, cols) = x.dim();
    let mut s = Array2::<f64>::zeros((rows + 1, cols + 1));
    for r in 0..rows {
        for c in 0..cols {
            s[[r + 1, c + 1]] = f(f64::from(x[[r, c]]), f64::from(y[[r, c]])) + s[[r, c + 1]] + s[[r + 1, c]] - s[[r, c]];
        }
    }
    s
}

/// The sum of SSIM over the windows of one band centred on rows `centres` (and every
/// column whose window fits), skipping windows with NaN; with their number.
fn ssim_sum(x: ArrayView2<'_, f32>, y: ArrayView2<'_, f32>, data_range: f64, centres: Range<usize>) -> (f64, u64) {
    let (_, cols) = x.dim();
    let (half, k) = (SSIM_WINDOW / 2, SSIM_WINDOW);
    if centres.is_empty() || cols < k {
        return (0.0, 0);
    }
    let missing = integral(x, y, |a, b| f64::from(u8::from(a.is_nan() || b.is_nan())));
    let clean = |v: f64| if v.is_nan() { 0.0 } else { v };
    let sums = [
        integral(x, y, |a, _| clean(a)),
        integral(x, y, |_, b| clean(b)),
        integral(x, y, |a, _| clean(a * a)),
        integral(x, y, |_, b| clean(b * b)),
        integral(x, y, |a, b| clean(a * b)),
    ];
    let window = |s: &Array2<f64>, r: usize, c: usize| s[[r + k, c + k]] - s[[r, c + k]] - s[[r + k, c]] + s[[r, c]];
    let n = (k * k) as f64;
    let (c1, c2) = ((0.01 * data_range).powi(2), (0.03 * data_range).powi(2));
    let (mut total, mut count) = (0.0, 0u64);
    for centre in centres {
        let r = centre - half;
        for c in 0..=cols - k {
            if window(&missing, r, c) > 0.5 {
                continue;
            }
            let [sx, sy, sxx, syy, sxy] = [0, 1, 2, 3, 4].map(|i| window(&sums[i], r, c));
            let (mx, my) = (sx / n, sy / n);
            let (vx, vy, cxy) = ((sxx - n * mx * mx) / (n - 1.0), (syy - n * my * my) / (n - 1.0), (sxy - n * mx * my) / (n - 1.0));
            total += ((2.0 * mx * my + c1) * (2.0 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
            count += 1;
        }
    }
    (total, count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    fn image(seed: u32) -> Array3<f32> {
        Array3::from_shape_fn((20, 15, 3), |(r, c, b)| (((r * 7 + c * 13 + b * 5 + seed as usize) % 17) as f32) * 10.0 + 100.0)
    }

    #[test]
    fn an_image_against_itself_is_perfect_and_noise_costs() {
        let reference = image(0);
        let mut same = ImageQuality::new(160.0);
        same.add(reference.view(), reference.view(), 0..20);
        let s = same.scores();
        assert!(s.psnr_db.is_infinite() && (s.ssim - 1.0).abs() < 1e-12 && s.sam_deg.abs() < 1e-3, "{s:?}");

        // A constant offset of 4: MSE 16, PSNR = 10 log10(160² / 16) = 32.04 dB.
        let shifted = reference.mapv(|v| v + 4.0);
        let mut q = ImageQuality::new(160.0);
        q.add(shifted.view(), reference.view(), 0..20);
        let s = q.scores();
        assert!((s.psnr_db - 32.0412).abs() < 1e-3, "{s:?}");
        assert!(s.ssim < 1.0 && s.ssim > 0.9 && s.sam_deg > 0.0, "{s:?}");
    }

    #[test]
    fn strips_with_context_add_up_to_the_whole_image() {
        let (estimate, reference) = (image(3), image(0));
        let mut whole = ImageQuality::new(160.0);
        whole.add(estimate.view(), reference.view(), 0..20);
        let mut strips = ImageQuality::new(160.0);
        for (start, end) in [(0usize, 6usize), (6, 13), (13, 20)] {
            let (lo, hi) = (start.saturating_sub(3), (end + 3).min(20));
            let part = |a: &Array3<f32>| a.slice(ndarray::s![lo..hi, .., ..]).to_owned();
            strips.add(part(&estimate).view(), part(&reference).view(), start - lo..end - lo);
        }
        let (a, b) = (whole.scores(), strips.scores());
        assert!((a.psnr_db - b.psnr_db).abs() < 1e-9 && (a.ssim - b.ssim).abs() < 1e-9 && (a.sam_deg - b.sam_deg).abs() < 1e-9);
        // 14 x 9 windows per band fit in 20 x 15.
        assert_eq!(whole.windows, 3 * 14 * 9);
    }
}
