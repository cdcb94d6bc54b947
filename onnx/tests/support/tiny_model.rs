//! A tiny model with the spectral-cgan contract, built with the exporter's own graph
//! helpers: `spectra = z @ W + E[class_index]`, 2 latent values, 3 bands, 2 classes.

use hypersynth_onnx_format::graph::{Dim, model, node, tensor_f32, value_info};
use hypersynth_onnx_format::proto::GraphProto;
use hypersynth_onnx_format::proto::tensor_proto::DataType;
use hypersynth_onnx_format::{CardClass, FORMAT_VERSION, ModelCard, ModelKind, Normalisation, encode_model, set_metadata_props};

/// `W`, row-major `[2, 3]`.
pub const W: [f32; 6] = [1.0, 2.0, 3.0, -1.0, 0.5, 0.0];
/// `E`, row-major `[2, 3]`: one offset spectrum per class.
pub const E: [f32; 6] = [10.0, 20.0, 30.0, -10.0, -20.0, -30.0];

/// What the model computes, for checking its output.
pub fn expected(z: &[[f32; 2]], class_index: &[i64]) -> Vec<[f32; 3]> {
    z.iter().zip(class_index).map(|(z, &c)| std::array::from_fn(|b| z[0] * W[b] + z[1] * W[3 + b] + E[c as usize * 3 + b])).collect()
}

/// The model card of the tiny model.
pub fn card() -> ModelCard {
    ModelCard {
        kind: ModelKind::SpectralCgan,
        format_version: FORMAT_VERSION,
        wavelengths_nm: vec![500.0, 600.0, 700.0],
        classes: vec![CardClass { id: 1, name: "grass".into() }, CardClass { id: 7, name: "soil".into() }],
        normalisation: Normalisation { offset: vec![0.0; 3], scale: vec![1.0; 3], basis: None },
        training: serde_json::json!({"note": "hand-written test model"}),
        output: None,
    }
}

/// The model's bytes, with the card embedded when `with_card`.
pub fn bytes(with_card: bool) -> Vec<u8> {
    let graph = GraphProto {
        name: Some("tiny".into()),
        node: vec![
            node("MatMul", "project", &["z", "W"], &["projected"], &[]),
            node("Gather", "embed", &["E", "class_index"], &["embedded"], &[]),
            node("Add", "sum", &["projected", "embedded"], &["spectra"], &[]),
        ],
        initializer: vec![tensor_f32("W", &[2, 3], W.to_vec()), tensor_f32("E", &[2, 3], E.to_vec())],
        input: vec![
            value_info("z", DataType::Float, &[Dim::Named("N"), Dim::Fixed(2)]),
            value_info("class_index", DataType::Int64, &[Dim::Named("N")]),
        ],
        output: vec![value_info("spectra", DataType::Float, &[Dim::Named("N"), Dim::Fixed(3)])],
        ..Default::default()
    };
    let mut proto = model(graph, "test");
    if with_card {
        set_metadata_props(&mut proto, &card().to_props());
    }
    encode_model(&proto)
}

/// A tiny float32-only image model: `output = 0.5 · image[0] − 2 · image[1] + 1`, a 1x1
/// convolution of `image` `[N, 2, H, W]` to `output` `[N, 1, H, W]`.
pub fn image_bytes() -> Vec<u8> {
    use hypersynth_onnx_format::graph::Attr;
    let graph = GraphProto {
        name: Some("tiny-image".into()),
        node: vec![node("Conv", "mix", &["image", "weight", "bias"], &["output"], &[("kernel_shape", Attr::Ints(vec![1, 1]))])],
        initializer: vec![tensor_f32("weight", &[1, 2, 1, 1], vec![0.5, -2.0]), tensor_f32("bias", &[1], vec![1.0])],
        input: vec![value_info("image", DataType::Float, &[Dim::Named("N"), Dim::Fixed(2), Dim::Named("H"), Dim::Named("W")])],
        output: vec![value_info("output", DataType::Float, &[Dim::Named("N"), Dim::Fixed(1), Dim::Named("H"), Dim::Named("W")])],
        ..Default::default()
    };
    encode_model(&model(graph, "test"))
}
