//! The classifiers of the quality report (a random forest and nearest neighbours from
//! smartcore, an RBF support vector machine of our own), on standardised spectra, and the
//! scores they are judged by.

use std::collections::{BTreeMap, BTreeSet};

use ndarray::{Array2, ArrayView2, Axis};
use smartcore::ensemble::random_forest_classifier::{RandomForestClassifier, RandomForestClassifierParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::neighbors::knn_classifier::{KNNClassifier, KNNClassifierParameters};

use crate::pca::principal_axes;
use crate::svm;
use crate::{Error, Result};

/// Trees of every random forest.
const TREES: u16 = 32;
/// Neighbours of every k-nearest-neighbour vote.
const NEIGHBOURS: usize = 5;
/// Classifiers see this many principal components of the standardised bands, as is usual
/// for hyperspectral classifiers; it also keeps their cost independent of the band count.
const FEATURES: usize = 30;

/// A kind of classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClassifierKind {
    /// A random forest of 32 trees (Gini, sqrt(features) candidates per split), seeded.
    RandomForest,
    /// A support vector machine with an RBF kernel, C = 100 and scikit-learn's
    /// `gamma = "scale"`, one against one.
    RbfSvm,
    /// 5 nearest neighbours by Euclidean distance, majority vote.
    NearestNeighbours,
}

impl ClassifierKind {
    /// Every kind, in report order.
    pub const ALL: [ClassifierKind; 3] = [ClassifierKind::RandomForest, ClassifierKind::RbfSvm, ClassifierKind::NearestNeighbours];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            ClassifierKind::RandomForest => "random_forest",
            ClassifierKind::RbfSvm => "rbf_svm",
            ClassifierKind::NearestNeighbours => "knn",
        }
    }
}

/// Fits a `kind` classifier on `train` (`[n, bands]`) with `labels` and predicts the labels
/// of `test`. Both are standardised per band with the training rows' mean and standard
/// deviation (so that no band dominates by its units), then projected on the first 30
/// principal components of the standardised training rows.
pub fn fit_predict(
    kind: ClassifierKind,
    train: ArrayView2<'_, f32>,
    labels: &[u32],
    test: ArrayView2<'_, f32>,
    seed: u64,
) -> Result<Vec<u32>> {
    if train.nrows() != labels.len() || train.ncols() != test.ncols() {
        return Err(Error::Shape(format!(
            "{} training rows with {} labels, {} training bands and {} test bands",
            train.nrows(),
            labels.len(),
            train.ncols(),
            test.ncols()
        )));
    }
    if test.nrows() == 0 {
        return Ok(Vec::new());
    }
    let distinct: BTreeSet<u32> = labels.iter().copied().collect();
    if distinct.len() < 2 {
        return Err(Error::Shape(format!("a classifier needs two classes to learn, the training rows have {}", distinct.len())));
    }
    let (x, t) = features(train, test)?;
    let failed = |e: smartcore::error::Failed| Error::Classifier(format!("{}: {e}", kind.name()));
    let y = labels.to_vec();
    match kind {
        ClassifierKind::RandomForest => {
            let params = RandomForestClassifierParameters::default().with_n_trees(TREES).with_seed(seed);
            let (x, t) = (dense(&x)?, dense(&t)?);
            RandomForestClassifier::fit(&x, &y, params).and_then(|m| m.predict(&t)).map_err(failed)
        }
        ClassifierKind::RbfSvm => Ok(svm::fit_predict(x.view(), labels, t.view(), svm::scale_gamma(x.view()), svm::PENALTY)),
        ClassifierKind::NearestNeighbours => {
            let params = KNNClassifierParameters::default().with_k(NEIGHBOURS.min(labels.len()));
            let (x, t) = (dense(&x)?, dense(&t)?);
            KNNClassifier::fit(&x, &y, params).and_then(|m| m.predict(&t)).map_err(failed)
        }
    }
}

/// `train` and `test` standardised with `train`'s per-band mean and standard deviation
/// and projected on its first [`FEATURES`] principal axes.
fn features(train: ArrayView2<'_, f32>, test: ArrayView2<'_, f32>) -> Result<(Array2<f64>, Array2<f64>)> {
    let train = train.mapv(f64::from);
    let mean = train.mean_axis(Axis(0)).ok_or_else(|| Error::Shape("no training rows".into()))?;
    let std = train.std_axis(Axis(0), 0.0).mapv(|s| if s > 0.0 { s } else { 1.0 });
    let z = (&train - &mean) / &std;
    let (centre, axes) = principal_axes(&z, FEATURES)?;
    let project = |x: Array2<f64>| (x - &centre).dot(&axes);
    Ok((project(z), project((&test.mapv(f64::from) - &mean) / &std)))
}

/// `x` as a smartcore matrix.
fn dense(x: &Array2<f64>) -> Result<DenseMatrix<f64>> {
    DenseMatrix::new(x.nrows(), x.ncols(), x.iter().copied().collect(), false).map_err(|e| Error::Shape(e.to_string()))
}

/// How well predictions match the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// Overall accuracy: the share of rows predicted right.
    pub overall_accuracy: f64,
    /// The unweighted mean of the per-class F1 scores.
    pub macro_f1: f64,
    /// F1 per class of the truth (2 precision recall / (precision + recall); 0 when the
    /// class is never predicted right).
    pub f1: BTreeMap<u32, f64>,
}

/// Scores `predicted` against `truth` (same length, at least one row).
pub fn scores(truth: &[u32], predicted: &[u32]) -> Scores {
    let mut f1 = BTreeMap::new();
    for &class in truth.iter().collect::<BTreeSet<_>>() {
        let hit = truth.iter().zip(predicted).filter(|(t, p)| **t == class && **p == class).count() as f64;
        let actual = truth.iter().filter(|&&t| t == class).count() as f64;
        let claimed = predicted.iter().filter(|&&p| p == class).count() as f64;
        f1.insert(class, if hit > 0.0 { 2.0 * hit / (actual + claimed) } else { 0.0 });
    }
    let right = truth.iter().zip(predicted).filter(|(t, p)| t == p).count();
    Scores { overall_accuracy: right as f64 / truth.len().max(1) as f64, macro_f1: f1.values().sum::<f64>() / f1.len().max(1) as f64, f1 }
}

/// The mean over the classes of `truth` of the share of their rows predicted right
/// (recall); 0.5 for a two-class guess.
pub fn balanced_accuracy(truth: &[u32], predicted: &[u32]) -> f64 {
    let classes: BTreeSet<u32> = truth.iter().copied().collect();
    let recall = |class: u32| {
        let rows = truth.iter().filter(|&&t| t == class).count() as f64;
        truth.iter().zip(predicted).filter(|(t, p)| **t == class && **p == class).count() as f64 / rows
    };
    classes.iter().map(|&c| recall(c)).sum::<f64>() / classes.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn scores_by_hand() {
        // Class 1: 2 right of 3, claimed 3 times -> F1 = 4/6. Class 2: 1 right of 1,
        // claimed once -> 1. Class 3: 0 right -> 0.
        let truth = [1, 1, 1, 2, 3];
        let predicted = [1, 1, 3, 2, 1];
        let s = scores(&truth, &predicted);
        assert!((s.overall_accuracy - 0.6).abs() < 1e-12);
        assert!((s.f1[&1] - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(s.f1[&2], 1.0);
        assert_eq!(s.f1[&3], 0.0);
        assert!((s.macro_f1 - (4.0 / 6.0 + 1.0) / 3.0).abs() < 1e-12);
        assert!((balanced_accuracy(&truth, &predicted) - (2.0 / 3.0 + 1.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn every_kind_learns_separable_classes_and_refuses_one_class() {
        // Two classes 10 units apart in every band, with a little spread.
        let train = Array2::from_shape_fn((40, 3), |(i, b)| (i % 2) as f32 * 10.0 + ((i + b) % 5) as f32 * 0.1);
        let labels: Vec<u32> = (0..40).map(|i| 1 + (i % 2) as u32).collect();
        let test = Array2::from_shape_vec((2, 3), vec![0.2, 0.1, 0.3, 10.2, 10.1, 10.3]).unwrap();
        for kind in ClassifierKind::ALL {
            assert_eq!(fit_predict(kind, train.view(), &labels, test.view(), 0).unwrap(), vec![1, 2], "{kind:?}");
        }
        assert!(fit_predict(ClassifierKind::RandomForest, train.view(), &[1; 40], test.view(), 0).is_err());
    }
}
