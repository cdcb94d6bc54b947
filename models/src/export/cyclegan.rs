//! Export of a CycleGAN's low-res → high-res ResNet generator.

use hypersynth_onnx_format::graph::{Attr, Dim, model, node, tensor_f32, tensor_i64, value_info};
use hypersynth_onnx_format::proto::tensor_proto::DataType;
use hypersynth_onnx_format::proto::{GraphProto, ModelProto, NodeProto, TensorProto};
use hypersynth_onnx_format::set_metadata_props;

use super::{Projection, conv, weights};
use crate::cyclegan::{CycleganConfig, OUTER_PADDING, ResnetGenerator};
use crate::layers::BATCH_NORM_EPS;
use crate::{Error, Result};

/// The generator as an ONNX model meeting the `cyclegan-sr` contract: input `image`
/// float32 `[N, bands, H, W]` (physical values, on the high-resolution grid), output
/// `output` of the same shape. Inside, `project` maps bands to the generator's normalised
/// components, the network computes its refinement there, `unproject` maps that back to
/// bands (no bias), and the result is added to the image. `H` and `W` must be multiples of
/// `2^downsamplings`. `props` (the model card) go into `metadata_props`.
pub fn cyclegan_generator(
    generator: &ResnetGenerator,
    config: &CycleganConfig,
    project: &Projection,
    unproject: &Projection,
    props: &[(String, String)],
    version: &str,
) -> Result<ModelProto> {
    let (components, bands) = project.weight.dim();
    if components != config.channels || unproject.weight.dim() != (bands, components) {
        return Err(Error::Invalid(format!(
            "projections {:?} and {:?} do not map {bands} bands to the generator's {} channels and back",
            project.weight.dim(),
            unproject.weight.dim(),
            config.channels
        )));
    }
    let mut graph = Graph::default();
    project.add(&mut graph.nodes, &mut graph.initializer, "project", "image", "x")?;
    let mut h = graph.conv_norm_relu("stem", "x", &generator.stem, OUTER_PADDING, false)?;
    for (i, layer) in generator.down.iter().enumerate() {
        h = graph.conv_norm_relu(&format!("down{i}"), &h, layer, 0, false)?;
    }
    for (i, block) in generator.blocks.iter().enumerate() {
        let name = format!("block{i}");
        let inner = graph.conv_norm_relu(&format!("{name}.conv0"), &h, &block.convs[0], 1, false)?;
        let out = graph.conv_norm_relu(&format!("{name}.conv1"), &inner, &block.convs[1], 1, true)?;
        graph.nodes.push(node("Add", &format!("{name}.skip"), &[&h, &out], &[&format!("{name}.out")], &[]));
        h = format!("{name}.out");
    }
    for (i, layer) in generator.up.iter().enumerate() {
        let name = format!("up{i}");
        weights(&mut graph.initializer, &name, &layer.weight, &layer.bias)?;
        graph.nodes.push(conv("ConvTranspose", &name, &h, &format!("{name}.conv"), layer.stride, layer.weight.dim(2)?, layer.padding));
        h = graph.norm_relu(&name, &format!("{name}.conv"), layer.weight.dim(1)?, false);
    }
    let padded = graph.reflect(&h, OUTER_PADDING);
    let scaled = |v: &candle_core::Var| candle_core::Var::from_tensor(&v.affine(generator.refinement_scale, 0.0)?);
    weights(&mut graph.initializer, "head", &scaled(&generator.head.weight)?, &scaled(&generator.head.bias)?)?;
    graph.nodes.push(conv("Conv", "head", &padded, "refinement", 1, generator.head.weight.dim(2)?, 0));
    unproject.add(&mut graph.nodes, &mut graph.initializer, "unproject", "refinement", "added")?;
    graph.nodes.push(node("Add", "refine", &["image", "added"], &["output"], &[]));

    let dims = [Dim::Named("N"), Dim::Fixed(bands as i64), Dim::Named("H"), Dim::Named("W")];
    let proto = GraphProto {
        name: Some("cyclegan_sr_generator".into()),
        node: graph.nodes,
        initializer: graph.initializer,
        input: vec![value_info("image", DataType::Float, &dims)],
        output: vec![value_info("output", DataType::Float, &dims)],
        ..Default::default()
    };
    let mut proto = model(proto, version);
    set_metadata_props(&mut proto, props);
    Ok(proto)
}

/// The nodes and initializers being built, with the shared constants added once.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializer: Vec<TensorProto>,
    constants: std::collections::HashSet<String>,
}

impl Graph {
    /// Adds initializer `name` once.
    fn constant(&mut self, name: &str, make: impl FnOnce() -> TensorProto) {
        if self.constants.insert(name.to_string()) {
            self.initializer.push(make());
        }
    }

    /// `input` reflection-padded by `p` pixels on every side (nothing for 0); the output's name.
    fn reflect(&mut self, input: &str, p: usize) -> String {
        if p == 0 {
            return input.to_string();
        }
        let pads = format!("pads{p}");
        let p = p as i64;
        self.constant(&pads, || tensor_i64(&pads, &[8], vec![0, 0, p, p, 0, 0, p, p]));
        let output = format!("{input}.padded");
        self.nodes.push(node("Pad", &output, &[input, &pads], &[&output], &[("mode", Attr::String("reflect"))]));
        output
    }

    /// InstanceNormalization of `input` (`channels`), then ReLU unless `last`; the
    /// output's name.
    fn norm_relu(&mut self, name: &str, input: &str, channels: usize, last: bool) -> String {
        let (scale, bias) = (format!("ones{channels}"), format!("zeros{channels}"));
        self.constant(&scale, || tensor_f32(&scale, &[channels as i64], vec![1.0; channels]));
        self.constant(&bias, || tensor_f32(&bias, &[channels as i64], vec![0.0; channels]));
        let normed = format!("{name}.norm");
        self.nodes.push(node(
            "InstanceNormalization",
            &normed,
            &[input, &scale, &bias],
            &[&normed],
            &[("epsilon", Attr::Float(BATCH_NORM_EPS as f32))],
        ));
        if last {
            return normed;
        }
        let out = format!("{name}.out");
        self.nodes.push(node("Relu", &out, &[&normed], &[&out], &[]));
        out
    }

    /// Reflection padding by `pad`, the convolution `layer`, InstanceNorm and (unless
    /// `last`) ReLU; the output's name.
    fn conv_norm_relu(&mut self, name: &str, input: &str, layer: &crate::layers::Conv2d, pad: usize, last: bool) -> Result<String> {
        let padded = self.reflect(input, pad);
        weights(&mut self.initializer, name, &layer.weight, &layer.bias)?;
        let (outputs, _, kernel, _) = layer.weight.dims4()?;
        self.nodes.push(conv("Conv", name, &padded, &format!("{name}.conv"), layer.stride, kernel, layer.padding));
        Ok(self.norm_relu(name, &format!("{name}.conv"), outputs, last))
    }
}
