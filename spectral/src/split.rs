//! Stratified, seeded train / validation / test splits: of single rows, or of spatially
//! disjoint square blocks of pixels (neighbouring pixels of a field look alike, so a test
//! pixel beside a training pixel of its class flatters every accuracy).

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result};

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
    /// Deal square blocks of this many pixels a side instead of single rows: no block holds
    /// pixels of one class in two splits (`None`: single rows, at random).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<usize>,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self { validation: 0.2, test: 0.2, seed: 0, thin: BTreeMap::new(), blocks: None }
    }
}

/// The block side of `--split blocks` when none is given, pixels.
pub const DEFAULT_BLOCK: usize = 16;

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

/// Splits rows as `config` says: single rows ([`stratified_split`]), or with
/// `config.blocks` square blocks of pixels, each row's pixel given by `positions[row]`
/// (row, column; rows from a spectral library have none, and cannot be split by blocks).
pub fn split_rows(labels: &[u32], positions: Option<&[(usize, usize)]>, config: &SplitConfig) -> Result<Split> {
    let Some(side) = config.blocks else { return Ok(stratified_split(labels, config)) };
    let Some(positions) = positions.filter(|p| p.len() == labels.len()) else {
        return Err(Error::Shape("a split by spatial blocks needs each spectrum's pixel position: give a cube and labels".into()));
    };
    if side == 0 {
        return Err(Error::Shape("spatial blocks need a side of at least 1 pixel".into()));
    }
    Ok(deal(labels, config, |class_rows| {
        let mut blocks: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
        for row in class_rows {
            let (r, c) = positions[row];
            blocks.entry((r / side, c / side)).or_default().push(row);
        }
        blocks.into_values().collect()
    }))
}

/// Splits rows by class: each class is shuffled with `config.seed` and cut into test,
/// validation and training parts of the configured fractions (rounded, test first, and
/// never taking a class's last training row), then the training rows are thinned as
/// `config.thin` says. Rows with label 0 are left out. The result depends only on the
/// labels and the config.
pub fn stratified_split(labels: &[u32], config: &SplitConfig) -> Split {
    deal(labels, config, |rows| rows.into_iter().map(|row| vec![row]).collect())
}

/// Deals each class's groups of rows (`group` makes them from the class's rows, in row
/// order), shuffled with `config.seed`, into test, then validation, until each holds its
/// fraction of the class's rows (rounded; the last group always stays for training), the
/// rest into training; then thins the training rows. Groups of one row give exactly the
/// rounded fractions.
fn deal(labels: &[u32], config: &SplitConfig, group: impl Fn(Vec<usize>) -> Vec<Vec<usize>>) -> Split {
    let mut by_class: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (row, &label) in labels.iter().enumerate().filter(|(_, l)| **l != 0) {
        by_class.entry(label).or_default().push(row);
    }
    let mut split = Split::default();
    for (class, rows) in by_class {
        let n = rows.len();
        let n_test = ((n as f64 * config.test).round() as usize).min(n.saturating_sub(1));
        let n_val = ((n as f64 * config.validation).round() as usize).min((n - n_test).saturating_sub(1));
        let mut groups = group(rows);
        groups.shuffle(&mut class_rng(config.seed, class));
        let last = groups.len().saturating_sub(1);
        let (mut in_test, mut in_validation) = (0, 0);
        for (i, rows) in groups.into_iter().enumerate() {
            if i < last && in_test < n_test {
                in_test += rows.len();
                split.test.extend(rows);
            } else if i < last && in_validation < n_val {
                in_validation += rows.len();
                split.validation.extend(rows);
            } else {
                split.train.extend(rows);
            }
        }
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
    fn blocks_keep_each_class_s_splits_apart_in_space() {
        // A 40 x 40 scene: class 1 on the left half, class 2 on the right, every pixel labelled.
        let positions: Vec<(usize, usize)> = (0..40).flat_map(|r| (0..40).map(move |c| (r, c))).collect();
        let labels: Vec<u32> = positions.iter().map(|&(_, c)| if c < 20 { 1 } else { 2 }).collect();
        let config = SplitConfig { validation: 0.2, test: 0.3, seed: 3, blocks: Some(5), ..SplitConfig::default() };
        let split = split_rows(&labels, Some(&positions), &config).unwrap();
        let block = |row: usize| (positions[row].0 / 5, positions[row].1 / 5, labels[row]);
        let blocks_of = |rows: &[usize]| rows.iter().map(|&r| block(r)).collect::<std::collections::BTreeSet<_>>();
        let (train, validation, test) = (blocks_of(&split.train), blocks_of(&split.validation), blocks_of(&split.test));
        assert!(train.is_disjoint(&test) && train.is_disjoint(&validation) && validation.is_disjoint(&test));
        for class in [1, 2] {
            let count = |rows: &[usize]| rows.iter().filter(|&&r| labels[r] == class).count();
            // 800 pixels a class in blocks of 25: the test share is 240 (the first block past it).
            assert_eq!((count(&split.test), count(&split.validation), count(&split.train)), (250, 175, 375), "class {class}");
        }
        assert_eq!(split, split_rows(&labels, Some(&positions), &config).unwrap(), "same seed, same split");
        let random = SplitConfig { blocks: None, ..config.clone() };
        assert_eq!(split_rows(&labels, None, &random).unwrap(), stratified_split(&labels, &random));
        assert!(split_rows(&labels, None, &config).unwrap_err().to_string().contains("pixel position"));
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
