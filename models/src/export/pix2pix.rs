//! Export of the Pix2Pix U-Net generator.

use hypersynth_onnx_format::graph::{Attr, Dim, model, node, tensor_f32, value_info};
use hypersynth_onnx_format::proto::tensor_proto::DataType;
use hypersynth_onnx_format::proto::{GraphProto, ModelProto, NodeProto, TensorProto};
use hypersynth_onnx_format::set_metadata_props;
use ndarray::{Array1, Array2};

use super::{batch_norm, values};
use crate::pix2pix::{LEAKY_SLOPE, Pix2pixConfig, UNet};
use crate::{Error, Result};

/// A fixed per-pixel linear map in front of the U-Net (a 1x1 convolution): `weight`
/// `[network inputs, model inputs]` and `bias` `[network inputs]`; e.g. the projection of
/// pre- and post-event bands onto their principal components.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// `[outputs, inputs]`.
    pub weight: Array2<f64>,
    /// `[outputs]`.
    pub bias: Array1<f64>,
}

/// The generator as an ONNX model meeting the `pix2pix` contract: input `image` float32
/// `[N, projection inputs, H, W]`, output `output` float32 `[N, out channels, H, W]` in
/// `(0, 1)`. `H` and `W` must be multiples of `2^depth`. `props` (the model card) go into
/// `metadata_props`.
pub fn pix2pix_generator(
    generator: &UNet,
    config: &Pix2pixConfig,
    projection: &Projection,
    props: &[(String, String)],
    version: &str,
) -> Result<ModelProto> {
    let (projected, inputs) = projection.weight.dim();
    if projected != config.in_channels || projection.bias.len() != projected {
        return Err(Error::Invalid(format!(
            "the projection gives {projected} channels (bias {}), the U-Net reads {}",
            projection.bias.len(),
            config.in_channels
        )));
    }
    let mut nodes = Vec::new();
    let mut initializer = vec![
        tensor_f32("project.weight", &[projected as i64, inputs as i64, 1, 1], projection.weight.iter().map(|&v| v as f32).collect()),
        tensor_f32("project.bias", &[projected as i64], projection.bias.iter().map(|&v| v as f32).collect()),
    ];
    nodes.push(conv("Conv", "project", "image", "projected", 1, 1, 0));

    let mut h = "projected".to_string();
    let mut skips = Vec::new();
    for i in 0..config.depth {
        let name = format!("down{i}");
        if i > 0 {
            nodes.push(node(
                "LeakyRelu",
                &format!("{name}.act"),
                &[&h],
                &[&format!("{name}.in")],
                &[("alpha", Attr::Float(LEAKY_SLOPE as f32))],
            ));
            h = format!("{name}.in");
        }
        let layer = &generator.down[i];
        weights(&mut initializer, &name, &layer.weight, &layer.bias)?;
        nodes.push(conv("Conv", &name, &h, &format!("{name}.conv"), layer.stride, 4, layer.padding));
        h = format!("{name}.conv");
        if let Some(norm) = &generator.down_norms[i] {
            batch_norm(&mut nodes, &mut initializer, &format!("{name}.norm"), &h, &format!("{name}.out"), norm)?;
            h = format!("{name}.out");
        }
        skips.push(h.clone());
    }
    for i in (0..config.depth).rev() {
        let name = format!("up{i}");
        if i + 1 < config.depth {
            nodes.push(node("Concat", &format!("{name}.skip"), &[&skips[i], &h], &[&format!("{name}.cat")], &[("axis", Attr::Int(1))]));
            h = format!("{name}.cat");
        }
        nodes.push(node("Relu", &format!("{name}.act"), &[&h], &[&format!("{name}.in")], &[]));
        let layer = &generator.up[i];
        weights(&mut initializer, &name, &layer.weight, &layer.bias)?;
        nodes.push(conv("ConvTranspose", &name, &format!("{name}.in"), &format!("{name}.conv"), layer.stride, 4, layer.padding));
        h = format!("{name}.conv");
        if let Some(norm) = &generator.up_norms[i] {
            batch_norm(&mut nodes, &mut initializer, &format!("{name}.norm"), &h, &format!("{name}.out"), norm)?;
            h = format!("{name}.out");
        }
    }
    nodes.push(node("Sigmoid", "probability", &[&h], &["output"], &[]));

    let image_dims = |channels: usize| [Dim::Named("N"), Dim::Fixed(channels as i64), Dim::Named("H"), Dim::Named("W")];
    let graph = GraphProto {
        name: Some("pix2pix_generator".into()),
        node: nodes,
        initializer,
        input: vec![value_info("image", DataType::Float, &image_dims(inputs))],
        output: vec![value_info("output", DataType::Float, &image_dims(config.out_channels))],
        ..Default::default()
    };
    let mut proto = model(graph, version);
    set_metadata_props(&mut proto, props);
    Ok(proto)
}

/// Initializers `name.weight` and `name.bias` of a convolution.
fn weights(initializer: &mut Vec<TensorProto>, name: &str, weight: &candle_core::Var, bias: &candle_core::Var) -> Result<()> {
    let dims: Vec<i64> = weight.dims().iter().map(|&d| d as i64).collect();
    initializer.push(tensor_f32(&format!("{name}.weight"), &dims, values(weight.as_tensor())?));
    initializer.push(tensor_f32(&format!("{name}.bias"), &[bias.elem_count() as i64], values(bias.as_tensor())?));
    Ok(())
}

/// A square `Conv` or `ConvTranspose` node with initializers `name.weight`, `name.bias`.
fn conv(op: &str, name: &str, input: &str, output: &str, stride: usize, kernel: usize, padding: usize) -> NodeProto {
    let (s, k, p) = (stride as i64, kernel as i64, padding as i64);
    node(
        op,
        name,
        &[input, &format!("{name}.weight"), &format!("{name}.bias")],
        &[output],
        &[("kernel_shape", Attr::Ints(vec![k, k])), ("strides", Attr::Ints(vec![s, s])), ("pads", Attr::Ints(vec![p, p, p, p]))],
    )
}
