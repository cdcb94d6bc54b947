//! The exemplar variation model: synthetic spectra of a class are its real training
//! spectra (exemplars), moved part of the way towards a near class-mate and varied by
//! Gaussian noise whose covariance mixes the class's own scatter with the scatter borrowed
//! from the other classes, scaled to the class's own total variance.
//!
//! A spectrum of class `c` is
//!
//! ```text
//! x = (e + t · (e' - e)) · exp(b · z_b) + spread · (√λ · F_c w_c + √(1 - λ) · √k_c · P_c w_p)
//! ```
//!
//! with `e` a training spectrum of class `c` picked at random, `e'` one of its
//! [`ExemplarConfig::neighbours`] nearest class-mates picked at random, `t` uniform in
//! `[0, interpolate]` (SMOTE's move, up to part of the way), `z_b`, `w_c` and `w_p`
//! standard normal, `F_c Fᵀ_c` the class's own covariance `C_c`, `P_c Pᵀ_c` the borrowed
//! covariance `S_c = Σ_j a_cj C_j` (`a_cj` by pixel count and, with
//! [`ExemplarConfig::borrow_angle_deg`], by how close class `j`'s mean spectrum is to
//! class `c`'s) and `k_c = trace(C_c) / trace(S_c)`. With `λ < 1` scarce classes borrow
//! the shape of their variation from classes that have measured it; by default (`λ = 1`)
//! each class varies with its own scatter only, which measured better once `augment` keeps
//! only spectra nearest their own class. Every synthetic spectrum stays near a real spectrum
//! of its own class rather than where another class lives. `docs/TRAINING.md` has the
//! measurements behind the defaults.
//!
//! The factors are rows of residuals (spectrum minus class mean), subsampled and scaled so
//! that their outer products have the covariances above as expectation, so no
//! eigen-decomposition is needed and the model's size is bounded.
//!
//! With [`ExemplarConfig::log_space`] (the default) all of this happens to the logarithms of
//! the spectra (values below a floor, a ten-thousandth of the largest, count as the floor)
//! and the result is exponentiated: the variation is multiplicative, as that of
//! illumination, moisture or density is, a move towards a class-mate is geometric, and no
//! synthetic value falls below zero. The brightness factor is then a term added to the
//! logarithm.

use ndarray::{Array1, Array2, Array3, ArrayView2, Axis, s};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::log_scale::LOG_FLOOR_SHARE;
use crate::{Error, Result};

/// Settings of the exemplar variation model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExemplarConfig {
    /// Multiplies the standard deviation of the variation (1: the measured covariance).
    pub spread: f64,
    /// λ: the weight of the class's own covariance against the pooled shape (0: pooled
    /// only, 1: own only).
    pub own_weight: f64,
    /// Standard deviation of the log of a per-spectrum brightness factor (0: off).
    pub brightness: f64,
    /// How far towards a near class-mate a spectrum's centre moves at most, as a fraction
    /// of the way (0: the exemplar itself, 1: SMOTE's full segment).
    #[serde(default)]
    pub interpolate: f64,
    /// How many nearest class-mates of an exemplar it may move towards.
    #[serde(default = "default_neighbours")]
    pub neighbours: usize,
    /// Exemplars kept per class at most (a seeded random subset beyond that).
    pub max_exemplars: usize,
    /// Residual rows of the class's own factor at most.
    pub own_rows: usize,
    /// Residual rows of the pooled factor.
    pub pooled_rows: usize,
    /// Vary the logarithms of the spectra rather than the spectra (see the module's
    /// documentation). Absent from the cards of models made before it existed, which
    /// varied the spectra themselves.
    #[serde(default)]
    pub log_space: bool,
    /// Borrow the variation's shape mostly from spectrally similar classes: class `j`'s
    /// scatter weighs `exp(-angle / this)` (angle between class means, degrees) in class
    /// `c`'s pooled shape (weighted also by its pixel count). `None`: every class's
    /// scatter by its pixel count alone.
    pub borrow_angle_deg: Option<f64>,
    /// Seed of the subsets.
    pub seed: u64,
}

fn default_neighbours() -> usize {
    5
}

impl Default for ExemplarConfig {
    fn default() -> Self {
        Self {
            spread: 0.7,
            own_weight: 1.0,
            brightness: 0.0,
            interpolate: 0.5,
            neighbours: default_neighbours(),
            max_exemplars: 512,
            own_rows: 64,
            pooled_rows: 256,
            borrow_angle_deg: Some(3.0),
            log_space: true,
            seed: 0,
        }
    }
}

impl ExemplarConfig {
    /// Refuses settings out of range: a negative or infinite spread, weights or a move
    /// outside [0, 1], a negative brightness, no class-mate.
    fn check(&self) -> Result<()> {
        let in_range = self.spread.is_finite()
            && self.spread >= 0.0
            && (0.0..=1.0).contains(&self.own_weight)
            && self.brightness >= 0.0
            && (0.0..=1.0).contains(&self.interpolate)
            && self.neighbours >= 1;
        if in_range { Ok(()) } else { Err(Error::Shape(format!("exemplar settings out of range: {self:?}"))) }
    }
}

/// A fitted exemplar variation model, in the units of the spectra it was fitted on.
#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarModel {
    /// `[exemplars, bands]`: every class's exemplars, class by class.
    pub exemplars: Array2<f64>,
    /// Per class, the row of its first exemplar.
    pub starts: Vec<usize>,
    /// Per class, how many exemplars it has.
    pub counts: Vec<usize>,
    /// `[exemplars, neighbours]`: per exemplar, the rows of its nearest class-mates, nearest
    /// first (the first `neighbour_counts[row]` are used; the rest repeat them).
    pub neighbours: Array2<usize>,
    /// Per exemplar, how many class-mates it may move towards (itself when alone).
    pub neighbour_counts: Vec<usize>,
    /// The largest fraction of the way towards a class-mate.
    pub interpolate: f64,
    /// `[classes, own_rows, bands]`: per class, `spread · √λ · F_cᵀ` (rows beyond the class's
    /// residuals are zero).
    pub own: Array3<f64>,
    /// `[classes, pooled_rows, bands]`: per class, `P_cᵀ`, the borrowed factor's rows.
    pub pooled: Array3<f64>,
    /// Per class, `spread · √(1 - λ) · √k_c`: the borrowed factor's weight.
    pub pooled_scale: Array1<f64>,
    /// Standard deviation of the log brightness factor.
    pub brightness: f64,
    /// `Some(floor)` when the model varies logarithms ([`ExemplarConfig::log_space`]): the
    /// tables hold `ln(max(value, floor))` and a sample is exponentiated. `None`: values.
    pub log_floor: Option<f64>,
}

impl ExemplarModel {
    /// Fits the model on `spectra` (`[n, bands]`) of class indices `classes` (`0..n_classes`;
    /// every class needs at least one spectrum).
    pub fn fit(spectra: ArrayView2<'_, f32>, classes: &[u32], n_classes: usize, config: &ExemplarConfig) -> Result<Self> {
        let n = spectra.nrows();
        if classes.len() != n || n == 0 {
            return Err(Error::Shape(format!("{n} spectra with {} class indices", classes.len())));
        }
        config.check()?;
        let mut x = spectra.mapv(f64::from);
        let log_floor = config.log_space.then(|| LOG_FLOOR_SHARE * x.iter().fold(0.0, |m: f64, v| m.max(v.abs())).max(f64::MIN_POSITIVE));
        if let Some(floor) = log_floor {
            x.mapv_inplace(|v| v.max(floor).ln());
        }
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let rows_of: Vec<Vec<usize>> = (0..n_classes).map(|c| (0..n).filter(|&i| classes[i] as usize == c).collect()).collect();
        if let Some(c) = rows_of.iter().position(Vec::is_empty) {
            return Err(Error::Shape(format!("class index {c} has no spectra")));
        }
        let scatter = Scatter::of(&x, &rows_of);
        let (exemplars, starts, counts, own) = own_factors(&rows_of, &scatter, config, &mut rng);
        let (pooled, pooled_scale) = pooled_factors(&rows_of, &scatter, config, &mut rng);
        let exemplars = x.select(Axis(0), &exemplars);
        let (neighbours, neighbour_counts) = nearest_class_mates(&exemplars, &starts, &counts, config.neighbours);
        Ok(Self {
            exemplars,
            starts,
            counts,
            neighbours,
            neighbour_counts,
            interpolate: config.interpolate,
            own,
            pooled,
            pooled_scale,
            brightness: config.brightness,
            log_floor,
        })
    }

    /// Length of the noise vector a spectrum needs: one value picks the exemplar, one the
    /// brightness, one the class-mate, one how far towards it, then the own factor's and the
    /// pooled factor's weights.
    pub fn latent(&self) -> usize {
        Self::FACTORS_AT + self.own.dim().1 + self.pooled.dim().1
    }

    /// Where the factors' weights start in the noise vector.
    pub const FACTORS_AT: usize = 4;

    /// The spectrum of class `class` for the noise `z` (`latent()` values), as the
    /// exported graph computes it: the exemplar is `floor(Φ(z[0]) · count)`, the class-mate
    /// `floor(Φ(z[2]) · neighbour_count)`, the move `interpolate · Φ(z[3])`; in log space
    /// the brightness `b · z[1]` is added and the sum exponentiated.
    pub fn sample(&self, class: usize, z: &[f64]) -> Array1<f64> {
        let m = self.own.dim().1;
        let pick = |u: f64, count: usize| ((phi(u) * count as f64).floor() as usize).min(count - 1);
        let row = self.starts[class] + pick(z[0], self.counts[class]);
        let mate = self.neighbours[[row, pick(z[2], self.neighbour_counts[row])]];
        let t = self.interpolate * phi(z[3]);
        let (e, e_mate) = (self.exemplars.row(row), self.exemplars.row(mate));
        let centre = &e + &((&e_mate - &e) * t);
        let mut x = match self.log_floor {
            Some(_) => centre + self.brightness * z[1],
            None => centre * (self.brightness * z[1]).exp(),
        };
        let f = Self::FACTORS_AT;
        x += &Array1::from_vec(z[f..f + m].to_vec()).dot(&self.own.slice(s![class, .., ..]));
        x += &(Array1::from_vec(z[f + m..].to_vec()).dot(&self.pooled.slice(s![class, .., ..])) * self.pooled_scale[class]);
        if self.log_floor.is_some() {
            x.mapv_inplace(f64::exp);
        }
        x
    }
}

/// Each class's mean, residuals about it and the trace of its covariance (ddof 1).
struct Scatter {
    means: Vec<Array1<f64>>,
    residuals: Vec<Array2<f64>>,
    traces: Vec<f64>,
}

impl Scatter {
    /// The scatter of the rows `rows_of[c]` of `x`, per class `c`.
    fn of(x: &Array2<f64>, rows_of: &[Vec<usize>]) -> Self {
        let bands = x.ncols();
        let members: Vec<Array2<f64>> = rows_of.iter().map(|rows| x.select(Axis(0), rows)).collect();
        let means: Vec<Array1<f64>> = members.iter().map(|m| m.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(bands))).collect();
        let residuals: Vec<Array2<f64>> = members.iter().zip(&means).map(|(m, mean)| m - mean).collect();
        let traces = residuals.iter().map(|r| r.iter().map(|v| v * v).sum::<f64>() / (r.nrows().max(2) - 1) as f64).collect();
        Self { means, residuals, traces }
    }
}

/// The exemplars kept per class (rows, each class's first index and count) and the own
/// factor: `C_c = Rᵀ R / (n_c - 1)` from `m` of its `n_c` residual rows, scaled by
/// `√(n_c / (m (n_c - 1)))`.
fn own_factors(
    rows_of: &[Vec<usize>],
    scatter: &Scatter,
    config: &ExemplarConfig,
    rng: &mut ChaCha8Rng,
) -> (Vec<usize>, Vec<usize>, Vec<usize>, Array3<f64>) {
    let bands = scatter.means.first().map_or(0, Array1::len);
    let (mut exemplars, mut starts, mut counts) = (Vec::new(), Vec::new(), Vec::new());
    let mut own = Array3::zeros((rows_of.len(), config.own_rows, bands));
    for (c, rows) in rows_of.iter().enumerate() {
        let mut kept = rows.clone();
        if kept.len() > config.max_exemplars {
            kept.shuffle(rng);
            kept.truncate(config.max_exemplars);
            kept.sort_unstable();
        }
        starts.push(exemplars.len());
        counts.push(kept.len());
        exemplars.extend(kept);
        let r = &scatter.residuals[c];
        let mut picked: Vec<usize> = (0..r.nrows()).collect();
        picked.shuffle(rng);
        picked.truncate(config.own_rows);
        let weight =
            config.spread * config.own_weight.sqrt() * (r.nrows() as f64 / (picked.len().max(1) * (r.nrows().max(2) - 1)) as f64).sqrt();
        for (slot, &row) in picked.iter().enumerate() {
            own.slice_mut(s![c, slot, ..]).assign(&(&r.row(row) * weight));
        }
    }
    (exemplars, starts, counts, own)
}

/// The borrowed factor and its scale per class: `S_c = Σ_j a_cj C_j`, each row of class `j`
/// drawn with probability `a_cj / n_j` and scaled by `√(n_j / ((n_j - 1) m))`, so that `m`
/// rows have `S_c` as expected outer product; the scale keeps the class's own trace.
fn pooled_factors(rows_of: &[Vec<usize>], scatter: &Scatter, config: &ExemplarConfig, rng: &mut ChaCha8Rng) -> (Array3<f64>, Array1<f64>) {
    let n_classes = rows_of.len();
    let bands = scatter.means.first().map_or(0, Array1::len);
    let mut pooled = Array3::zeros((n_classes, config.pooled_rows, bands));
    let mut pooled_scale = Array1::zeros(n_classes);
    for c in 0..n_classes {
        let share: Vec<f64> = (0..n_classes)
            .map(|j| {
                let dof = (rows_of[j].len() as f64 - 1.0).max(0.0);
                match config.borrow_angle_deg {
                    Some(tau) if tau > 0.0 => dof * (-angle_deg(&scatter.means[c], &scatter.means[j]) / tau).exp(),
                    _ => dof,
                }
            })
            .collect();
        let total: f64 = share.iter().sum();
        if total <= 0.0 {
            continue;
        }
        let borrowed_trace: f64 = share.iter().zip(&scatter.traces).map(|(a, t)| a / total * t).sum();
        let mut cumulative = Vec::with_capacity(n_classes);
        let mut sum = 0.0;
        for a in &share {
            sum += a / total;
            cumulative.push(sum);
        }
        for slot in 0..config.pooled_rows {
            let u: f64 = rand::RngExt::random(rng);
            let j = cumulative.iter().position(|&p| u < p).unwrap_or(n_classes - 1);
            let r = &scatter.residuals[j];
            let i = rand::RngExt::random_range(rng, 0..r.nrows());
            let weight = (r.nrows() as f64 / ((r.nrows().max(2) - 1) * config.pooled_rows) as f64).sqrt();
            pooled.slice_mut(s![c, slot, ..]).assign(&(&r.row(i) * weight));
        }
        let k = if borrowed_trace > 0.0 { scatter.traces[c] / borrowed_trace } else { 0.0 };
        pooled_scale[c] = config.spread * (1.0 - config.own_weight).sqrt() * k.sqrt();
    }
    (pooled, pooled_scale)
}

/// Per exemplar, its `k` nearest exemplars of the same class (Euclidean), nearest first,
/// padded by repeating them to `k` columns, and how many there are (itself when alone).
fn nearest_class_mates(exemplars: &Array2<f64>, starts: &[usize], counts: &[usize], k: usize) -> (Array2<usize>, Vec<usize>) {
    let n = exemplars.nrows();
    let mut table = Array2::zeros((n, k));
    let mut found = vec![0; n];
    for (&start, &count) in starts.iter().zip(counts) {
        let rows = start..start + count;
        for a in rows.clone() {
            let mut others: Vec<(f64, usize)> =
                rows.clone().filter(|&b| b != a).map(|b| ((&exemplars.row(a) - &exemplars.row(b)).mapv(|v| v * v).sum(), b)).collect();
            others.sort_by(|x, y| x.0.total_cmp(&y.0));
            let mates: Vec<usize> = if others.is_empty() { vec![a] } else { others.iter().take(k).map(|&(_, b)| b).collect() };
            found[a] = mates.len();
            for slot in 0..k {
                table[[a, slot]] = mates[slot % mates.len()];
            }
        }
    }
    (table, found)
}

/// The standard normal distribution function Φ.
pub fn phi(x: f64) -> f64 {
    0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

/// The angle between two spectra, degrees.
fn angle_deg(a: &Array1<f64>, b: &Array1<f64>) -> f64 {
    let cos = a.dot(b) / (a.dot(a).sqrt() * b.dot(b).sqrt()).max(f64::MIN_POSITIVE);
    cos.clamp(-1.0, 1.0).acos().to_degrees()
}

/// The error function (Abramowitz and Stegun 7.1.26, |error| < 1.5e-7).
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    (1.0 - poly * (-x * x).exp()).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, StandardNormal};

    /// Two classes: class 0 varies along band 0 only, class 1 (two spectra) barely varies.
    /// Values cross zero, so the tests on it vary values (`log_space: false`).
    fn data() -> (Array2<f32>, Vec<u32>) {
        let mut rows = Vec::new();
        let mut classes = Vec::new();
        for i in 0..200 {
            rows.extend([(i as f32 - 100.0) / 10.0, 100.0, 0.0]);
            classes.push(0);
        }
        rows.extend([50.0, 0.0, 100.0, 50.1, 0.0, 100.0]);
        classes.extend([1, 1]);
        (Array2::from_shape_vec((202, 3), rows).unwrap(), classes)
    }

    #[test]
    fn samples_stay_near_their_class_and_borrow_the_pooled_shape() {
        let (x, y) = data();
        let model =
            ExemplarModel::fit(x.view(), &y, 2, &ExemplarConfig { own_weight: 0.0, spread: 1.0, log_space: false, ..Default::default() })
                .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let samples: Vec<Array1<f64>> = (0..2000)
            .map(|_| {
                let z: Vec<f64> = (0..model.latent()).map(|_| StandardNormal.sample(&mut rng)).collect();
                model.sample(1, &z)
            })
            .collect();
        let mean = |b: usize| samples.iter().map(|s| s[b]).sum::<f64>() / samples.len() as f64;
        let sd = |b: usize| (samples.iter().map(|s| (s[b] - mean(b)).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
        // Centred on class 1's spectra, varying along band 0 as class 0 does, at class 1's scale.
        assert!((mean(0) - 50.05).abs() < 0.05 && (mean(2) - 100.0).abs() < 1e-9, "{} {}", mean(0), mean(2));
        assert!(sd(1) < 1e-9 && sd(2) < 1e-9, "variation only along band 0: {} {}", sd(1), sd(2));
        assert!(sd(0) > 0.02 && sd(0) < 0.2, "class 1's own size (sd of band 0 {})", sd(0));
    }

    #[test]
    fn the_own_factor_reproduces_the_class_covariance() {
        let (x, y) = data();
        let model = ExemplarModel::fit(
            x.view(),
            &y,
            2,
            &ExemplarConfig { own_weight: 1.0, spread: 1.0, own_rows: 500, log_space: false, ..Default::default() },
        )
        .unwrap();
        let f = model.own.slice(s![0, .., ..]);
        let variance = f.column(0).iter().map(|v| v * v).sum::<f64>();
        let band: Vec<f64> = x.column(0).iter().take(200).map(|&v| f64::from(v)).collect();
        let mean = band.iter().sum::<f64>() / 200.0;
        let expected = band.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 199.0;
        assert!((variance - expected).abs() < 1e-6 * expected, "{variance} vs {expected}");
        assert_eq!(model.pooled_scale.to_vec(), vec![0.0, 0.0]);
    }

    #[test]
    fn centres_move_part_of_the_way_towards_the_nearest_class_mate() {
        // One band; class 0 at 0, 10 and 100: 0 and 10 are each other's nearest, 100's is 10.
        let x = Array2::from_shape_vec((3, 1), vec![0.0f32, 10.0, 100.0]).unwrap();
        let sample_all = |interpolate: f64| {
            let config = ExemplarConfig { spread: 0.0, interpolate, neighbours: 1, log_space: false, ..Default::default() };
            let model = ExemplarModel::fit(x.view(), &[0, 0, 0], 1, &config).unwrap();
            assert_eq!(model.neighbours.column(0).to_vec(), vec![1, 0, 1]);
            let mut rng = ChaCha8Rng::seed_from_u64(2);
            (0..3000)
                .map(|_| {
                    let z: Vec<f64> = (0..model.latent()).map(|_| StandardNormal.sample(&mut rng)).collect();
                    model.sample(0, &z)[0]
                })
                .collect::<Vec<f64>>()
        };
        let moved = sample_all(0.5);
        assert!(moved.iter().all(|&v| (0.0..=10.0).contains(&v) || (55.0..=100.0).contains(&v)), "off the half segments");
        assert!(moved.iter().any(|&v| v > 1.0 && v < 9.0) && moved.iter().any(|&v| v > 56.0 && v < 99.0));
        assert!(sample_all(0.0).iter().all(|&v| v == 0.0 || v == 10.0 || v == 100.0));
    }

    #[test]
    fn log_space_varies_spectra_by_factors_and_never_below_zero() {
        // One class whose spectra are one shape, 0.1 to 3 times over: a brightness series.
        let shape = [1.0f32, 2.0, 4.0];
        let x = Array2::from_shape_fn((30, 3), |(i, b)| (0.1 + 0.1 * i as f32) * shape[b]);
        let draw = |log_space: bool| {
            let config = ExemplarConfig { spread: 2.0, interpolate: 0.0, log_space, ..Default::default() };
            let model = ExemplarModel::fit(x.view(), &[0; 30], 1, &config).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(4);
            (0..500)
                .map(|_| {
                    let z: Vec<f64> = (0..model.latent()).map(|_| StandardNormal.sample(&mut rng)).collect();
                    model.sample(0, &z)
                })
                .collect::<Vec<_>>()
        };
        for s in draw(true) {
            assert!(s.iter().all(|&v| v > 0.0), "{s}");
            assert!((s[1] / s[0] - 2.0).abs() < 1e-9 && (s[2] / s[0] - 4.0).abs() < 1e-9, "the shape is kept: {s}");
        }
        assert!(draw(false).iter().any(|s| s[0] < 0.0), "added noise this wide crosses zero");
    }

    #[test]
    fn erf_matches_known_values() {
        for (x, e) in [(0.0, 0.0), (0.5, 0.520_499_9), (1.0, 0.842_700_8), (-2.0, -0.995_322_3)] {
            assert!((erf(x) - e).abs() < 2e-7, "erf({x}) = {}", erf(x));
        }
    }
}
