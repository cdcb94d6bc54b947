//! ONNX export of trained generators, through the protobuf messages of
//! `hypersynth-onnx-format`: each model family's graph is built node by node from the
//! trained tensors, with the model card in `metadata_props`.

mod pix2pix;
mod spectral;

use candle_core::Tensor;
use hypersynth_onnx_format::graph::{Attr, node, tensor_f32};
use hypersynth_onnx_format::proto::{NodeProto, TensorProto};

pub use pix2pix::{Projection, pix2pix_generator};
pub use spectral::spectral_generator;

use crate::Result;
use crate::layers::{BATCH_NORM_EPS, BatchNorm};

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
