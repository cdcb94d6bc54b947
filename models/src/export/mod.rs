//! ONNX export of trained generators, through the protobuf messages of
//! `hypersynth-onnx-format`: each model family's graph is built node by node from the
//! trained tensors, with the model card in `metadata_props`.

mod cyclegan;
mod dagan;
mod exemplar;
mod pix2pix;
mod spectral;

use candle_core::Tensor;
use hypersynth_onnx_format::graph::{Attr, Dim, model, node, tensor_f32, value_info};
use hypersynth_onnx_format::proto::tensor_proto::DataType;
use hypersynth_onnx_format::proto::{GraphProto, ModelProto, NodeProto, TensorProto};
use hypersynth_onnx_format::set_metadata_props;

pub use cyclegan::cyclegan_generator;
pub use dagan::dagan_generator;
pub use exemplar::exemplar_generator;
pub use pix2pix::pix2pix_generator;
pub use spectral::spectral_generator;

use ndarray::{Array1, Array2};

use crate::layers::{BATCH_NORM_EPS, BatchNorm};
use crate::{Error, Result};

/// A fixed per-pixel linear map (a 1x1 convolution): `weight` `[outputs, inputs]` and
/// `bias` `[outputs]`; e.g. the projection of spectra onto their principal components in
/// front of a network, or back to bands behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// `[outputs, inputs]`.
    pub weight: Array2<f64>,
    /// `[outputs]`.
    pub bias: Array1<f64>,
}

impl Projection {
    /// Adds the map from `input` to `output` as a `Conv` node `name` with its initializers.
    fn add(&self, nodes: &mut Vec<NodeProto>, initializer: &mut Vec<TensorProto>, name: &str, input: &str, output: &str) -> Result<()> {
        let (outputs, inputs) = self.weight.dim();
        if self.bias.len() != outputs {
            return Err(Error::Invalid(format!("projection {name}: {outputs} outputs but {} biases", self.bias.len())));
        }
        let as_f32 = |v: &f64| *v as f32;
        initializer.push(tensor_f32(
            &format!("{name}.weight"),
            &[outputs as i64, inputs as i64, 1, 1],
            self.weight.iter().map(as_f32).collect(),
        ));
        initializer.push(tensor_f32(&format!("{name}.bias"), &[outputs as i64], self.bias.iter().map(as_f32).collect()));
        nodes.push(conv("Conv", name, input, output, 1, 1, 0));
        Ok(())
    }
}

/// A tensor's values, row-major.
fn values(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// An ONNX `BatchNormalization` of `input` into `output` with `norm`'s parameters and
/// running statistics, stored as initializers named `name.gamma`, ... .
fn batch_norm(
    nodes: &mut Vec<NodeProto>,
    initializer: &mut Vec<TensorProto>,
    name: &str,
    input: &str,
    output: &str,
    norm: &BatchNorm,
) -> Result<()> {
    let features = norm.running_mean.elem_count() as i64;
    let parts =
        [("gamma", norm.gamma.as_tensor()), ("beta", norm.beta.as_tensor()), ("mean", &norm.running_mean), ("var", &norm.running_var)];
    let mut inputs = vec![input.to_string()];
    for (what, t) in parts {
        let key = format!("{name}.{what}");
        initializer.push(tensor_f32(&key, &[features], values(t)?));
        inputs.push(key);
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    nodes.push(node("BatchNormalization", name, &inputs, &[output], &[("epsilon", Attr::Float(BATCH_NORM_EPS as f32))]));
    Ok(())
}

/// Initializers `name.weight` and `name.bias` of a convolution.
pub(super) fn weights(initializer: &mut Vec<TensorProto>, name: &str, weight: &candle_core::Var, bias: &candle_core::Var) -> Result<()> {
    let dims: Vec<i64> = weight.dims().iter().map(|&d| d as i64).collect();
    initializer.push(tensor_f32(&format!("{name}.weight"), &dims, values(weight.as_tensor())?));
    initializer.push(tensor_f32(&format!("{name}.bias"), &[bias.elem_count() as i64], values(bias.as_tensor())?));
    Ok(())
}

/// A square `Conv` or `ConvTranspose` node with initializers `name.weight`, `name.bias`.
pub(super) fn conv(op: &str, name: &str, input: &str, output: &str, stride: usize, kernel: usize, padding: usize) -> NodeProto {
    let (s, k, p) = (stride as i64, kernel as i64, padding as i64);
    node(
        op,
        name,
        &[input, &format!("{name}.weight"), &format!("{name}.bias")],
        &[output],
        &[("kernel_shape", Attr::Ints(vec![k, k])), ("strides", Attr::Ints(vec![s, s])), ("pads", Attr::Ints(vec![p, p, p, p]))],
    )
}

/// A graph of `nodes` over `initializer` as a model meeting the `spectral-cgan` contract:
/// inputs `z` float32 `[N, latent]` and `class_index` int64 `[N]`, output `spectra` float32
/// `[N, bands]`; `props` (the model card) go into `metadata_props`.
fn spectral_cgan_model(
    name: &str,
    (nodes, initializer): (Vec<NodeProto>, Vec<TensorProto>),
    latent: i64,
    bands: i64,
    props: &[(String, String)],
    version: &str,
) -> ModelProto {
    let graph = GraphProto {
        name: Some(name.into()),
        node: nodes,
        initializer,
        input: vec![
            value_info("z", DataType::Float, &[Dim::Named("N"), Dim::Fixed(latent)]),
            value_info("class_index", DataType::Int64, &[Dim::Named("N")]),
        ],
        output: vec![value_info("spectra", DataType::Float, &[Dim::Named("N"), Dim::Fixed(bands)])],
        ..Default::default()
    };
    let mut proto = model(graph, version);
    set_metadata_props(&mut proto, props);
    proto
}
