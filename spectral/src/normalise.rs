//! The affine map between physical spectra and the generator's Tanh range, and the
//! spread of what that map leaves out.

use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::Result;
use crate::pca::principal_axes;

/// How the normalised space is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One normalised value per band: each band's range mapped to (-1, 1).
    PerBand,
    /// One normalised value per leading principal component of the bands (this many),
    /// each component's range mapped to (-1, 1). Spectra are strongly correlated across
    /// bands: in this basis every independent direction of variation spans the same
    /// range, however small it is in physical units, so the discriminator sees
    /// deviations that a per-band layout hides. The components left out are the
    /// residual (see [`Normaliser::residual_spread`]).
    PrincipalComponents(usize),
}

impl Layout {
    /// 12 principal components: on SalinasA, with the residual noise added, generators of
    /// the leading 12 and 32 were told from real spectra about equally well (random-forest
    /// C2ST 0.67-0.79 and 0.66-0.83 per class), and fewer outputs train faster.
    pub const DEFAULT: Layout = Layout::PrincipalComponents(12);
}

impl Default for Layout {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// `physical = normalised · basis + offset`, with `basis` `[dims, bands]`, and its inverse
/// `normalised = (physical - offset) · inverse`.
#[derive(Debug, Clone, PartialEq)]
pub struct Normaliser {
    /// The layout it was fitted with.
    pub layout: Layout,
    /// `[dims, bands]`: the physical spectrum of each unit normalised direction.
    pub basis: Array2<f64>,
    /// `[bands]`: the physical spectrum at the normalised origin.
    pub offset: Array1<f64>,
    /// `[bands, dims]`: maps physical deviations from `offset` to normalised values.
    pub inverse: Array2<f64>,
    /// `[residual dims, bands]`: orthonormal axes the normalised space leaves out (the
    /// trailing principal components; none for [`Layout::PerBand`]).
    pub residual_axes: Array2<f64>,
}

impl Normaliser {
    /// Fits the map on `spectra` (`[n, bands]`, physical units) so that they span
    /// [-1 / (1 + margin), 1 / (1 + margin)] in every normalised dimension, leaving
    /// generated values headroom beyond the training extremes. Constant directions (a
    /// range below 1e-9 of the widest, i.e. rounding) get scale 1.
    pub fn fit(spectra: ArrayView2<'_, f32>, layout: Layout, margin: f64) -> Result<Self> {
        let x = spectra.mapv(f64::from);
        let bands = x.ncols();
        let (centre, rotation, residual_axes) = match layout {
            Layout::PerBand => (Array1::zeros(bands), Array2::eye(bands), Array2::zeros((0, bands))),
            Layout::PrincipalComponents(kept) => {
                let (centre, axes) = principal_axes(&x, bands)?;
                let kept = kept.clamp(1, bands);
                (centre, axes.slice(ndarray::s![.., ..kept]).to_owned(), axes.slice(ndarray::s![.., kept..]).t().to_owned())
            }
        };
        // Coordinates along the rotation's axes, then each axis's range to (-1, 1).
        let coordinates = (&x - &centre).dot(&rotation);
        let dims = rotation.ncols();
        let ranges: Vec<(f64, f64)> = coordinates
            .axis_iter(Axis(1))
            .map(|axis| axis.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v))))
            .collect();
        let widest = ranges.iter().map(|(lo, hi)| hi - lo).filter(|w| w.is_finite()).fold(0.0, f64::max);
        let (mut mid, mut half) = (Array1::zeros(dims), Array1::ones(dims));
        for (k, &(lo, hi)) in ranges.iter().enumerate() {
            if lo.is_finite() && hi.is_finite() {
                mid[k] = (hi + lo) / 2.0;
            }
            if hi - lo > 1e-9 * widest {
                half[k] = (hi - lo) / 2.0 * (1.0 + margin);
            }
        }
        // physical = (normalised * half + mid) · rotationᵀ + centre.
        let basis = &rotation.t() * &half.view().insert_axis(Axis(1));
        let offset = mid.dot(&rotation.t()) + &centre;
        let inverse = &rotation / &half.view().insert_axis(Axis(0));
        Ok(Self { layout, basis, offset, inverse, residual_axes })
    }

    /// The same normalised directions on one common scale: the widest one's range still
    /// maps to (-1, 1), the others in proportion, so that distances in the normalised space
    /// are physical distances. For image models, whose pixel losses and discriminators
    /// should weigh each direction as much as it weighs in the image rather than inflate
    /// the noise of faint principal components.
    pub fn to_common_scale(mut self) -> Self {
        // Row k of the basis is direction k's unit vector times its half-range.
        let half: Vec<f64> = self.basis.rows().into_iter().map(|r| r.dot(&r).sqrt()).collect();
        let common = half.iter().copied().fold(0.0, f64::max);
        for (k, &h) in half.iter().enumerate() {
            if h > 0.0 {
                self.basis.row_mut(k).mapv_inplace(|v| v * common / h);
                self.inverse.column_mut(k).mapv_inplace(|v| v * h / common);
            }
        }
        self
    }

    /// Maps physical spectra (`[n, bands]`) to normalised values.
    pub fn apply(&self, spectra: ArrayView2<'_, f32>) -> Array2<f32> {
        (&spectra.mapv(f64::from) - &self.offset).dot(&self.inverse).mapv(|v| v as f32)
    }

    /// Maps normalised values back to physical spectra.
    pub fn invert(&self, normalised: ArrayView2<'_, f32>) -> Array2<f32> {
        (normalised.mapv(f64::from).dot(&self.basis) + &self.offset).mapv(|v| v as f32)
    }

    /// `[classes, residual dims]`: the standard deviation of each class's `spectra` along
    /// each residual axis (0 for classes with fewer than 2 rows). A generator of the
    /// normalised values plus Gaussian noise of this spread along the residual axes
    /// gives spectra with the fine, mostly sensor-noise variation that the leading
    /// components leave out.
    pub fn residual_spread(&self, spectra: ArrayView2<'_, f32>, classes: &[u32], n_classes: usize) -> Array2<f64> {
        let coordinates = (&spectra.mapv(f64::from) - &self.offset).dot(&self.residual_axes.t());
        let mut spread = Array2::zeros((n_classes, self.residual_axes.nrows()));
        for (class, mut row) in spread.rows_mut().into_iter().enumerate() {
            let rows: Vec<usize> = (0..classes.len()).filter(|&i| classes[i] as usize == class).collect();
            if rows.len() >= 2 {
                row.assign(&coordinates.select(Axis(0), &rows).std_axis(Axis(0), 1.0));
            }
        }
        spread
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn a_common_scale_keeps_the_map_and_physical_proportions() {
        let data = array![[0.0f32, 0.0, 0.0], [10.0, 10.0, 1.0], [20.0, 20.0, -1.0], [5.0, 5.0, 0.5]];
        let n = Normaliser::fit(data.view(), Layout::PrincipalComponents(2), 0.0).unwrap().to_common_scale();
        let back = n.invert(n.apply(data.view()).view());
        assert!((&back - &data).iter().all(|d| d.abs() < 1e-4), "{back:?}");
        // The first direction spans (-1, 1); the second, about 1/14 of it physically, a
        // fourteenth of that.
        let z = n.apply(data.view());
        let span = |k: usize| z.column(k).fold(f32::NEG_INFINITY, |a, &b| a.max(b)) - z.column(k).fold(f32::INFINITY, |a, &b| a.min(b));
        assert!((span(0) - 2.0).abs() < 1e-5 && span(1) < 0.2, "{} {}", span(0), span(1));
    }

    #[test]
    fn per_band_fits_the_range_with_headroom_and_inverts() {
        let data = array![[0.0f32, 5.0, 2.0], [10.0, 5.0, 4.0]];
        let n = Normaliser::fit(data.view(), Layout::PerBand, 0.25).unwrap();
        assert_eq!(n.offset.to_vec(), vec![5.0, 5.0, 3.0]);
        assert_eq!(n.basis.diag().to_vec(), vec![6.25, 1.0, 1.25]);
        let x = n.apply(data.view());
        assert_eq!(x[[0, 0]], -0.8);
        assert_eq!(x[[1, 0]], 0.8);
        let back = n.invert(x.view());
        assert!(back.iter().zip(data.iter()).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn principal_components_decorrelate_fill_the_range_and_invert() {
        // Two bands that move together, plus a small independent wiggle.
        let data = Array2::from_shape_fn((50, 2), |(i, b)| i as f32 * 2.0 + if b == 1 { ((i * 7) % 5) as f32 * 0.1 } else { 0.0 });
        let n = Normaliser::fit(data.view(), Layout::PrincipalComponents(2), 0.0).unwrap();
        let x = n.apply(data.view());
        assert_eq!(n.residual_axes.nrows(), 0);
        for k in 0..2 {
            let column = x.column(k);
            let (lo, hi) = column.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            assert!((lo + 1.0).abs() < 1e-4 && (hi - 1.0).abs() < 1e-4, "component {k}: {lo}..{hi}");
        }
        let back = n.invert(x.view());
        assert!(back.iter().zip(data.iter()).all(|(a, b)| (a - b).abs() < 1e-3), "{back:?}");
    }

    #[test]
    fn residual_axes_complete_the_kept_ones_and_carry_each_class_spread() {
        // Three bands: a strong common level, and per-class noise of known size along (1, -1, 0).
        let noise = |i: usize| if i.is_multiple_of(2) { 1.0 } else { -1.0 };
        let data = Array2::from_shape_fn((40, 3), |(i, b)| {
            let class_gain = if i < 20 { 1.0 } else { 3.0 };
            let level = (i % 20) as f32 * 10.0;
            level
                + match b {
                    0 => class_gain * noise(i),
                    1 => -class_gain * noise(i),
                    _ => 0.0,
                }
        });
        let classes: Vec<u32> = (0..40).map(|i| u32::from(i >= 20)).collect();
        let n = Normaliser::fit(data.view(), Layout::PrincipalComponents(1), 0.0).unwrap();
        assert_eq!((n.basis.nrows(), n.residual_axes.nrows()), (1, 2));
        // Kept and residual axes together are orthonormal.
        let kept = &n.basis / &n.basis.map_axis(Axis(1), |r| r.dot(&r).sqrt()).insert_axis(Axis(1));
        let all = ndarray::concatenate(Axis(0), &[kept.view(), n.residual_axes.view()]).unwrap();
        let gram = all.dot(&all.t());
        assert!(gram.indexed_iter().all(|((i, j), &v)| (v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9), "{gram:?}");
        // Along about (1, -1, 0)/sqrt 2 the noise is sqrt 2 * gain; the spread holds it per
        // class (the axis tilts a little: the noise is not quite uncorrelated with the level).
        let spread = n.residual_spread(data.view(), &classes, 3);
        let largest = |c: usize| spread.row(c).iter().copied().fold(0.0, f64::max);
        let sample_std = (20.0f64 / 19.0).sqrt() * 2f64.sqrt();
        assert!((largest(0) / sample_std - 1.0).abs() < 1e-2 && (largest(1) / (3.0 * sample_std) - 1.0).abs() < 1e-2, "{spread:?}");
        assert!(spread.row(2).iter().all(|&v| v == 0.0));
    }
}
