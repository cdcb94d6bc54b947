//! The training split a spectral model records in its card's `training.split` (and its
//! `run.json`): `train spectral` writes it, `augment` and `report` rebuild the model's
//! training and untouched test rows from it.

use hypersynth_onnx_format::ModelCard;
use hypersynth_spectral::SplitConfig;

/// The split as recorded.
pub fn record(split: &SplitConfig) -> serde_json::Value {
    serde_json::to_value(split).unwrap_or_default()
}

/// The split recorded in `card`; `None` when it records none (a model made elsewhere).
pub fn from_card(card: &ModelCard) -> Option<SplitConfig> {
    from_training(&card.training)
}

/// The split in a card's `training` section.
fn from_training(training: &serde_json::Value) -> Option<SplitConfig> {
    serde_json::from_value(training.get("split")?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_split_reads_back_and_an_absent_one_is_none() {
        let split = SplitConfig { validation: 0.1, test: 0.3, seed: 7, thin: [(4, 10), (12, 25)].into(), blocks: None };
        let value = record(&split);
        // A random split records what it did before blocks existed, so older cards read the same.
        assert_eq!(value, serde_json::json!({"validation": 0.1, "test": 0.3, "seed": 7, "thin": {"4": 10, "12": 25}}));
        assert_eq!(from_training(&serde_json::json!({"split": value})), Some(split.clone()));
        let blocks = SplitConfig { blocks: Some(8), ..split };
        assert_eq!(record(&blocks)["blocks"], 8);
        assert_eq!(from_training(&serde_json::json!({"split": record(&blocks)})), Some(blocks));
        assert_eq!(from_training(&serde_json::json!({"generator": "gan"})), None);
    }
}
