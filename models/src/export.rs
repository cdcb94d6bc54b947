//! ONNX export of trained generators, through the protobuf messages of
//! `hypersynth-onnx-format`.

use candle_core::Tensor;
use hypersynth_onnx_format::graph::{Attr, Dim, model, node, tensor_f32, value_info};
use hypersynth_onnx_format::proto::tensor_proto::DataType;
use hypersynth_onnx_format::proto::{GraphProto, ModelProto};
use hypersynth_onnx_format::set_metadata_props;

use crate::Result;
use crate::layers::BATCH_NORM_EPS;
use crate::spectral_cgan::{Generator, LEAKY_SLOPE, SpectralCganConfig};

fn values(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// The spectral generator as an ONNX model meeting the `spectral-cgan` contract: inputs
/// `z` float32 `[N, latent]` and `class_index` int64 `[N]`, output `spectra` float32
/// `[N, bands]` in physical units (`tanh output x scale + offset`, per band, inside the
/// graph). `props` (the model card) go into `metadata_props`.
pub fn spectral_generator(
    generator: &Generator,
    config: &SpectralCganConfig,
    offset: &[f64],
    scale: &[f64],
    props: &[(String, String)],
    version: &str,
) -> Result<ModelProto> {
    let mut nodes = vec![
        node("Gather", "embed", &["embedding", "class_index"], &["embedded"], &[]),
        node("Concat", "condition", &["z", "embedded"], &["h0"], &[("axis", Attr::Int(1))]),
    ];
    let mut initializer =
        vec![tensor_f32("embedding", &[config.classes as i64, config.embedding as i64], values(generator.embedding.table.as_tensor())?)];
    let mut input = "h0".to_string();
    let mut width = config.latent + config.embedding;
    for (i, (linear, norm)) in generator.blocks.iter().enumerate() {
        let out = config.generator_widths[i];
        let name = |what: &str| format!("block{i}.{what}");
        initializer.push(tensor_f32(&name("weight"), &[out as i64, width as i64], values(linear.weight.as_tensor())?));
        initializer.push(tensor_f32(&name("bias"), &[out as i64], values(linear.bias.as_tensor())?));
        for (what, t) in
            [("gamma", norm.gamma.as_tensor()), ("beta", norm.beta.as_tensor()), ("mean", &norm.running_mean), ("var", &norm.running_var)]
        {
            initializer.push(tensor_f32(&name(what), &[out as i64], values(t)?));
        }
        nodes.push(node(
            "Gemm",
            &name("linear"),
            &[&input, &name("weight"), &name("bias")],
            &[&name("linear_out")],
            &[("transB", Attr::Int(1))],
        ));
        nodes.push(node(
            "BatchNormalization",
            &name("norm"),
            &[&name("linear_out"), &name("gamma"), &name("beta"), &name("mean"), &name("var")],
            &[&name("norm_out")],
            &[("epsilon", Attr::Float(BATCH_NORM_EPS as f32))],
        ));
        nodes.push(node("LeakyRelu", &name("act"), &[&name("norm_out")], &[&name("out")], &[("alpha", Attr::Float(LEAKY_SLOPE as f32))]));
        input = name("out");
        width = out;
    }
    let bands = config.bands as i64;
    initializer.push(tensor_f32("output.weight", &[bands, width as i64], values(generator.output.weight.as_tensor())?));
    initializer.push(tensor_f32("output.bias", &[bands], values(generator.output.bias.as_tensor())?));
    initializer.push(tensor_f32("denorm.scale", &[bands], scale.iter().map(|&v| v as f32).collect()));
    initializer.push(tensor_f32("denorm.offset", &[bands], offset.iter().map(|&v| v as f32).collect()));
    nodes.push(node("Gemm", "output", &[&input, "output.weight", "output.bias"], &["logits"], &[("transB", Attr::Int(1))]));
    nodes.push(node("Tanh", "squash", &["logits"], &["normalised"], &[]));
    nodes.push(node("Mul", "denorm_scale", &["normalised", "denorm.scale"], &["scaled"], &[]));
    nodes.push(node("Add", "denorm_offset", &["scaled", "denorm.offset"], &["spectra"], &[]));

    let graph = GraphProto {
        name: Some("spectral_cgan_generator".into()),
        node: nodes,
        initializer,
        input: vec![
            value_info("z", DataType::Float, &[Dim::Named("N"), Dim::Fixed(config.latent as i64)]),
            value_info("class_index", DataType::Int64, &[Dim::Named("N")]),
        ],
        output: vec![value_info("spectra", DataType::Float, &[Dim::Named("N"), Dim::Fixed(bands)])],
        ..Default::default()
    };
    let mut proto = model(graph, version);
    set_metadata_props(&mut proto, props);
    Ok(proto)
}
