//! Spectral math and quality metrics for hypersynth: pure functions on spectra, no I/O.
//! Spectra are rows of `[n, bands]` arrays; units are those of the cube unless an item
//! says otherwise (angles in degrees).
#![deny(missing_docs)]

mod metrics;
mod normalise;
mod split;

pub use metrics::{c2st_knn, mean_spectrum, mmd_rbf, spectral_angle_deg};
pub use normalise::Normaliser;
pub use split::{Split, SplitConfig, stratified_split};
