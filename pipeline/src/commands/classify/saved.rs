//! The classifier file `classify` writes beside its map and takes back with
//! `--classifier-file`: one JSON document, `{"card": ..., "classifier": ...}`, documented in
//! docs/CLASSIFY.md.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hypersynth_spectral::Classifier;
use serde::{Deserialize, Serialize};

/// What the `format` field of every classifier file says.
pub const FORMAT: &str = "hypersynth-classifier";
/// The version of the layout this build writes and reads.
pub const VERSION: u32 = 1;

/// A fitted classifier with its card.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedClassifier {
    /// What it is and what it was fitted on.
    pub card: ClassifierCard,
    /// The fitted classifier (its features and model).
    pub classifier: Classifier,
}

/// The classifier's card: what a user needs to know to map a scene with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifierCard {
    /// Always [`FORMAT`].
    pub format: String,
    /// The layout version ([`VERSION`]).
    pub version: u32,
    /// The software that fitted it.
    pub software: String,
    /// The classes it predicts, ascending by id, with their training counts.
    pub classes: Vec<ClassCard>,
    /// Centre wavelengths (nm) of the bands it takes, in order.
    pub wavelengths_nm: Vec<f64>,
    /// The files its training spectra came from.
    pub trained_on: Vec<PathBuf>,
    /// The spectral model whose synthetic spectra were added to them (`--model`).
    #[serde(default)]
    pub synthetic_from: Option<PathBuf>,
    /// SHA-256 of the training spectra and labels.
    pub data_fingerprint: String,
    /// The seed that drew the random forest.
    pub seed: u64,
}

/// One class of a [`ClassifierCard`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassCard {
    /// The class id (the map's value).
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Real training spectra of the class.
    pub training_count: usize,
    /// Synthetic training spectra of the class (`--model`).
    #[serde(default)]
    pub synthetic_count: usize,
}

impl SavedClassifier {
    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<PathBuf> {
        let json = serde_json::to_vec(self)?;
        Ok(hypersynth_data::write_atomically(path, &json)?)
    }

    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read the classifier file", path.display()))?;
        let saved: Self = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a hypersynth classifier file (JSON with a card and a classifier)", path.display()))?;
        let card = &saved.card;
        if card.format != FORMAT || card.version != VERSION {
            bail!("{}: a {} file of version {}; this build reads {FORMAT} version {VERSION}", path.display(), card.format, card.version);
        }
        saved.classifier.check().with_context(|| format!("{}: not a whole classifier", path.display()))?;
        let ids: Vec<u32> = card.classes.iter().map(|c| c.id).collect();
        if ids != saved.classifier.classes || card.wavelengths_nm.len() != saved.classifier.features.bands() {
            bail!("{}: its card does not describe its classifier (classes or bands differ)", path.display());
        }
        Ok(saved)
    }
}
