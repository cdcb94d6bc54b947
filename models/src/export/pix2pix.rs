//! Export of the Pix2Pix U-Net generator.

use hypersynth_onnx_format::DROPOUT_SWITCH;
use hypersynth_onnx_format::graph::{Attr, Dim, model, node, tensor_bool, tensor_f32, value_info};
use hypersynth_onnx_format::proto::tensor_proto::DataType;
use hypersynth_onnx_format::proto::{GraphProto, ModelProto, NodeProto, TensorProto};
use hypersynth_onnx_format::set_metadata_props;

use super::{Projection, batch_norm, conv, weights};
use crate::layers::LEAKY_SLOPE;
use crate::pix2pix::{Pix2pixConfig, UNet};
use crate::{Error, Result};

/// The generator as an ONNX model meeting the `pix2pix` contract: input `image` float32
/// `[N, projection inputs, H, W]`, output `output` float32 `[N, out channels, H, W]` in
/// `(0, 1)`. `H` and `W` must be multiples of `2^depth`. A generator trained with dropout
/// keeps it, off unless the boolean input [`DROPOUT_SWITCH`] (default `false`) is fed
/// `true`: then every run draws new masks in the decoder blocks that dropped out in
/// training (Monte Carlo dropout). `props` (the model card) go into `metadata_props`.
pub fn pix2pix_generator(
    generator: &UNet,
    config: &Pix2pixConfig,
    projection: &Projection,
    props: &[(String, String)],
    version: &str,
) -> Result<ModelProto> {
    let (projected, inputs) = projection.weight.dim();
    if projected != config.in_channels {
        return Err(Error::Invalid(format!("the projection gives {projected} channels, the U-Net reads {}", config.in_channels)));
    }
    let (mut nodes, mut initializer) = (Vec::new(), Vec::new());
    projection.add(&mut nodes, &mut initializer, "project", "image", "projected")?;

    let dropout = config.architecture.dropout > 0.0 && (0..config.architecture.depth).any(|i| config.has_dropout(i));
    if dropout {
        initializer.push(tensor_f32("dropout.ratio", &[], vec![config.architecture.dropout as f32]));
        initializer.push(tensor_bool(DROPOUT_SWITCH, &[], &[false]));
    }

    let (bottom, skips) = encoder(generator, config, &mut nodes, &mut initializer)?;
    let h = decoder(generator, config, dropout, bottom, &skips, &mut nodes, &mut initializer)?;
    nodes.push(node("Sigmoid", "probability", &[&h], &["output"], &[]));

    let image_dims = |channels: usize| [Dim::Named("N"), Dim::Fixed(channels as i64), Dim::Named("H"), Dim::Named("W")];
    let mut input = vec![value_info("image", DataType::Float, &image_dims(inputs))];
    if dropout {
        input.push(value_info(DROPOUT_SWITCH, DataType::Bool, &[]));
    }
    let graph = GraphProto {
        name: Some("pix2pix_generator".into()),
        node: nodes,
        initializer,
        input,
        output: vec![value_info("output", DataType::Float, &image_dims(config.out_channels))],
        ..Default::default()
    };
    let mut proto = model(graph, version);
    set_metadata_props(&mut proto, props);
    Ok(proto)
}

/// Adds the encoder's blocks from `projected` (LeakyReLU but for the first, strided
/// convolution, batch norm where it has one); returns the bottleneck's output and every
/// block's output for the skips.
fn encoder(
    generator: &UNet,
    config: &Pix2pixConfig,
    nodes: &mut Vec<NodeProto>,
    initializer: &mut Vec<TensorProto>,
) -> Result<(String, Vec<String>)> {
    let mut h = "projected".to_string();
    let mut skips = Vec::new();
    for i in 0..config.architecture.depth {
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
        weights(initializer, &name, &layer.weight, &layer.bias)?;
        nodes.push(conv("Conv", &name, &h, &format!("{name}.conv"), layer.stride, 4, layer.padding));
        h = format!("{name}.conv");
        if let Some(norm) = &generator.down_norms[i] {
            batch_norm(nodes, initializer, &format!("{name}.norm"), &h, &format!("{name}.out"), norm)?;
            h = format!("{name}.out");
        }
        skips.push(h.clone());
    }
    Ok((h, skips))
}

/// Adds the decoder's blocks from `h` (the skip concatenated but for the deepest, ReLU,
/// transposed convolution, batch norm and, with `dropout`, Dropout behind the switch);
/// returns the last block's output.
fn decoder(
    generator: &UNet,
    config: &Pix2pixConfig,
    dropout: bool,
    mut h: String,
    skips: &[String],
    nodes: &mut Vec<NodeProto>,
    initializer: &mut Vec<TensorProto>,
) -> Result<String> {
    for i in (0..config.architecture.depth).rev() {
        let name = format!("up{i}");
        if i + 1 < config.architecture.depth {
            nodes.push(node("Concat", &format!("{name}.skip"), &[&skips[i], &h], &[&format!("{name}.cat")], &[("axis", Attr::Int(1))]));
            h = format!("{name}.cat");
        }
        nodes.push(node("Relu", &format!("{name}.act"), &[&h], &[&format!("{name}.in")], &[]));
        let layer = &generator.up[i];
        weights(initializer, &name, &layer.weight, &layer.bias)?;
        nodes.push(conv("ConvTranspose", &name, &format!("{name}.in"), &format!("{name}.conv"), layer.stride, 4, layer.padding));
        h = format!("{name}.conv");
        if let Some(norm) = &generator.up_norms[i] {
            batch_norm(nodes, initializer, &format!("{name}.norm"), &h, &format!("{name}.out"), norm)?;
            h = format!("{name}.out");
        }
        if dropout && config.has_dropout(i) {
            // Each node draws its masks from its own seeded stream.
            let inputs = [h.as_str(), "dropout.ratio", DROPOUT_SWITCH];
            nodes.push(node(
                "Dropout",
                &format!("{name}.dropout"),
                &inputs,
                &[&format!("{name}.dropped")],
                &[("seed", Attr::Int(i as i64 + 1))],
            ));
            h = format!("{name}.dropped");
        }
    }
    Ok(h)
}
