//! Stratified, seeded train / validation / test splits.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Fractions of each class held out for validation and test; the rest is training,
/// optionally thinned. Serialised as a spectral model records it (card `training.split`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitConfig {
    /// Fraction of each class for validation (0..1).
    pub validation: f64,
    /// Fraction of each class for the untouched test split (0..1).
    pub test: f64,
    /// Seed of the shuffles.
    pub seed: u64,
    /// At most this many training rows for these classes (a random subset), to simulate
    /// scarce classes; validation and test rows are untouched.
    #[serde(default)]
    pub thin: BTreeMap<u32, usize>,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self { validation: 0.2, test: 0.2, seed: 0, thin: BTreeMap::new() }
    }
}

/// Row indices of each split.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows (model selection only).
    pub validation: Vec<usize>,
    /// Test rows, never seen by training.
    pub test: Vec<usize>,
}

/// The random generator of `class` under `seed`: every per-class draw (split, thinning,
/// subsamples, oversampling) uses its own, so one class's draws never shift another's.
pub(crate) fn class_rng(seed: u64, class: u32) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ (u64::from(class) << 32))
}

/// Splits rows by class: each class is shuffled with `config.seed` and cut into test,
/// validation and training parts of the configured fractions (rounded, test first, and
/// never taking a class's last training row), then the training rows are thinned as
/// `config.thin` says. Rows with label 0 are left out. The result depends only on the
/// labels and the config.
pub fn stratified_split(labels: &[u32], config: &SplitConfig) -> Split {
    let mut by_class: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (row, &label) in labels.iter().enumerate().filter(|(_, l)| **l != 0) {
        by_class.entry(label).or_default().push(row);
    }
    let mut split = Split::default();
    for (class, mut rows) in by_class {
        rows.shuffle(&mut class_rng(config.seed, class));
        let n = rows.len();
        let n_test = ((n as f64 * config.test).round() as usize).min(n.saturating_sub(1));
        let n_val = ((n as f64 * config.validation).round() as usize).min((n - n_test).saturating_sub(1));
        split.test.extend_from_slice(&rows[..n_test]);
        split.validation.extend_from_slice(&rows[n_test..n_test + n_val]);
        split.train.extend_from_slice(&rows[n_test + n_val..]);
    }
    split.train.sort_unstable();
    split.validation.sort_unstable();
    split.test.sort_unstable();
    thin_training(&mut split, labels, &config.thin, config.seed);
    split
}

/// Keeps at most `limit[class]` training rows of the listed classes, a random subset drawn
/// with `seed`.
fn thin_training(split: &mut Split, labels: &[u32], limit: &BTreeMap<u32, usize>, seed: u64) {
    let mut dropped = Vec::new();
    for (&class, &max) in limit {
        let mut rows: Vec<usize> = split.train.iter().copied().filter(|&r| labels[r] == class).collect();
        rows.shuffle(&mut class_rng(seed ^ 0x7417, class));
        dropped.extend(rows.into_iter().skip(max));
    }
    dropped.sort_unstable();
    split.train.retain(|r| dropped.binary_search(r).is_err());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_each_class_by_fraction_and_seed() {
        let labels: Vec<u32> = (0..100)
            .map(|i| {
                if i < 80 {
                    1
                } else if i < 90 {
                    2
                } else {
                    0
                }
            })
            .collect();
        let config = SplitConfig { validation: 0.25, test: 0.25, seed: 7, ..SplitConfig::default() };
        let split = stratified_split(&labels, &config);
        let count = |rows: &[usize], c: u32| rows.iter().filter(|&&r| labels[r] == c).count();
        assert_eq!((count(&split.train, 1), count(&split.validation, 1), count(&split.test, 1)), (40, 20, 20));
        // 10 x 0.25 = 2.5 rounds up.
        assert_eq!((count(&split.train, 2), count(&split.validation, 2), count(&split.test, 2)), (4, 3, 3));
        assert_eq!(split.train.len() + split.validation.len() + split.test.len(), 90, "label 0 left out");
        assert_eq!(split, stratified_split(&labels, &config), "same seed, same split");
        assert_ne!(split, stratified_split(&labels, &SplitConfig { seed: 8, ..config.clone() }));
    }

    #[test]
    fn tiny_classes_keep_a_training_row() {
        let split = stratified_split(&[3, 3], &SplitConfig { validation: 0.5, test: 0.5, ..SplitConfig::default() });
        assert_eq!(split.train.len(), 1);
        let split = stratified_split(&[3], &SplitConfig::default());
        assert_eq!(split.train, vec![0]);
    }

    #[test]
    fn thinning_caps_training_rows_only() {
        let labels = vec![1u32; 50];
        let before = stratified_split(&labels, &SplitConfig::default());
        let split = stratified_split(&labels, &SplitConfig { thin: BTreeMap::from([(1, 5)]), ..SplitConfig::default() });
        assert_eq!(split.train.len(), 5);
        assert!(split.train.iter().all(|r| before.train.contains(r)));
        assert_eq!((split.validation, split.test), (before.validation, before.test));
    }
}
