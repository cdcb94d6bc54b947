//! The pixel classifiers (a random forest, an RBF support vector machine and nearest
//! neighbours, all our own), on standardised spectra projected on their principal
//! components, and the scores they are judged by. The quality report fits them to judge
//! synthetic spectra; `classify` fits one, saves it and maps scenes with it.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::forest::Forest;
use crate::pca::principal_axes;
use crate::svm::{self, Svm};
use crate::{Error, Result};

/// Trees of every random forest (scikit-learn's default).
pub const TREES: usize = 100;
/// Neighbours of every k-nearest-neighbour vote.
const NEIGHBOURS: usize = 5;
/// Classifiers see this many principal components of the standardised bands, as is usual
/// for hyperspectral classifiers; it also keeps their cost independent of the band count.
const FEATURES: usize = 30;
/// Rows predicted at once by every classifier: a task for one thread, which bounds the
/// SVM's kernel values and the neighbours' distances to this many rows at a time.
pub(crate) const PREDICT_ROWS: usize = 256;

/// A kind of classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClassifierKind {
    /// A random forest of 100 trees grown until their leaves are pure, on bootstrap samples,
    /// each split the best Gini split over sqrt(features) features drawn at random (as
    /// scikit-learn's `RandomForestClassifier()`), seeded.
    RandomForest,
    /// A support vector machine with an RBF kernel, C = 100 and scikit-learn's
    /// `gamma = "scale"`, one against one.
    RbfSvm,
    /// 5 nearest neighbours by Euclidean distance, majority vote (ties to the class of the
    /// nearest of the tied).
    NearestNeighbours,
}

impl ClassifierKind {
    /// Every kind, in report order.
    pub const ALL: [ClassifierKind; 3] = [ClassifierKind::RandomForest, ClassifierKind::RbfSvm, ClassifierKind::NearestNeighbours];

    /// The name options and job files give it (`classify --classifier`, `[classify]`).
    pub fn option_name(self) -> &'static str {
        match self {
            ClassifierKind::RandomForest => "random-forest",
            ClassifierKind::RbfSvm => "rbf-svm",
            ClassifierKind::NearestNeighbours => "knn",
        }
    }

    /// The kind whose [`ClassifierKind::option_name`] is `name`.
    pub fn from_option_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.option_name() == name)
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            ClassifierKind::RandomForest => "random_forest",
            ClassifierKind::RbfSvm => "rbf_svm",
            ClassifierKind::NearestNeighbours => "knn",
        }
    }
}

/// The features every classifier sees: bands standardised with the training rows' mean and
/// standard deviation (so that no band dominates by its units), projected on the first 30
/// principal axes of the standardised training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureMap {
    /// Per band, the training rows' mean.
    pub mean: Vec<f64>,
    /// Per band, the training rows' standard deviation (1 where it is 0).
    pub std: Vec<f64>,
    /// Per band, the mean of the standardised training rows.
    pub centre: Vec<f64>,
    /// `[bands, features]` row-major: the principal axes.
    pub axes: Vec<f64>,
    /// Number of features (columns of `axes`).
    pub features: usize,
}

impl FeatureMap {
    /// Fitted on `train` (`[n, bands]`).
    pub fn fit(train: ArrayView2<'_, f32>) -> Result<Self> {
        let train = train.mapv(f64::from);
        let mean = train.mean_axis(Axis(0)).ok_or_else(|| Error::Shape("no training rows".into()))?;
        let std = train.std_axis(Axis(0), 0.0).mapv(|s| if s > 0.0 { s } else { 1.0 });
        let (centre, axes) = principal_axes(&((&train - &mean) / &std), FEATURES)?;
        Ok(Self {
            features: axes.ncols(),
            mean: mean.to_vec(),
            std: std.to_vec(),
            centre: centre.to_vec(),
            axes: axes.iter().copied().collect(),
        })
    }

    /// Bands per row.
    pub fn bands(&self) -> usize {
        self.mean.len()
    }

    /// The features of `x` (`[n, bands]`), `[n, features]`.
    pub fn apply(&self, x: ArrayView2<'_, f32>) -> Array2<f64> {
        let bands = self.bands();
        let axes = ArrayView2::from_shape((bands, self.features), &self.axes).expect("axes of the stated shape");
        // In `x`'s own memory order (a band-major block's transposed view stays band-major).
        let mut z = x.mapv(f64::from);
        for (b, mut column) in z.axis_iter_mut(Axis(1)).enumerate() {
            column.mapv_inplace(|v| (v - self.mean[b]) / self.std[b] - self.centre[b]);
        }
        z.dot(&axes)
    }
}

/// A fitted classifier: the features it sees, the model, and the class ids it predicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classifier {
    /// Which classifier.
    pub kind: ClassifierKind,
    /// The class ids, ascending; models predict indices into it.
    pub classes: Vec<u32>,
    /// The features.
    pub features: FeatureMap,
    /// The fitted model.
    pub model: Model,
}

/// The fitted model of a [`Classifier`], on its features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// A random forest.
    RandomForest(Forest),
    /// An RBF support vector machine.
    RbfSvm(Svm),
    /// The training rows' features and class indices.
    NearestNeighbours {
        /// `[rows, features]` row-major.
        rows: Vec<f64>,
        /// Class index per row.
        labels: Vec<u32>,
    },
}

impl Classifier {
    /// Fits a `kind` classifier on `train` (`[n, bands]`) with class ids `labels` (at least
    /// two distinct); `seed` draws the forest.
    pub fn fit(kind: ClassifierKind, train: ArrayView2<'_, f32>, labels: &[u32], seed: u64) -> Result<Self> {
        if train.nrows() != labels.len() {
            return Err(Error::Shape(format!("{} training rows with {} labels", train.nrows(), labels.len())));
        }
        let classes: Vec<u32> = labels.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
        if classes.len() < 2 {
            return Err(Error::Shape(format!("a classifier needs two classes to learn, the training rows have {}", classes.len())));
        }
        let indices: Vec<u32> = labels.iter().map(|l| classes.binary_search(l).unwrap_or(0) as u32).collect();
        let features = FeatureMap::fit(train)?;
        let x = features.apply(train);
        let model = match kind {
            ClassifierKind::RandomForest => {
                let values: Vec<f64> = x.iter().copied().collect();
                Model::RandomForest(Forest::fit(&values, x.ncols(), &indices, classes.len(), TREES, seed))
            }
            ClassifierKind::RbfSvm => Model::RbfSvm(Svm::fit(x.view(), &indices, classes.len(), svm::scale_gamma(x.view()), svm::PENALTY)),
            ClassifierKind::NearestNeighbours => Model::NearestNeighbours { rows: x.iter().copied().collect(), labels: indices },
        };
        Ok(Self { kind, classes, features, model })
    }

    /// Whether the parts fit together, as [`Classifier::fit`] makes them (a classifier read
    /// from a file may not): classes ascending, the feature map's arrays of its band and
    /// feature counts, the model on those features and classes.
    pub fn check(&self) -> Result<()> {
        let f = &self.features;
        let bands = f.bands();
        if self.classes.len() < 2 || !self.classes.windows(2).all(|w| w[0] < w[1]) {
            return Err(Error::Shape("its classes are not two or more ascending ids".into()));
        }
        if bands == 0 || f.std.len() != bands || f.centre.len() != bands || f.axes.len() != bands * f.features {
            return Err(Error::Shape(format!("its feature map does not hold {bands} bands by {} features", f.features)));
        }
        let classes = self.classes.len();
        match &self.model {
            Model::RandomForest(forest) => forest.check(f.features, classes),
            Model::RbfSvm(svm) => svm.check(f.features, classes),
            Model::NearestNeighbours { rows, labels } => {
                if rows.len() != labels.len() * f.features || labels.is_empty() || labels.iter().any(|&l| l as usize >= classes) {
                    Err(format!("its {} neighbours do not hold {} features and a class each", labels.len(), f.features))
                } else {
                    Ok(())
                }
            }
        }
        .map_err(Error::Shape)
    }

    /// Per row of `x` (`[n, bands]`, the bands it was fitted on), the predicted class id
    /// and its confidence in `[0, 1]`: the forest's mean probability of the class, the
    /// share of the SVM's pairs the class won, the share of the neighbours of the class.
    pub fn predict(&self, x: ArrayView2<'_, f32>) -> Result<Vec<(u32, f32)>> {
        if x.ncols() != self.features.bands() {
            return Err(Error::Shape(format!("{} bands for a classifier fitted on {}", x.ncols(), self.features.bands())));
        }
        self.predict_rows(x.nrows(), |rows| x.slice(ndarray::s![rows, ..]).to_owned())
    }

    /// [`Classifier::predict`] of `n` rows made on demand: `rows(range)` gives the rows
    /// `range` (`[range.len(), bands]`), chunk by chunk on every core, so that the rows
    /// need never be held all at once (a mapped scene's pixels gathered from its bands).
    pub fn predict_rows(&self, n: usize, rows: impl Fn(Range<usize>) -> Array2<f32> + Sync) -> Result<Vec<(u32, f32)>> {
        let neighbours = match &self.model {
            Model::NearestNeighbours { rows: train, labels } => {
                let train = ArrayView2::from_shape((labels.len(), self.features.features), train)
                    .map_err(|e| Error::Shape(format!("nearest neighbours: {e}")))?;
                let norms: Vec<f64> = train.outer_iter().map(|r| r.dot(&r)).collect();
                Some(Neighbours { train, norms, labels })
            }
            _ => None,
        };
        let chunks: Vec<Range<usize>> = (0..n).step_by(PREDICT_ROWS).map(|start| start..(start + PREDICT_ROWS).min(n)).collect();
        let predicted: Vec<Vec<(u32, f32)>> = chunks
            .into_par_iter()
            .map(|range| {
                let (len, x) = (range.len(), rows(range));
                if x.dim() != (len, self.features.bands()) {
                    return Err(Error::Shape(format!("rows of shape {:?} for {len} rows of {} bands", x.dim(), self.features.bands())));
                }
                Ok(self.predict_chunk(x.view(), neighbours.as_ref()))
            })
            .collect::<Result<_>>()?;
        Ok(predicted.into_iter().flatten().map(|(c, confidence)| (self.classes[c as usize], confidence)).collect())
    }

    /// The class indices and confidences of the rows of `x`, one thread's chunk.
    fn predict_chunk(&self, x: ArrayView2<'_, f32>, neighbours: Option<&Neighbours<'_>>) -> Vec<(u32, f32)> {
        let t = self.features.apply(x);
        match (&self.model, neighbours) {
            (Model::RbfSvm(svm), _) => svm.predict(t.view()),
            (Model::RandomForest(forest), _) => {
                let t = t.as_standard_layout();
                most_probable(&forest.probabilities(t.as_slice().expect("a standard-layout array")), self.classes.len())
            }
            (Model::NearestNeighbours { .. }, Some(neighbours)) => nearest_vote(neighbours, self.classes.len(), t.view()),
            (Model::NearestNeighbours { .. }, None) => unreachable!("the neighbours are viewed in predict_rows"),
        }
    }
}

/// Per row of `probabilities` (`classes` values each), the most probable class index
/// (the first of equals) and its probability.
fn most_probable(probabilities: &[f64], classes: usize) -> Vec<(u32, f32)> {
    probabilities
        .chunks_exact(classes.max(1))
        .map(|p| {
            let (best, share) = p.iter().enumerate().fold((0, f64::MIN), |m, (k, &v)| if v > m.1 { (k, v) } else { m });
            (best as u32, share as f32)
        })
        .collect()
}

/// The training rows of a nearest-neighbours model, viewed once per prediction.
struct Neighbours<'a> {
    /// `[n, features]`.
    train: ArrayView2<'a, f64>,
    /// Each training row's squared norm.
    norms: Vec<f64>,
    /// Each training row's class index.
    labels: &'a [u32],
}

/// The [`NEIGHBOURS`]-nearest vote for every row of `t` (one thread's chunk) among the
/// training rows.
fn nearest_vote(neighbours: &Neighbours<'_>, classes: usize, t: ArrayView2<'_, f64>) -> Vec<(u32, f32)> {
    let Neighbours { train, norms: train_norms, labels } = neighbours;
    let k = NEIGHBOURS.min(labels.len());
    let dots = t.dot(&train.t());
    dots.outer_iter()
        .map(|d| {
            // |t - x|² without |t|², which is the same for every training row.
            let mut order: Vec<(f64, usize)> = d.iter().zip(train_norms).enumerate().map(|(i, (&d, &n))| (n - 2.0 * d, i)).collect();
            order.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let nearest = &mut order[..k];
            nearest.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut votes = vec![0usize; classes];
            for &(_, i) in nearest.iter() {
                votes[labels[i] as usize] += 1;
            }
            let most = votes.iter().copied().max().unwrap_or(0);
            let winner = nearest.iter().map(|&(_, i)| labels[i]).find(|&c| votes[c as usize] == most).unwrap_or(0);
            (winner, most as f32 / k as f32)
        })
        .collect()
}

/// Fits a `kind` classifier on `train` (`[n, bands]`) with `labels` and predicts the labels
/// of `test` ([`Classifier`]).
pub fn fit_predict(
    kind: ClassifierKind,
    train: ArrayView2<'_, f32>,
    labels: &[u32],
    test: ArrayView2<'_, f32>,
    seed: u64,
) -> Result<Vec<u32>> {
    if train.ncols() != test.ncols() {
        return Err(Error::Shape(format!("{} training bands and {} test bands", train.ncols(), test.ncols())));
    }
    if test.nrows() == 0 {
        return Ok(Vec::new());
    }
    let classifier = Classifier::fit(kind, train, labels, seed)?;
    Ok(classifier.predict(test)?.into_iter().map(|(c, _)| c).collect())
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
