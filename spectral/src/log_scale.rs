//! Spectra as standardised logarithms, the space the exemplar-conditioned GAN works in, the
//! principal axes of the variation within classes there, and each spectrum's nearest
//! class-mates.
//!
//! A value `x` of band `b` becomes `u = (ln(max(x, floor)) - offset_b) / scale_b`: the
//! offset is the band's mean logarithm and the scale the band's pooled within-class
//! standard deviation of logarithms, so that one unit is a class's typical variation in that
//! band, whatever the band's brightness. Moves in this space are multiplicative in the
//! spectra, as those of illumination, moisture or density are, and nothing mapped back
//! falls below zero.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::{Error, Result};

/// The floor of values whose logarithm is taken, as a share of the largest absolute value
/// of the spectra fitted on: 1e-4 of reflectance 0-1, whatever the units. The exemplar
/// model's log space floors values the same way.
pub(crate) const LOG_FLOOR_SHARE: f64 = 1e-4;

/// The least scale of a band, as a share of the largest band's: a band that does not vary
/// within any class (a constant band) is not blown up.
const MIN_SCALE_SHARE: f64 = 1e-3;

/// The map between spectra and standardised logarithms (see the module's documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct LogScale {
    /// Values below it count as it before the logarithm (units of the spectra).
    pub floor: f64,
    /// Per band, the mean logarithm.
    pub offset: Array1<f64>,
    /// Per band, the pooled within-class standard deviation of the logarithms.
    pub scale: Array1<f64>,
}

impl LogScale {
    /// Fits the map on `spectra` (`[n, bands]`) of class indices `classes` (`0..n_classes`):
    /// the within-class deviations are pooled over every class with two spectra or more.
    pub fn fit(spectra: ArrayView2<'_, f32>, classes: &[u32], n_classes: usize) -> Result<Self> {
        let (n, bands) = spectra.dim();
        if classes.len() != n || n == 0 || bands == 0 {
            return Err(Error::Shape(format!("{n} spectra of {bands} bands with {} class indices", classes.len())));
        }
        if let Some(&c) = classes.iter().find(|&&c| c as usize >= n_classes) {
            return Err(Error::Shape(format!("class index {c} of {n_classes} classes")));
        }
        let largest = spectra.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
        let floor = LOG_FLOOR_SHARE * largest.max(f64::MIN_POSITIVE);
        let logs = spectra.mapv(|v| f64::from(v).max(floor).ln());
        let offset = logs.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(bands));
        let mut sums = Array2::<f64>::zeros((n_classes, bands));
        let mut counts = vec![0usize; n_classes];
        for (row, &c) in logs.rows().into_iter().zip(classes) {
            sums.row_mut(c as usize).scaled_add(1.0, &row);
            counts[c as usize] += 1;
        }
        let mut squares = Array1::<f64>::zeros(bands);
        for (row, &c) in logs.rows().into_iter().zip(classes) {
            let mean = sums.row(c as usize).mapv(|s| s / counts[c as usize] as f64);
            squares += &(&row - &mean).mapv(|d| d * d);
        }
        let classes_present = counts.iter().filter(|&&k| k > 0).count();
        let dof = n.saturating_sub(classes_present).max(1) as f64;
        let sd = squares.mapv(|s| (s / dof).sqrt());
        let least = MIN_SCALE_SHARE * sd.iter().fold(0.0f64, |m, &v| m.max(v)).max(f64::MIN_POSITIVE);
        Ok(Self { floor, offset, scale: sd.mapv(|s| s.max(least)) })
    }

    /// Spectra (`[n, bands]`) as standardised logarithms.
    pub fn apply(&self, spectra: ArrayView2<'_, f32>) -> Array2<f32> {
        let mut out = spectra.mapv(|v| f64::from(v).max(self.floor).ln());
        out -= &self.offset;
        out /= &self.scale;
        out.mapv(|v| v as f32)
    }

    /// Standardised logarithms (`[n, bands]`) back to spectra.
    pub fn invert(&self, standardised: ArrayView2<'_, f32>) -> Array2<f32> {
        let mut out = standardised.mapv(f64::from);
        out *= &self.scale;
        out += &self.offset;
        out.mapv(|v| v.exp() as f32)
    }
}

/// The `keep` leading principal axes (`[keep, bands]`, orthonormal rows, most variance
/// first) of the within-class variation of `x` (`[n, bands]`, e.g. standardised
/// logarithms): of every row minus its class's mean. Fewer when `x` has fewer bands.
pub fn within_class_axes(x: ArrayView2<'_, f32>, classes: &[u32], n_classes: usize, keep: usize) -> Result<Array2<f32>> {
    let (n, bands) = x.dim();
    if classes.len() != n || n < 2 {
        return Err(Error::Shape(format!("{n} spectra with {} class indices", classes.len())));
    }
    let mut sums = Array2::<f64>::zeros((n_classes, bands));
    let mut counts = vec![0usize; n_classes];
    for (row, &c) in x.rows().into_iter().zip(classes) {
        let c = c as usize;
        if c >= n_classes {
            return Err(Error::Shape(format!("class index {c} of {n_classes} classes")));
        }
        sums.row_mut(c).scaled_add(1.0, &row.mapv(f64::from));
        counts[c] += 1;
    }
    let mut residuals = x.mapv(f64::from);
    for (mut row, &c) in residuals.rows_mut().into_iter().zip(classes) {
        row -= &sums.row(c as usize).mapv(|s| s / counts[c as usize] as f64);
    }
    let (_, axes) = crate::principal_axes(&residuals, keep)?;
    Ok(axes.t().mapv(|v| v as f32))
}

/// Per row of `x` (`[n, d]`), its `k` nearest rows of the same class (Euclidean), nearest
/// first, never itself; every class-mate when `k` is 0 or the class is smaller. A row with
/// no class-mate gets an empty list.
pub fn class_mates(x: ArrayView2<'_, f32>, classes: &[u32], k: usize) -> Vec<Vec<usize>> {
    let n = x.nrows();
    let mut members: std::collections::BTreeMap<u32, Vec<usize>> = std::collections::BTreeMap::new();
    for (row, &c) in classes.iter().enumerate().take(n) {
        members.entry(c).or_default().push(row);
    }
    (0..n)
        .into_par_iter()
        .map(|a| {
            let same = &members[&classes[a]];
            let row_a = x.row(a);
            let mut others: Vec<(f32, usize)> = same
                .iter()
                .filter(|&&b| b != a)
                .map(|&b| (row_a.iter().zip(x.row(b)).map(|(p, q)| (p - q) * (p - q)).sum::<f32>(), b))
                .collect();
            if k > 0 && others.len() > k {
                others.select_nth_unstable_by(k - 1, |p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
                others.truncate(k);
            }
            others.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
            others.into_iter().map(|(_, b)| b).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn standardised_logarithms_map_back_to_the_spectra() {
        let x = array![[0.1f32, 2.0, 30.0], [0.2, 2.2, 33.0], [0.4, 1.0, 10.0], [0.5, 1.1, 12.0]];
        let scale = LogScale::fit(x.view(), &[0, 0, 1, 1], 2).unwrap();
        let back = scale.invert(scale.apply(x.view()).view());
        for (a, b) in back.iter().zip(&x) {
            assert!((a - b).abs() <= 1e-5 * b.abs(), "{a} vs {b}");
        }
        // Band 0's within-class log deviation is ln 2 and ln 1.25 about the two class means.
        let expected = (((2f64.ln() / 2.0).powi(2) * 2.0 + (1.25f64.ln() / 2.0).powi(2) * 2.0) / 2.0).sqrt();
        assert!((scale.scale[0] - expected).abs() < 1e-7, "{} vs {expected}", scale.scale[0]);
        // Values at or below zero count as the floor, and come back as it.
        let dark = scale.invert(scale.apply(array![[-1.0f32, 0.0, 5.0]].view()).view());
        assert!((f64::from(dark[[0, 0]]) - scale.floor).abs() < 1e-6 * scale.floor.max(1e-12) + 1e-9);
    }

    #[test]
    fn class_mates_are_the_nearest_rows_of_the_same_class() {
        let x = array![[0.0f32], [1.0], [5.0], [0.5], [9.0], [7.0]];
        let classes = [0, 0, 0, 0, 1, 1];
        let mates = class_mates(x.view(), &classes, 2);
        assert_eq!(mates[0], vec![3, 1]);
        assert_eq!(mates[2], vec![1, 3]);
        assert_eq!(mates[4], vec![5]);
        assert_eq!(class_mates(x.view(), &classes, 0)[1], vec![3, 0, 2]);
        assert!(class_mates(x.view(), &[0, 1, 2, 3, 4, 5], 3).iter().all(Vec::is_empty));
    }

    #[test]
    fn within_class_axes_follow_the_variation_inside_classes_not_between_them() {
        // Two classes far apart along band 0; inside each, the spectra vary along band 1.
        let x = array![[0.0f32, 0.0, 0.0], [0.1, 2.0, 0.0], [0.0, -2.0, 0.1], [10.0, 1.0, 0.0], [10.1, -1.0, 0.0], [10.0, 3.0, -0.1]];
        let axes = within_class_axes(x.view(), &[0, 0, 0, 1, 1, 1], 2, 1).unwrap();
        assert_eq!(axes.dim(), (1, 3));
        assert!(axes[[0, 1]].abs() > 0.99, "{axes}");
        assert_eq!(within_class_axes(x.view(), &[0, 0, 0, 1, 1, 1], 2, 5).unwrap().nrows(), 3);
    }
}
