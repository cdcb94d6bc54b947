//! Distribution metrics between sets of spectra (`[n, bands]` rows).

use ndarray::{Array1, ArrayView2, Axis};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

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

fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
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
        let total: f64 = (0..m).into_par_iter().map(|i| (0..m).filter(|&j| j != i).map(|j| k(set[i], set[j])).sum::<f64>()).sum();
        total / (m * (m - 1)) as f64
    };
    let (xs, ys) = pooled.split_at(x.nrows());
    let cross: f64 = xs.par_iter().map(|a| ys.iter().map(|b| k(a, b)).sum::<f64>()).sum::<f64>() / (xs.len() * ys.len()) as f64;
    mean_within(xs) + mean_within(ys) - 2.0 * cross
}

/// Classifier two-sample test: the balanced accuracy of a k-nearest-neighbour classifier
/// (k = 5, Euclidean) told to separate `real` from `synthetic`, by `folds`-fold
/// cross-validation with a seeded shuffle. 0.5 means indistinguishable, 1.0 means every
/// sample is told apart.
pub fn c2st_knn(real: ArrayView2<'_, f32>, synthetic: ArrayView2<'_, f32>, folds: usize, seed: u64) -> f64 {
    const K: usize = 5;
    let rows: Vec<(&[f32], bool)> = real
        .rows()
        .into_iter()
        .filter_map(|r| r.to_slice().map(|s| (s, true)))
        .chain(synthetic.rows().into_iter().filter_map(|r| r.to_slice().map(|s| (s, false))))
        .collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let folds = folds.clamp(2, rows.len().max(2));
    let fold_of = |position: usize| position % folds;
    let mut fold = vec![0; rows.len()];
    for (position, &row) in order.iter().enumerate() {
        fold[row] = fold_of(position);
    }
    // Each row is predicted by its K nearest rows of the other folds.
    let predictions: Vec<bool> = (0..rows.len())
        .into_par_iter()
        .map(|i| {
            let mut nearest: Vec<(f64, bool)> =
                (0..rows.len()).filter(|&j| fold[j] != fold[i]).map(|j| (squared_distance(rows[i].0, rows[j].0), rows[j].1)).collect();
            let k = K.min(nearest.len());
            if k == 0 {
                return rows[i].1;
            }
            nearest.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
            let real_votes = nearest[..k].iter().filter(|(_, is_real)| *is_real).count();
            real_votes * 2 > k
        })
        .collect();
    let recall = |class: bool| {
        let members: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].1 == class).collect();
        members.iter().filter(|&&i| predictions[i] == class).count() as f64 / members.len().max(1) as f64
    };
    (recall(true) + recall(false)) / 2.0
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
        let same = c2st_knn(a.view(), b.view(), 5, 0);
        let shifted = c2st_knn(a.view(), c.view(), 5, 0);
        assert!((same - 0.5).abs() < 0.07, "{same}");
        assert!(shifted > 0.85, "{shifted}");
    }
}
