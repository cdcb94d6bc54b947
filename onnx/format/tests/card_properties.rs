//! Property tests of the model card's readers: any card written reads back the same, and
//! no text, however malformed, makes them panic.

use hypersynth_onnx_format::{CardClass, FORMAT_VERSION, ModelCard, ModelKind, Normalisation, OutputMapping};
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = ModelKind> {
    prop_oneof![Just(ModelKind::SpectralCgan), Just(ModelKind::Pix2pix), Just(ModelKind::CycleganSr)]
}

fn finite() -> impl Strategy<Value = f64> {
    -1e6..1e6f64
}

fn card() -> impl Strategy<Value = ModelCard> {
    (
        kind(),
        prop::collection::vec(300.0..2600.0f64, 1..8),
        prop::collection::vec((0u32..1000, "[A-Za-z_ ,\"{}]{0,12}"), 0..5),
        prop::collection::vec((finite(), 0.001..1e4f64), 1..8),
        prop::option::of(prop::collection::vec((finite(), finite()), 1..3)),
        any::<u64>(),
    )
        .prop_map(|(kind, wavelengths_nm, classes, norm, output, seed)| ModelCard {
            kind,
            format_version: FORMAT_VERSION,
            wavelengths_nm,
            classes: classes.into_iter().map(|(id, name)| CardClass { id, name }).collect(),
            normalisation: Normalisation {
                offset: norm.iter().map(|p| p.0).collect(),
                scale: norm.iter().map(|p| p.1).collect(),
                basis: None,
            },
            training: serde_json::json!({"seed": seed, "loss": "non-saturating"}),
            output: output.map(|o| OutputMapping { offset: o.iter().map(|p| p.0).collect(), scale: o.iter().map(|p| p.1).collect() }),
        })
}

proptest! {
    #[test]
    fn a_written_card_reads_back_unchanged(card in card()) {
        let read = ModelCard::from_props(&card.to_props()).unwrap().unwrap();
        prop_assert_eq!(read, card);
    }

    #[test]
    fn any_metadata_text_is_read_or_refused_without_panicking(
        values in prop::collection::vec(".{0,40}", 7),
        keep in prop::collection::vec(any::<bool>(), 7),
    ) {
        let keys = ["hypersynth.kind", "hypersynth.format_version", "hypersynth.wavelengths_nm", "hypersynth.classes",
            "hypersynth.normalisation", "hypersynth.training", "hypersynth.output"];
        let props: Vec<(String, String)> = keys.iter().zip(&values).zip(&keep).filter(|(_, k)| **k)
            .map(|((key, value), _)| (key.to_string(), value.clone())).collect();
        let _ = ModelCard::from_props(&props);
    }

    #[test]
    fn any_sidecar_text_is_read_or_refused_without_panicking(text in ".{0,200}") {
        let _ = ModelCard::from_sidecar_json(&text);
        let _ = ModelCard::from_sidecar_json(&format!("{{\"hypersynth.kind\": \"pix2pix\", \"hypersynth.format_version\": {text}}}"));
    }
}
