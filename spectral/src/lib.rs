//! Spectral math and quality metrics for hypersynth: pure functions on spectra, no I/O.
//! Spectra are rows of `[n, bands]` arrays; units are those of the cube unless an item
//! says otherwise (angles in degrees).
#![deny(missing_docs)]

mod classify;
mod exemplar;
mod forest;
mod image_quality;
mod log_scale;
mod metrics;
mod nearest;
mod normalise;
mod oversample;
mod pca;
mod quality;
mod split;
mod svm;
mod verdict;
mod window;

pub use classify::{Classifier, ClassifierKind, FeatureMap, Model, Scores, TREES, balanced_accuracy, fit_predict, scores};
pub use exemplar::{ExemplarConfig, ExemplarModel, phi as normal_cdf};
pub use forest::Forest;
pub use image_quality::{ImageQuality, ImageScores, SSIM_WINDOW};
pub use log_scale::{LogScale, class_mates, within_class_axes};
pub use metrics::{c2st, ks_per_band, mean_closest_distance, mean_pairwise_angle_deg, mean_spectrum, mmd_rbf, spectral_angle_deg};
pub use nearest::NearestRealFilter;
pub use normalise::{Layout, Normaliser};
pub use oversample::{Oversampler, oversample};
pub use pca::principal_axes;
pub use quality::{ClassQuality, LabelledView, Lift, Quality, QualityConfig, TrainingSet, quality};
pub use split::{DEFAULT_BLOCK, Split, SplitConfig, split_rows, stratified_split};
pub use svm::Svm;
pub use verdict::{Comparison, Verdict, verdict};
pub use window::Window;

/// What can go wrong in spectral computations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Arrays whose shapes do not fit together.
    #[error("{0}")]
    Shape(String),
    /// A classifier failed to fit or predict.
    #[error("classifier: {0}")]
    Classifier(String),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
