//! The quality report's numbers: is a set of synthetic spectra like the real ones, not a
//! copy of the training pixels, and does it help a classifier more than the cheap
//! alternatives? Every real reference here is the untouched test split unless a field
//! says otherwise.

use std::collections::{BTreeMap, BTreeSet};

use ndarray::{Array2, ArrayView2, Axis, concatenate};
use rand::seq::SliceRandom;
use rayon::prelude::*;

use crate::classify::{ClassifierKind, Scores, fit_predict, scores};
use crate::metrics::{c2st, ks_per_band, mean_closest_distance, mean_pairwise_angle_deg, mean_spectrum, mmd_rbf, spectral_angle_deg};
use crate::oversample::{Oversampler, oversample};
use crate::split::class_rng;
use crate::{Error, Result};

/// Spectra (`[n, bands]`) with a class id per row.
#[derive(Debug, Clone, Copy)]
pub struct LabelledView<'a> {
    /// The spectra.
    pub spectra: ArrayView2<'a, f32>,
    /// Class id per row.
    pub labels: &'a [u32],
}

impl LabelledView<'_> {
    /// The rows of `class`.
    pub fn rows_of(&self, class: u32) -> Vec<usize> {
        self.labels.iter().enumerate().filter(|(_, l)| **l == class).map(|(i, _)| i).collect()
    }

    /// The spectra of `class`.
    pub fn class_spectra(&self, class: u32) -> Array2<f32> {
        self.spectra.select(Axis(0), &self.rows_of(class))
    }

    fn classes(&self) -> BTreeSet<u32> {
        self.labels.iter().copied().collect()
    }
}

/// Settings of the quality computation.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityConfig {
    /// Seed of every subsample, fold and classifier.
    pub seed: u64,
    /// Folds of the classifier two-sample test.
    pub folds: usize,
    /// Classifiers see at most this many real and this many added rows per class, and
    /// every metric at most this many rows per set and class (seeded subsamples), so that
    /// the report's cost does not grow with the scene.
    pub max_rows_per_class: usize,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self { seed: 0, folds: 5, max_rows_per_class: 300 }
    }
}

/// What a classifier was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TrainingSet {
    /// The real training rows alone.
    Real,
    /// Real rows plus random copies of them, as many per class as there are synthetic rows.
    RandomOversampling,
    /// Real rows plus as many SMOTE rows.
    Smote,
    /// Real rows plus the synthetic rows.
    Gan,
}

impl TrainingSet {
    /// Every set, in report order.
    pub const ALL: [TrainingSet; 4] = [TrainingSet::Real, TrainingSet::RandomOversampling, TrainingSet::Smote, TrainingSet::Gan];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            TrainingSet::Real => "real",
            TrainingSet::RandomOversampling => "real+oversampling",
            TrainingSet::Smote => "real+smote",
            TrainingSet::Gan => "real+gan",
        }
    }
}

/// The numbers of one class that has synthetic rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassQuality {
    /// The class id.
    pub class: u32,
    /// Real training rows.
    pub real_train: usize,
    /// Real test rows.
    pub real_test: usize,
    /// Synthetic rows.
    pub synthetic: usize,
    /// Spectral angle between the synthetic and the real mean spectrum, degrees.
    pub mean_angle_deg: f64,
    /// Mean pairwise spectral angle of the synthetic rows over that of the real ones
    /// (1 ideal; below 1 the synthetic rows are too alike, above too spread).
    pub diversity_ratio: f64,
    /// Kolmogorov-Smirnov statistic per band, synthetic vs real.
    pub ks: Vec<f64>,
    /// Squared MMD (RBF kernel, median heuristic), synthetic vs real.
    pub mmd: f64,
    /// Classifier two-sample test per classifier: balanced accuracy (0.5 ideal).
    pub c2st: BTreeMap<ClassifierKind, f64>,
    /// Mean distance of synthetic rows to their closest training row over that of real
    /// test rows (below 1 suggests copying of training pixels).
    pub dcr_ratio: f64,
    /// F1 on real test rows of a classifier that saw only synthetic rows of this class.
    pub tstr_f1: BTreeMap<ClassifierKind, f64>,
}

impl ClassQuality {
    /// The largest per-band KS statistic (NaN when no band has one).
    pub fn ks_max(&self) -> f64 {
        self.ks.iter().copied().filter(|v| v.is_finite()).fold(f64::NAN, f64::max)
    }

    /// The mean per-band KS statistic over the bands that have one (NaN when none has).
    pub fn ks_mean(&self) -> f64 {
        let finite: Vec<f64> = self.ks.iter().copied().filter(|v| v.is_finite()).collect();
        finite.iter().sum::<f64>() / finite.len() as f64
    }
}

/// One classifier's result on the real test rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Lift {
    /// The classifier.
    pub classifier: ClassifierKind,
    /// What it was trained on.
    pub training_set: TrainingSet,
    /// Its scores on the real test rows.
    pub scores: Scores,
    /// Its prediction per real test row scored (see [`Quality::test_labels`]).
    pub predicted: Vec<u32>,
}

/// Everything the report shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Quality {
    /// Per class with synthetic rows, by class id.
    pub classes: Vec<ClassQuality>,
    /// Every classifier on every training set.
    pub lift: Vec<Lift>,
    /// The classes of the real test rows the classifiers were scored on (at most
    /// `max_rows_per_class` per class).
    pub test_labels: Vec<u32>,
}

impl Quality {
    /// `classifier` trained on `set`, scored (`None` if the report did not fit it).
    pub fn lift_of(&self, classifier: ClassifierKind, set: TrainingSet) -> Option<&Lift> {
        self.lift.iter().find(|l| l.classifier == classifier && l.training_set == set)
    }
}

/// Computes the report's numbers: per class of `synthetic`, its likeness to the class's
/// rows of `test` and its distance from `train`; then each classifier kind trained on
/// each [`TrainingSet`] and scored on `test`.
pub fn quality<'a>(
    train: LabelledView<'a>,
    test: LabelledView<'a>,
    synthetic: LabelledView<'a>,
    config: &QualityConfig,
) -> Result<Quality> {
    let bands = train.spectra.ncols();
    if test.spectra.ncols() != bands || synthetic.spectra.ncols() != bands {
        return Err(Error::Shape(format!(
            "real training rows have {bands} bands, real test rows {}, synthetic rows {}",
            test.spectra.ncols(),
            synthetic.spectra.ncols()
        )));
    }
    let cap = Subsampler { max: config.max_rows_per_class, seed: config.seed };
    let (train_c, test_c, synthetic_c) = (cap.apply(train), cap.apply(test), cap.apply(synthetic));
    let (train_c, test_c, synthetic_c) = (train_c.view(), test_c.view(), synthetic_c.view());

    let added: BTreeMap<u32, usize> = synthetic_c.classes().into_iter().map(|c| (c, synthetic_c.rows_of(c).len())).collect();
    // Every classifier on every training set, and (`None`) trained on synthetic rows in
    // place of the real ones of their classes (TSTR); all independent, so in parallel.
    let tasks: Vec<(ClassifierKind, Option<TrainingSet>)> =
        ClassifierKind::ALL.into_iter().flat_map(|k| TrainingSet::ALL.into_iter().map(Some).chain([None]).map(move |s| (k, s))).collect();
    let fitted: Vec<(ClassifierKind, Option<TrainingSet>, Scores, Vec<u32>)> = tasks
        .into_par_iter()
        .map(|(kind, set)| {
            let (x, y) = match set {
                Some(set) => training_set(set, train_c, synthetic_c, &added, config.seed)?,
                None => synthetic_instead(train_c, synthetic_c),
            };
            let predicted = fit_predict(kind, x.view(), &y, test_c.spectra, config.seed)?;
            Ok((kind, set, scores(test_c.labels, &predicted), predicted))
        })
        .collect::<Result<_>>()?;

    let classes = added
        .keys()
        .copied()
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|class| {
            let tstr_f1 = fitted
                .iter()
                .filter(|(_, set, _, _)| set.is_none())
                .map(|(k, _, s, _)| (*k, s.f1.get(&class).copied().unwrap_or(f64::NAN)))
                .collect();
            class_quality(class, (train, test, synthetic), (train_c, test_c, synthetic_c), tstr_f1, config)
        })
        .collect::<Result<Vec<_>>>()?;
    let lift = fitted
        .into_iter()
        .filter_map(|(classifier, set, scores, predicted)| set.map(|training_set| Lift { classifier, training_set, scores, predicted }))
        .collect();
    Ok(Quality { classes, lift, test_labels: test_c.labels.to_vec() })
}

type Sets<'a> = (LabelledView<'a>, LabelledView<'a>, LabelledView<'a>);

fn class_quality(
    class: u32,
    (train, test, synthetic): Sets<'_>,
    (train_c, test_c, synthetic_c): Sets<'_>,
    tstr_f1: BTreeMap<ClassifierKind, f64>,
    config: &QualityConfig,
) -> Result<ClassQuality> {
    let (real, fake, seen) = (test_c.class_spectra(class), synthetic_c.class_spectra(class), train_c.class_spectra(class));
    let mut c2st_by_kind = BTreeMap::new();
    for kind in ClassifierKind::ALL {
        // Equal sizes, so that guessing the larger set cannot beat 0.5.
        let n = real.nrows().min(fake.nrows());
        let value = if n >= 2 * config.folds {
            c2st(real.slice(ndarray::s![..n, ..]), fake.slice(ndarray::s![..n, ..]), kind, config.folds, config.seed)?
        } else {
            f64::NAN
        };
        c2st_by_kind.insert(kind, value);
    }
    let (real_mean, fake_mean) = (mean_spectrum(real.view()), mean_spectrum(fake.view()));
    let angle = match (real_mean.as_slice(), fake_mean.as_slice()) {
        (Some(a), Some(b)) if real.nrows() > 0 => spectral_angle_deg(a, b),
        _ => f64::NAN,
    };
    Ok(ClassQuality {
        class,
        real_train: train.rows_of(class).len(),
        real_test: test.rows_of(class).len(),
        synthetic: synthetic.rows_of(class).len(),
        mean_angle_deg: angle,
        diversity_ratio: mean_pairwise_angle_deg(fake.view()) / mean_pairwise_angle_deg(real.view()),
        ks: if real.nrows() > 0 { ks_per_band(fake.view(), real.view()) } else { vec![f64::NAN; real.ncols()] },
        mmd: mmd_rbf(real.view(), fake.view()),
        c2st: c2st_by_kind,
        dcr_ratio: mean_closest_distance(fake.view(), seen.view()) / mean_closest_distance(real.view(), seen.view()),
        tstr_f1,
    })
}

/// The rows a classifier is trained on for `set`.
fn training_set(
    set: TrainingSet,
    train: LabelledView<'_>,
    synthetic: LabelledView<'_>,
    added: &BTreeMap<u32, usize>,
    seed: u64,
) -> Result<(Array2<f32>, Vec<u32>)> {
    let extra = match set {
        TrainingSet::Real => return Ok((train.spectra.to_owned(), train.labels.to_vec())),
        TrainingSet::RandomOversampling => oversample(Oversampler::Random, train.spectra, train.labels, added, seed),
        TrainingSet::Smote => oversample(Oversampler::Smote, train.spectra, train.labels, added, seed),
        TrainingSet::Gan => (synthetic.spectra.to_owned(), synthetic.labels.to_vec()),
    };
    let x = concatenate(Axis(0), &[train.spectra, extra.0.view()]).map_err(|e| Error::Shape(e.to_string()))?;
    Ok((x, [train.labels, &extra.1[..]].concat()))
}

/// Train-on-synthetic: the real rows of classes without synthetic rows, and the synthetic
/// rows in place of the real rows of the others.
fn synthetic_instead(train: LabelledView<'_>, synthetic: LabelledView<'_>) -> (Array2<f32>, Vec<u32>) {
    let replaced = synthetic.classes();
    let kept: Vec<usize> = (0..train.labels.len()).filter(|&i| !replaced.contains(&train.labels[i])).collect();
    let real = train.spectra.select(Axis(0), &kept);
    let labels: Vec<u32> = kept.iter().map(|&i| train.labels[i]).chain(synthetic.labels.iter().copied()).collect();
    let x = concatenate(Axis(0), &[real.view(), synthetic.spectra]).expect("both sets have the training bands, checked on entry");
    (x, labels)
}

/// Seeded per-class subsamples of at most `max` rows, in shuffled order.
struct Subsampler {
    max: usize,
    seed: u64,
}

/// Spectra and labels owned by a subsample.
struct Owned {
    spectra: Array2<f32>,
    labels: Vec<u32>,
}

impl Owned {
    fn view(&self) -> LabelledView<'_> {
        LabelledView { spectra: self.spectra.view(), labels: &self.labels }
    }
}

impl Subsampler {
    fn apply(&self, set: LabelledView<'_>) -> Owned {
        let mut rows = Vec::new();
        for class in set.classes() {
            let mut of_class = set.rows_of(class);
            of_class.shuffle(&mut class_rng(self.seed, class));
            of_class.truncate(self.max);
            rows.extend(of_class);
        }
        Owned { spectra: set.spectra.select(Axis(0), &rows), labels: rows.iter().map(|&i| set.labels[i]).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    /// Two classes of smooth 20-band "spectra": a class level plus Gaussian noise.
    fn spectra(per_class: usize, seed: u64, shift: f32) -> (Array2<f32>, Vec<u32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let noise = Normal::new(0.0f32, 1.0).unwrap();
        let labels: Vec<u32> = (0..2 * per_class).map(|i| 1 + (i % 2) as u32).collect();
        let x = Array2::from_shape_fn((2 * per_class, 20), |(i, b)| {
            10.0 * labels[i] as f32 + b as f32 * 0.1 + noise.sample(&mut rng) + if labels[i] == 1 { shift } else { 0.0 }
        });
        (x, labels)
    }

    fn view<'a>(s: &'a (Array2<f32>, Vec<u32>)) -> LabelledView<'a> {
        LabelledView { spectra: s.0.view(), labels: &s.1 }
    }

    #[test]
    fn fresh_samples_look_real_copies_do_not_and_shifted_ones_are_caught() {
        let (train, test) = (spectra(100, 1, 0.0), spectra(100, 2, 0.0));
        let config = QualityConfig::default();
        let fresh = quality(view(&train), view(&test), view(&spectra(100, 3, 0.0)), &config).unwrap();
        let copies = quality(view(&train), view(&test), view(&train), &config).unwrap();
        let shifted = quality(view(&train), view(&test), view(&spectra(100, 4, 1.5)), &config).unwrap();
        for c in &fresh.classes {
            assert!(c.c2st.values().all(|&v| (v - 0.5).abs() < 0.15), "{c:?}");
            assert!((c.dcr_ratio - 1.0).abs() < 0.2 && (c.diversity_ratio - 1.0).abs() < 0.1, "{c:?}");
            assert!(c.ks.iter().all(|&k| k < 0.3), "{c:?}");
        }
        assert!(copies.classes.iter().all(|c| c.dcr_ratio == 0.0), "{:?}", copies.classes);
        let class1 = &shifted.classes[0];
        assert!(class1.c2st.values().all(|&v| v > 0.8) && class1.mmd > 10.0 * fresh.classes[0].mmd.abs(), "{class1:?}");
        assert!(class1.ks.iter().all(|&k| k > 0.4), "{class1:?}");
        assert_eq!(fresh.lift.len(), 4 * ClassifierKind::ALL.len());
        assert!(fresh.lift.iter().all(|l| l.scores.overall_accuracy > 0.99), "{:?}", fresh.lift);
    }

    #[test]
    fn band_counts_must_agree() {
        let a = spectra(10, 1, 0.0);
        let b = (a.0.slice(ndarray::s![.., ..5]).to_owned(), a.1.clone());
        assert!(quality(view(&a), view(&a), view(&b), &QualityConfig::default()).is_err());
    }
}
