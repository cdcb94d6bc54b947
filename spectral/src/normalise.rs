//! Per-band normalisation to the generator's Tanh range.

use ndarray::{ArrayView2, Axis};

/// Per-band affine map `normalised = (physical - offset) / scale`, fitted so that the
/// training spectra span [-1 / (1 + margin), 1 / (1 + margin)] in every band.
#[derive(Debug, Clone, PartialEq)]
pub struct Normaliser {
    /// Per-band offsets (physical units).
    pub offset: Vec<f64>,
    /// Per-band scales (physical units per normalised unit), never zero.
    pub scale: Vec<f64>,
}

impl Normaliser {
    /// Fits the map on `spectra` (`[n, bands]`, physical units): each band's mid-range
    /// becomes 0 and its half-range times `1 + margin` becomes 1, so that generated values
    /// have headroom beyond the training extremes. Constant bands get scale 1.
    pub fn fit(spectra: ArrayView2<'_, f32>, margin: f64) -> Self {
        let (mut offset, mut scale) = (Vec::new(), Vec::new());
        for band in spectra.axis_iter(Axis(1)) {
            let (lo, hi) =
                band.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(f64::from(v)), hi.max(f64::from(v))));
            let half = (hi - lo) / 2.0 * (1.0 + margin);
            offset.push((hi + lo) / 2.0);
            scale.push(if half > 0.0 && half.is_finite() { half } else { 1.0 });
        }
        Self { offset, scale }
    }

    /// Maps physical spectra (`[n, bands]`) to normalised values, in place.
    pub fn apply(&self, spectra: &mut ndarray::Array2<f32>) {
        for mut row in spectra.rows_mut() {
            for (b, v) in row.iter_mut().enumerate() {
                *v = ((f64::from(*v) - self.offset[b]) / self.scale[b]) as f32;
            }
        }
    }

    /// Maps normalised spectra back to physical units, in place.
    pub fn invert(&self, spectra: &mut ndarray::Array2<f32>) {
        for mut row in spectra.rows_mut() {
            for (b, v) in row.iter_mut().enumerate() {
                *v = (f64::from(*v) * self.scale[b] + self.offset[b]) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn fits_the_range_with_headroom_and_inverts() {
        let data = array![[0.0f32, 5.0, 2.0], [10.0, 5.0, 4.0]];
        let n = Normaliser::fit(data.view(), 0.25);
        assert_eq!(n.offset, vec![5.0, 5.0, 3.0]);
        assert_eq!(n.scale, vec![6.25, 1.0, 1.25]);
        let mut x = data.clone();
        n.apply(&mut x);
        assert_eq!(x[[0, 0]], -0.8);
        assert_eq!(x[[1, 0]], 0.8);
        n.invert(&mut x);
        assert!(x.iter().zip(data.iter()).all(|(a, b)| (a - b).abs() < 1e-6));
    }
}
