//! The report's conclusion: per classifier, do the synthetic spectra raise the F1 of the
//! classes they were made for, against real pixels alone and against SMOTE, and is the
//! difference larger than the noise of the test pixels; plus the warnings a reader should
//! see before trusting any of it.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::classify::{ClassifierKind, scores};
use crate::quality::{Quality, TrainingSet};

/// Bootstrap resamples of the test pixels behind each interval.
const RESAMPLES: usize = 500;
/// Below this many test pixels a class's F1 says little.
pub const FEW_TEST_PIXELS: usize = 10;
/// More synthetic than this many times the real training pixels of a class is warned about.
pub const SYNTHETIC_PER_REAL: usize = 10;
/// A DCR ratio below this is warned about (synthetic spectra hug the training pixels).
pub const LOW_DCR: f64 = 0.9;

/// The synthetic spectra's effect on one classifier against one other training set.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The classifier.
    pub classifier: ClassifierKind,
    /// What real + synthetic is compared with.
    pub against: TrainingSet,
    /// Mean F1 of the augmented classes trained with the synthetic spectra.
    pub with: f64,
    /// The same trained on `against`.
    pub without: f64,
    /// 2.5 % and 97.5 % quantiles of `with - without` over bootstrap resamples of the test
    /// pixels (the noise of scoring on these pixels; training noise comes on top).
    pub interval: (f64, f64),
}

impl Comparison {
    /// `with - without`.
    pub fn difference(&self) -> f64 {
        self.with - self.without
    }

    /// Whether the interval excludes 0.
    pub fn beyond_noise(&self) -> bool {
        self.interval.0 > 0.0 || self.interval.1 < 0.0
    }
}

/// The comparisons (per classifier: against real only, then against SMOTE) and warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Per classifier, real + synthetic against real and against real + SMOTE.
    pub comparisons: Vec<Comparison>,
    /// Plain sentences, one per problem found.
    pub warnings: Vec<String>,
}

/// Judges `quality`; `seed` draws the bootstrap resamples. `name` names a class.
pub fn verdict(quality: &Quality, name: &dyn Fn(u32) -> String, seed: u64) -> Verdict {
    let classes: Vec<u32> = quality.classes.iter().map(|c| c.class).collect();
    let truth = &quality.test_labels;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let resamples: Vec<Vec<usize>> = if truth.is_empty() {
        Vec::new()
    } else {
        (0..RESAMPLES).map(|_| (0..truth.len()).map(|_| rng.random_range(0..truth.len())).collect()).collect()
    };
    let mean_f1 = |pred: &[u32], rows: Option<&[usize]>| -> f64 {
        let (t, p): (Vec<u32>, Vec<u32>) = match rows {
            Some(rows) => rows.iter().map(|&i| (truth[i], pred[i])).unzip(),
            None => (truth.clone(), pred.to_vec()),
        };
        let f1 = scores(&t, &p).f1;
        let values: Vec<f64> = classes.iter().filter_map(|c| f1.get(c).copied()).collect();
        if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / values.len() as f64 }
    };
    let mut comparisons = Vec::new();
    for kind in ClassifierKind::ALL {
        let Some(gan) = quality.lift_of(kind, TrainingSet::Gan) else { continue };
        for against in [TrainingSet::Real, TrainingSet::Smote] {
            let Some(other) = quality.lift_of(kind, against) else { continue };
            let mut differences: Vec<f64> = resamples
                .iter()
                .map(|rows| mean_f1(&gan.predicted, Some(rows)) - mean_f1(&other.predicted, Some(rows)))
                .filter(|d| d.is_finite())
                .collect();
            differences.sort_by(f64::total_cmp);
            let quantile = |q: f64| differences.get(((differences.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
            comparisons.push(Comparison {
                classifier: kind,
                against,
                with: mean_f1(&gan.predicted, None),
                without: mean_f1(&other.predicted, None),
                interval: (quantile(0.025), quantile(0.975)),
            });
        }
    }
    let mut warnings = Vec::new();
    for c in &quality.classes {
        let label = format!("class {} {}", c.class, name(c.class));
        if c.real_test < FEW_TEST_PIXELS {
            warnings.push(format!("{label}: only {} real test pixels, so its F1 says little", c.real_test));
        }
        if c.synthetic > SYNTHETIC_PER_REAL * c.real_train {
            warnings.push(format!(
                "{label}: {} synthetic spectra for {} real training pixels; they can only vary what those pixels show",
                c.synthetic, c.real_train
            ));
        }
        if c.dcr_ratio < LOW_DCR {
            warnings.push(format!(
                "{label}: the synthetic spectra lie nearer the training pixels than real test pixels do (DCR {:.2}): they are variations of those pixels, not new observations",
                c.dcr_ratio
            ));
        }
    }
    Verdict { comparisons, warnings }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::classify::Scores;
    use crate::quality::{ClassQuality, Lift};

    fn lift(classifier: ClassifierKind, training_set: TrainingSet, predicted: Vec<u32>) -> Lift {
        Lift { classifier, training_set, scores: Scores { overall_accuracy: 0.0, macro_f1: 0.0, f1: BTreeMap::new() }, predicted }
    }

    fn class(class: u32, real_test: usize, synthetic: usize, dcr_ratio: f64) -> ClassQuality {
        ClassQuality {
            class,
            real_train: 10,
            real_test,
            synthetic,
            mean_angle_deg: 0.0,
            diversity_ratio: 1.0,
            ks: vec![],
            mmd: 0.0,
            c2st: BTreeMap::new(),
            dcr_ratio,
            tstr_f1: BTreeMap::new(),
        }
    }

    #[test]
    fn a_clear_gain_is_beyond_the_noise_and_no_change_is_not() {
        // 200 test pixels of class 1 (augmented) and 200 of class 2.
        let truth: Vec<u32> = (0..400).map(|i| if i < 200 { 1 } else { 2 }).collect();
        // Real only misses half of class 1; with the synthetic spectra it misses a tenth;
        // SMOTE does as well as real + synthetic.
        let miss =
            |every: usize| truth.iter().enumerate().map(|(i, &t)| if t == 1 && i % every == 0 { 2 } else { t }).collect::<Vec<u32>>();
        let kind = ClassifierKind::ALL[0];
        let quality = Quality {
            classes: vec![class(1, 200, 100, 1.2)],
            lift: vec![
                lift(kind, TrainingSet::Real, miss(2)),
                lift(kind, TrainingSet::Smote, miss(10)),
                lift(kind, TrainingSet::Gan, miss(10)),
            ],
            test_labels: truth,
        };
        let v = verdict(&quality, &|_| String::new(), 1);
        assert_eq!(v.comparisons.len(), 2);
        let (real, smote) = (&v.comparisons[0], &v.comparisons[1]);
        assert!(real.difference() > 0.2 && real.beyond_noise(), "{real:?}");
        assert!(real.interval.0 <= real.difference() && real.difference() <= real.interval.1);
        assert_eq!(smote.difference(), 0.0);
        assert!(!smote.beyond_noise(), "{smote:?}");
        assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    }

    #[test]
    fn tiny_test_sets_heavy_synthesis_and_hugging_spectra_are_warned_about() {
        let quality = Quality { classes: vec![class(3, 2, 500, 0.5)], lift: vec![], test_labels: vec![] };
        let v = verdict(&quality, &|c| format!("c{c}"), 1);
        assert!(v.comparisons.is_empty());
        assert_eq!(v.warnings.len(), 3, "{:?}", v.warnings);
        assert!(v.warnings[0].starts_with("class 3 c3: only 2 real test pixels"));
        assert!(v.warnings[1].contains("500 synthetic spectra for 10 real training pixels"));
        assert!(v.warnings[2].contains("DCR 0.50"));
    }
}
