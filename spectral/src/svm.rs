//! A support vector machine with an RBF kernel (C-SVC, one class against another for every
//! pair, majority vote), the standard pixel classifier of hyperspectral remote sensing; it
//! solves the problem scikit-learn's `SVC` (libsvm) solves, so that the two can check each
//! other.
//!
//! Each pair's dual problem is solved by sequential minimal optimisation with libsvm's
//! second-order working-set selection (Fan, Chen and Lin 2005), without shrinking. Kernel
//! rows are computed when first needed and kept up to [`KERNEL_CACHE_BYTES`] per pair.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;

/// The penalty of a margin violation, as the benchmarks' scikit-learn SVM uses on
/// standardised bands.
pub(crate) const PENALTY: f64 = 100.0;
/// The optimisation stops when the largest violation of the optimality conditions is below
/// this (libsvm's and scikit-learn's default).
const TOLERANCE: f64 = 1e-3;
/// Kernel rows kept per pair; a pair of up to about 5,700 rows keeps all of them.
const KERNEL_CACHE_BYTES: usize = 128 << 20;
/// libsvm's `TAU`: the least curvature assumed along a working pair.
const TAU: f64 = 1e-12;

/// The RBF width `1 / (features · var(x))`, scikit-learn's `gamma = "scale"`.
pub(crate) fn scale_gamma(x: ArrayView2<'_, f64>) -> f64 {
    let n = x.len().max(1) as f64;
    let mean = x.sum() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    if var > 0.0 { 1.0 / (x.ncols() as f64 * var) } else { 1.0 }
}

/// A fitted C-SVC with kernel `exp(-gamma |a - b|²)`, one binary machine for every pair of
/// classes; a row goes to the class that wins the most pairs, the lowest class index among
/// equals (libsvm's vote). The support vectors of all machines are kept once, so a row's
/// kernel values are computed once for every machine, as libsvm does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Svm {
    /// Number of classes (indices `0..classes`).
    pub classes: usize,
    /// The kernel width.
    pub gamma: f64,
    /// Values per row.
    pub features: usize,
    /// The support vectors of every machine, `[vectors, features]` row-major.
    pub support: Vec<f64>,
    /// One machine per pair of classes `(a, b)`, `a < b`, in order.
    pub machines: Vec<Machine>,
}

/// One pair's machine: `f(t) = Σ coef_i K(support_i, t) - rho`, positive for class `a`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// The first class index of the pair.
    pub a: u32,
    /// The second.
    pub b: u32,
    /// Its support vectors, as rows of [`Svm::support`].
    pub support: Vec<u32>,
    /// Their coefficients `alpha_i y_i`.
    pub coef: Vec<f64>,
    /// The offset.
    pub rho: f64,
}

impl Svm {
    /// Fits the machines on `x` (`[n, features]`) with class indices `labels`
    /// (`0..classes`), every pair in parallel.
    pub fn fit(x: ArrayView2<'_, f64>, labels: &[u32], classes: usize, gamma: f64, penalty: f64) -> Self {
        let rows_of: Vec<Vec<usize>> = (0..classes as u32).map(|c| (0..labels.len()).filter(|&i| labels[i] == c).collect()).collect();
        let pairs: Vec<(usize, usize)> = (0..classes).flat_map(|a| (a + 1..classes).map(move |b| (a, b))).collect();
        let fitted: Vec<(Vec<usize>, Vec<f64>, f64)> = pairs
            .par_iter()
            .map(|&(a, b)| {
                let rows: Vec<usize> = rows_of[a].iter().chain(&rows_of[b]).copied().collect();
                let sign: Vec<f64> = rows.iter().map(|&i| if labels[i] == a as u32 { 1.0 } else { -1.0 }).collect();
                let (alpha, rho) = solve(x.select(Axis(0), &rows).view(), &sign, gamma, penalty);
                let support: Vec<usize> = (0..rows.len()).filter(|&t| alpha[t] > 0.0).collect();
                (support.iter().map(|&t| rows[t]).collect(), support.iter().map(|&t| alpha[t] * sign[t]).collect(), rho)
            })
            .collect();
        // Every machine's support vectors, once each, in row order.
        let used: BTreeSet<usize> = fitted.iter().flat_map(|(rows, _, _)| rows.iter().copied()).collect();
        let index: HashMap<usize, u32> = used.iter().enumerate().map(|(i, &r)| (r, i as u32)).collect();
        let machines = pairs
            .iter()
            .zip(fitted)
            .map(|(&(a, b), (rows, coef, rho))| Machine {
                a: a as u32,
                b: b as u32,
                support: rows.iter().map(|r| index[r]).collect(),
                coef,
                rho,
            })
            .collect();
        let support = used.iter().flat_map(|&r| x.row(r).to_vec()).collect();
        Self { classes, gamma, features: x.ncols(), support, machines }
    }

    /// Whether the machine is whole (one read from a file may not be): support vectors of
    /// `features` values, one machine per pair of `classes` classes, each with a coefficient
    /// per support vector it names.
    pub fn check(&self, features: usize, classes: usize) -> std::result::Result<(), String> {
        if (self.features, self.classes) != (features, classes) || !self.support.len().is_multiple_of(features.max(1)) {
            return Err(format!("support vectors of {} features and {} classes for {features} and {classes}", self.features, self.classes));
        }
        let vectors = (self.support.len() / features.max(1)) as u64;
        let pairs = (0..classes as u32).flat_map(|a| (a + 1..classes as u32).map(move |b| (a, b)));
        if !self.machines.iter().map(|m| (m.a, m.b)).eq(pairs) {
            return Err("its machines are not one per pair of classes".into());
        }
        if self.machines.iter().any(|m| m.coef.len() != m.support.len() || m.support.iter().any(|&s| u64::from(s) >= vectors)) {
            return Err("a machine names support vectors it does not hold".into());
        }
        Ok(())
    }

    /// Per row of `test` (`[n, features]`, one thread's chunk of rows: the kernel values
    /// of every row are held at once), the winning class index and the share of its pairs
    /// it won (1 when it won every pair it is in).
    pub fn predict(&self, test: ArrayView2<'_, f64>) -> Vec<(u32, f32)> {
        self.decisions(test).outer_iter().map(|f| self.vote(f)).collect()
    }

    /// The decision values of the rows of `test`, `[n, machines]`.
    fn decisions(&self, test: ArrayView2<'_, f64>) -> Array2<f64> {
        let vectors = self.support.len() / self.features.max(1);
        let support = ArrayView2::from_shape((vectors, self.features), &self.support).expect("support vectors of the stated width");
        let support_norms = squared_norms(support);
        let test_norms = squared_norms(test);
        let mut kernel = test.dot(&support.t());
        for (mut row, &tn) in kernel.outer_iter_mut().zip(&test_norms) {
            row.zip_mut_with(&support_norms, |d, &sn| *d = (-self.gamma * (tn + sn - 2.0 * *d).max(0.0)).exp());
        }
        Array2::from_shape_fn((test.nrows(), self.machines.len()), |(t, m)| {
            let m = &self.machines[m];
            m.support.iter().zip(&m.coef).map(|(&s, &c)| c * kernel[[t, s as usize]]).sum::<f64>() - m.rho
        })
    }

    /// The vote of one row's decision values.
    fn vote(&self, decisions: ArrayView1<'_, f64>) -> (u32, f32) {
        let mut votes = vec![0usize; self.classes];
        for (m, &f) in self.machines.iter().zip(decisions) {
            votes[if f > 0.0 { m.a } else { m.b } as usize] += 1;
        }
        let most = votes.iter().copied().max().unwrap_or(0);
        let winner = votes.iter().position(|&v| v == most).unwrap_or(0);
        (winner as u32, most as f32 / (self.classes.max(2) - 1) as f32)
    }
}

/// Fits a C-SVC on `x` (`[n, features]`) with class ids `labels` and predicts the class ids
/// of `test` ([`Svm`]).
#[cfg(test)]
fn fit_predict(x: ArrayView2<'_, f64>, labels: &[u32], test: ArrayView2<'_, f64>, gamma: f64, penalty: f64) -> Vec<u32> {
    let classes: Vec<u32> = labels.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
    let indices: Vec<u32> = labels.iter().map(|l| classes.binary_search(l).unwrap_or(0) as u32).collect();
    let svm = Svm::fit(x, &indices, classes.len(), gamma, penalty);
    svm.predict(test).into_iter().map(|(c, _)| classes[c as usize]).collect()
}

/// Solves the dual `min ½ αᵀQα - Σα` with `0 ≤ α ≤ penalty`, `Σ y α = 0`,
/// `Q_ij = y_i y_j K_ij`: the multipliers `α` and the offset `rho`.
fn solve(x: ArrayView2<'_, f64>, y: &[f64], gamma: f64, penalty: f64) -> (Vec<f64>, f64) {
    let n = y.len();
    let mut kernel = KernelRows::new(x, gamma);
    let mut alpha = vec![0.0; n];
    // The gradient of the objective, Qα - 1.
    let mut grad = vec![-1.0; n];
    let up = |a: f64, y: f64| if y > 0.0 { a < penalty } else { a > 0.0 };
    let low = |a: f64, y: f64| if y > 0.0 { a > 0.0 } else { a < penalty };
    let max_iterations = (100 * n).max(10_000_000);
    for _ in 0..max_iterations {
        // i: the largest violation from the "up" side.
        let mut gmax = f64::NEG_INFINITY;
        let mut i = usize::MAX;
        for t in 0..n {
            if up(alpha[t], y[t]) && -y[t] * grad[t] >= gmax {
                gmax = -y[t] * grad[t];
                i = t;
            }
        }
        if i == usize::MAX {
            break;
        }
        let ki = kernel.row(i);
        // j: the "low" side partner that decreases the objective most (second order).
        let mut gmax2 = f64::NEG_INFINITY;
        let mut j = usize::MAX;
        let mut best = f64::INFINITY;
        for t in 0..n {
            if !low(alpha[t], y[t]) {
                continue;
            }
            let violation = y[t] * grad[t];
            gmax2 = gmax2.max(violation);
            let diff = gmax + violation;
            if diff > 0.0 {
                // K_ii = K_tt = 1 for the RBF kernel.
                let curvature = (2.0 - 2.0 * f64::from(ki[t])).max(TAU);
                let gain = -diff * diff / curvature;
                if gain <= best {
                    best = gain;
                    j = t;
                }
            }
        }
        if gmax + gmax2 < TOLERANCE || j == usize::MAX {
            break;
        }
        let kj = kernel.row(j);
        let (old_i, old_j) = (alpha[i], alpha[j]);
        update_pair(&mut alpha, &grad, y, (i, j), f64::from(ki[j]), penalty);
        let (di, dj) = (alpha[i] - old_i, alpha[j] - old_j);
        for t in 0..n {
            grad[t] += y[t] * (y[i] * f64::from(ki[t]) * di + y[j] * f64::from(kj[t]) * dj);
        }
    }
    let rho = offset(&alpha, &grad, y, penalty);
    (alpha, rho)
}

/// libsvm's analytic step on the working pair `(i, j)`: the best change of `alpha[i]` and
/// `alpha[j]` that keeps `Σ y α` and the box `[0, penalty]`.
fn update_pair(alpha: &mut [f64], grad: &[f64], y: &[f64], (i, j): (usize, usize), kij: f64, penalty: f64) {
    let c = penalty;
    if y[i] != y[j] {
        let curvature = (2.0 + 2.0 * kij).max(TAU);
        let delta = (-grad[i] - grad[j]) / curvature;
        let diff = alpha[i] - alpha[j];
        alpha[i] += delta;
        alpha[j] += delta;
        if diff > 0.0 && alpha[j] < 0.0 {
            alpha[j] = 0.0;
            alpha[i] = diff;
        } else if diff <= 0.0 && alpha[i] < 0.0 {
            alpha[i] = 0.0;
            alpha[j] = -diff;
        }
        if diff > 0.0 && alpha[i] > c {
            alpha[i] = c;
            alpha[j] = c - diff;
        } else if diff <= 0.0 && alpha[j] > c {
            alpha[j] = c;
            alpha[i] = c + diff;
        }
    } else {
        let curvature = (2.0 - 2.0 * kij).max(TAU);
        let delta = (grad[i] - grad[j]) / curvature;
        let sum = alpha[i] + alpha[j];
        alpha[i] -= delta;
        alpha[j] += delta;
        if sum > c && alpha[i] > c {
            alpha[i] = c;
            alpha[j] = sum - c;
        } else if sum <= c && alpha[j] < 0.0 {
            alpha[j] = 0.0;
            alpha[i] = sum;
        }
        if sum > c && alpha[j] > c {
            alpha[j] = c;
            alpha[i] = sum - c;
        } else if sum <= c && alpha[i] < 0.0 {
            alpha[i] = 0.0;
            alpha[j] = sum;
        }
    }
}

/// The offset `rho`: the mean of `y_t grad_t` over the free multipliers, else the middle of
/// the range the bounded ones leave (libsvm's `calculate_rho`).
fn offset(alpha: &[f64], grad: &[f64], y: &[f64], penalty: f64) -> f64 {
    let (mut upper, mut lower) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut sum, mut free) = (0.0, 0usize);
    for t in 0..y.len() {
        let value = y[t] * grad[t];
        let at_upper = alpha[t] >= penalty;
        let at_lower = alpha[t] <= 0.0;
        if at_upper {
            if y[t] < 0.0 { upper = upper.min(value) } else { lower = lower.max(value) }
        } else if at_lower {
            if y[t] > 0.0 { upper = upper.min(value) } else { lower = lower.max(value) }
        } else {
            free += 1;
            sum += value;
        }
    }
    if free > 0 { sum / free as f64 } else { (upper + lower) / 2.0 }
}

/// Rows of the kernel matrix of a pair's rows, computed on first use and kept while they fit
/// in [`KERNEL_CACHE_BYTES`] (the oldest are dropped first).
struct KernelRows<'a> {
    x: ArrayView2<'a, f64>,
    norms: Array1<f64>,
    gamma: f64,
    rows: Vec<Option<std::sync::Arc<Vec<f32>>>>,
    order: VecDeque<usize>,
    capacity: usize,
}

impl<'a> KernelRows<'a> {
    fn new(x: ArrayView2<'a, f64>, gamma: f64) -> Self {
        let n = x.nrows();
        let capacity = (KERNEL_CACHE_BYTES / (4 * n.max(1))).max(2);
        KernelRows { norms: squared_norms(x), x, gamma, rows: vec![None; n], order: VecDeque::new(), capacity }
    }

    fn row(&mut self, i: usize) -> std::sync::Arc<Vec<f32>> {
        if let Some(row) = &self.rows[i] {
            return row.clone();
        }
        if self.order.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.rows[old] = None;
        }
        let xi: ArrayView1<'_, f64> = self.x.row(i);
        let dots = self.x.dot(&xi);
        let row: Vec<f32> =
            dots.iter().zip(&self.norms).map(|(&d, &nt)| (-self.gamma * (self.norms[i] + nt - 2.0 * d).max(0.0)).exp() as f32).collect();
        let row = std::sync::Arc::new(row);
        self.rows[i] = Some(row.clone());
        self.order.push_back(i);
        row
    }
}

fn squared_norms(x: ArrayView2<'_, f64>) -> Array1<f64> {
    x.outer_iter().map(|r| r.dot(&r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two interleaved half-moons: no straight line separates them, an RBF machine does.
    fn moons(n: usize, shift: f64) -> (Array2<f64>, Vec<u32>) {
        let mut x = Array2::zeros((2 * n, 2));
        let mut y = Vec::with_capacity(2 * n);
        for i in 0..2 * n {
            let t = std::f64::consts::PI * (i / 2) as f64 / n as f64 + shift;
            let upper = i % 2 == 0;
            let (cx, cy) = if upper { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
            x[[i, 0]] = cx;
            x[[i, 1]] = cy;
            y.push(if upper { 1 } else { 2 });
        }
        (x, y)
    }

    #[test]
    fn separates_what_no_line_separates_and_votes_over_pairs() {
        let (x, y) = moons(100, 0.0);
        let (t, truth) = moons(50, 0.013);
        let predicted = fit_predict(x.view(), &y, t.view(), 2.0, PENALTY);
        let right = predicted.iter().zip(&truth).filter(|(p, t)| p == t).count();
        assert!(right >= 98, "{right} of 100");
        // A third class far away: every pair votes, each row keeps its class.
        let mut x3 = x.clone();
        x3.push_row(ndarray::array![5.0, 5.0].view()).unwrap();
        x3.push_row(ndarray::array![5.2, 5.1].view()).unwrap();
        let mut y3 = y.clone();
        y3.extend([3, 3]);
        let probe = ndarray::array![[5.1, 5.0], [0.0, 1.0], [1.0, -0.5]];
        assert_eq!(fit_predict(x3.view(), &y3, probe.view(), 2.0, PENALTY), vec![3, 1, 2]);
    }

    #[test]
    fn the_solution_meets_the_optimality_conditions() {
        let (x, y) = moons(60, 0.0);
        // Class 1 first: the order the machine of the pair sees its rows in.
        let mut order: Vec<usize> = (0..y.len()).collect();
        order.sort_by_key(|&i| y[i]);
        let (x, y): (Array2<f64>, Vec<u32>) = (x.select(Axis(0), &order), order.iter().map(|&i| y[i]).collect());
        let sign: Vec<f64> = y.iter().map(|&c| if c == 1 { 1.0 } else { -1.0 }).collect();
        let (alpha, _) = solve(x.view(), &sign, 1.0, 10.0);
        let indices: Vec<u32> = y.iter().map(|&c| c - 1).collect();
        let machine = Svm::fit(x.view(), &indices, 2, 1.0, 10.0);
        // Σ y α = 0 and 0 ≤ α ≤ C.
        assert!(alpha.iter().zip(&sign).map(|(a, s)| a * s).sum::<f64>().abs() < 1e-9);
        assert!(alpha.iter().all(|&a| (0.0..=10.0).contains(&a)));
        // Karush-Kuhn-Tucker conditions, to the solver's tolerance: y f ≥ 1 where α = 0,
        // y f = 1 where 0 < α < C, y f ≤ 1 where α = C.
        let f = machine.decisions(x.view()).column(0).to_vec();
        for t in 0..sign.len() {
            let margin = sign[t] * f[t];
            let ok = if alpha[t] == 0.0 {
                margin >= 1.0 - 2e-3
            } else if alpha[t] >= 10.0 {
                margin <= 1.0 + 2e-3
            } else {
                (margin - 1.0).abs() <= 2e-3
            };
            assert!(ok, "row {t}: α {} and y f {margin}", alpha[t]);
        }
        assert!(f.iter().zip(&sign).all(|(f, s)| f * s > 0.0), "moons are separable with this kernel");
    }

    #[test]
    fn gamma_scale_is_one_over_features_times_variance() {
        let x = ndarray::array![[0.0, 2.0], [2.0, 0.0]];
        // Values 0, 2, 2, 0: variance 1; two features.
        assert!((scale_gamma(x.view()) - 0.5).abs() < 1e-12);
    }
}
