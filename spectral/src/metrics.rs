//! Distribution metrics between sets of spectra (`[n, bands]` rows).

use ndarray::{Array1, ArrayView2, Axis};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::classify::{ClassifierKind, balanced_accuracy, fit_predict};
use crate::{Error, Result};

/// The spectral angle between two spectra, in degrees.
pub fn spectral_angle_deg(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    (dot / (na * nb)).clamp(-1.0, 1.0).acos().to_degrees()
}

/// The mean spectrum of a set.
pub fn mean_spectrum(x: ArrayView2<'_, f32>) -> Array1<f32> {
    x.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(x.ncols()))
}

/// The sum of `values` computed in parallel but added in their order: rayon's own `sum`
/// groups the additions as its threads happen to split the work, so the last bits of a
/// float sum could differ from run to run, and a training run would not be reproducible.
fn ordered_sum(values: impl IndexedParallelIterator<Item = f64>) -> f64 {
    values.collect::<Vec<f64>>().into_iter().sum()
}

/// The squared Euclidean distance between two spectra, accumulated in f64.
pub(crate) fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum()
}

/// Squared maximum mean discrepancy between `x` and `y` with an RBF kernel whose
/// bandwidth is the median pairwise distance of the pooled sample (the median
/// heuristic); unbiased estimate, near 0 for identical distributions.
pub fn mmd_rbf(x: ArrayView2<'_, f32>, y: ArrayView2<'_, f32>) -> f64 {
    let pooled: Vec<&[f32]> = x.rows().into_iter().chain(y.rows()).filter_map(|r| r.to_slice()).collect();
    let n = pooled.len();
    if x.nrows() < 2 || y.nrows() < 2 || n != x.nrows() + y.nrows() {
        return f64::NAN;
    }
    let mut distances: Vec<f64> = (0..n)
        .into_par_iter()
        .flat_map_iter(|i| {
            let pooled = &pooled;
            (i + 1..n).map(move |j| squared_distance(pooled[i], pooled[j]))
        })
        .collect();
    let mid = distances.len() / 2;
    let median = *distances.select_nth_unstable_by(mid, f64::total_cmp).1;
    let gamma = if median > 0.0 { 1.0 / median } else { 1.0 };
    let k = |a: &[f32], b: &[f32]| (-gamma * squared_distance(a, b)).exp();
    let mean_within = |set: &[&[f32]]| {
        let m = set.len();
        let total = ordered_sum((0..m).into_par_iter().map(|i| (0..m).filter(|&j| j != i).map(|j| k(set[i], set[j])).sum::<f64>()));
        total / (m * (m - 1)) as f64
    };
    let (xs, ys) = pooled.split_at(x.nrows());
    let cross = ordered_sum(xs.par_iter().map(|a| ys.iter().map(|b| k(a, b)).sum::<f64>())) / (xs.len() * ys.len()) as f64;
    mean_within(xs) + mean_within(ys) - 2.0 * cross
}

/// Classifier two-sample test: the balanced accuracy of a `kind` classifier told to
/// separate `real` from `synthetic`, by `folds`-fold cross-validation (folds drawn per set
/// with a seeded shuffle). 0.5 means indistinguishable, 1.0 means every row is told apart.
pub fn c2st(real: ArrayView2<'_, f32>, synthetic: ArrayView2<'_, f32>, kind: ClassifierKind, folds: usize, seed: u64) -> Result<f64> {
    const REAL: u32 = 1;
    const SYNTHETIC: u32 = 2;
    let folds = folds.clamp(2, real.nrows().min(synthetic.nrows()).max(2));
    if real.nrows() < folds || synthetic.nrows() < folds {
        return Err(Error::Shape(format!(
            "{folds}-fold C2ST needs {folds} rows of each set, has {} and {}",
            real.nrows(),
            synthetic.nrows()
        )));
    }
    let x = ndarray::concatenate(Axis(0), &[real, synthetic]).map_err(|e| Error::Shape(e.to_string()))?;
    let truth: Vec<u32> = std::iter::repeat_n(REAL, real.nrows()).chain(std::iter::repeat_n(SYNTHETIC, synthetic.nrows())).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut fold = vec![0; truth.len()];
    for range in [0..real.nrows(), real.nrows()..truth.len()] {
        let mut rows: Vec<usize> = range.collect();
        rows.shuffle(&mut rng);
        for (position, row) in rows.into_iter().enumerate() {
            fold[row] = position % folds;
        }
    }
    let predicted: Vec<Vec<(usize, u32)>> = (0..folds)
        .into_par_iter()
        .map(|f| {
            let (test, train): (Vec<usize>, Vec<usize>) = (0..truth.len()).partition(|&i| fold[i] == f);
            let labels: Vec<u32> = train.iter().map(|&i| truth[i]).collect();
            let guesses = fit_predict(kind, x.select(Axis(0), &train).view(), &labels, x.select(Axis(0), &test).view(), seed)?;
            Ok(test.into_iter().zip(guesses).collect())
        })
        .collect::<Result<_>>()?;
    let mut guesses = vec![0; truth.len()];
    for (i, g) in predicted.into_iter().flatten() {
        guesses[i] = g;
    }
    Ok(balanced_accuracy(&truth, &guesses))
}

/// The two-sample Kolmogorov-Smirnov statistic of every band: the largest gap between the
/// empirical distribution functions of `a` and `b` (0 identical, 1 disjoint).
pub fn ks_per_band(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Vec<f64> {
    let sorted = |x: ArrayView2<'_, f32>, band: usize| {
        let mut v: Vec<f32> = x.column(band).to_vec();
        v.sort_unstable_by(f32::total_cmp);
        v
    };
    (0..a.ncols().min(b.ncols()))
        .into_par_iter()
        .map(|band| {
            let (a, b) = (sorted(a, band), sorted(b, band));
            let (mut i, mut j, mut gap) = (0, 0, 0.0f64);
            while i < a.len() && j < b.len() {
                let v = a[i].min(b[j]);
                while i < a.len() && a[i] <= v {
                    i += 1;
                }
                while j < b.len() && b[j] <= v {
                    j += 1;
                }
                gap = gap.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
            }
            if a.is_empty() || b.is_empty() { f64::NAN } else { gap }
        })
        .collect()
}

/// The mean spectral angle (degrees) over all pairs of distinct rows of `x`; the
/// report's diversity ratio divides this for synthetic rows by that for real ones.
pub fn mean_pairwise_angle_deg(x: ArrayView2<'_, f32>) -> f64 {
    let rows: Vec<&[f32]> = x.rows().into_iter().filter_map(|r| r.to_slice()).collect();
    let n = rows.len();
    if n < 2 {
        return f64::NAN;
    }
    let total = ordered_sum((0..n).into_par_iter().map(|i| (i + 1..n).map(|j| spectral_angle_deg(rows[i], rows[j])).sum::<f64>()));
    total / (n * (n - 1) / 2) as f64
}

/// The mean over rows of `from` of the Euclidean distance to the closest row of `to`
/// (NaN when either is empty). The report's distance-to-closest-record ratio divides
/// this for synthetic rows by that for real test rows, both against the training rows.
/// (A mean, not a median: real scenes hold exact duplicate pixels, which can make the
/// median distance of real test rows 0.)
pub fn mean_closest_distance(from: ArrayView2<'_, f32>, to: ArrayView2<'_, f32>) -> f64 {
    let targets: Vec<&[f32]> = to.rows().into_iter().filter_map(|r| r.to_slice()).collect();
    let sources: Vec<&[f32]> = from.rows().into_iter().filter_map(|r| r.to_slice()).collect();
    if sources.is_empty() || targets.is_empty() {
        return f64::NAN;
    }
    let total =
        ordered_sum(sources.par_iter().map(|r| targets.iter().map(|t| squared_distance(r, t)).fold(f64::INFINITY, f64::min).sqrt()));
    total / sources.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand_distr::{Distribution, Normal};

    fn gaussian(n: usize, d: usize, shift: f32, seed: u64) -> Array2<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let normal = Normal::new(0.0f32, 1.0).unwrap();
        Array2::from_shape_fn((n, d), |_| normal.sample(&mut rng) + shift)
    }

    #[test]
    fn spectral_angle_by_hand() {
        assert!((spectral_angle_deg(&[1.0, 0.0], &[0.0, 2.0]) - 90.0).abs() < 1e-9);
        // acos near 1 resolves about 1e-6 degrees.
        assert!(spectral_angle_deg(&[1.0, 2.0], &[2.0, 4.0]).abs() < 1e-5);
        assert!((spectral_angle_deg(&[1.0, 0.0], &[1.0, 1.0]) - 45.0).abs() < 1e-9);
    }

    #[test]
    fn mmd_is_near_zero_for_one_distribution_and_not_for_shifted_ones() {
        let a = gaussian(200, 10, 0.0, 1);
        let b = gaussian(200, 10, 0.0, 2);
        let c = gaussian(200, 10, 1.0, 3);
        let same = mmd_rbf(a.view(), b.view());
        let shifted = mmd_rbf(a.view(), c.view());
        assert!(same.abs() < 0.01, "{same}");
        assert!(shifted > 0.1, "{shifted}");
    }

    #[test]
    fn c2st_is_chance_for_one_distribution_and_high_for_shifted_ones() {
        let a = gaussian(300, 10, 0.0, 4);
        let b = gaussian(300, 10, 0.0, 5);
        let c = gaussian(300, 10, 1.0, 6);
        for kind in ClassifierKind::ALL {
            let same = c2st(a.view(), b.view(), kind, 5, 0).unwrap();
            let shifted = c2st(a.view(), c.view(), kind, 5, 0).unwrap();
            assert!((same - 0.5).abs() < 0.07, "{kind:?} {same}");
            assert!(shifted > 0.85, "{kind:?} {shifted}");
        }
    }

    #[test]
    fn ks_by_hand() {
        // Band 0: {1, 2, 3} vs {2, 3, 4}: the CDFs differ by 1/3 at most. Band 1: disjoint.
        let a = ndarray::array![[1.0f32, 0.0], [2.0, 0.0], [3.0, 0.0]];
        let b = ndarray::array![[2.0f32, 5.0], [3.0, 5.0], [4.0, 5.0]];
        let ks = ks_per_band(a.view(), b.view());
        assert!((ks[0] - 1.0 / 3.0).abs() < 1e-12, "{ks:?}");
        assert_eq!(ks[1], 1.0);
        assert_eq!(ks_per_band(a.view(), a.view()), vec![0.0, 0.0]);
    }

    #[test]
    fn pairwise_angle_and_closest_distance_by_hand() {
        let x = ndarray::array![[1.0f32, 0.0], [0.0, 1.0], [1.0, 1.0]];
        // Pairs: 90, 45, 45 degrees.
        assert!((mean_pairwise_angle_deg(x.view()) - 60.0).abs() < 1e-9);
        let to = ndarray::array![[0.0f32, 0.0], [3.0, 3.0]];
        // Closest distances 1, 1 and sqrt 2 (all to the origin).
        assert!((mean_closest_distance(x.view(), to.view()) - (2.0 + 2f64.sqrt()) / 3.0).abs() < 1e-12);
        assert!(mean_closest_distance(x.view(), to.slice(ndarray::s![..0, ..])).is_nan());
    }
}
