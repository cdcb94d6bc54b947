//! Export of the spectral cGAN generator.

use hypersynth_onnx_format::graph::{Attr, node, tensor_f32, tensor_i64};
use hypersynth_onnx_format::proto::{ModelProto, NodeProto, TensorProto};
use hypersynth_spectral::Normaliser;
use ndarray::Array2;

use super::{batch_norm, spectral_cgan_model, values};
use crate::Result;
use crate::layers::LEAKY_SLOPE;
use crate::spectral_cgan::{Generator, SpectralCganConfig};

/// The spectral generator as an ONNX model meeting the `spectral-cgan` contract: inputs
/// `z` float32 `[N, latent + residual dims]` and `class_index` int64 `[N]`, output
/// `spectra` float32 `[N, bands]` in physical units, computed inside the graph as
/// `G(z[:, ..latent], class) · basis + offset` of `normaliser`, plus
/// `(z[:, latent..] * residual_spread[class]) · residual axes`: Gaussian noise of each
/// class's measured spread along the axes the normalised space leaves out. `props` (the
/// model card) go into `metadata_props`.
pub fn spectral_generator(
    generator: &Generator,
    config: &SpectralCganConfig,
    normaliser: &Normaliser,
    residual_spread: &Array2<f64>,
    props: &[(String, String)],
    version: &str,
) -> Result<ModelProto> {
    if config.bands != normaliser.basis.nrows() || residual_spread.dim() != (config.classes, normaliser.residual_axes.nrows()) {
        return Err(crate::Error::Invalid(format!(
            "the generator has {} outputs and {} classes; the normaliser {} dimensions, the residual spread is {:?}",
            config.bands,
            config.classes,
            normaliser.basis.nrows(),
            residual_spread.dim()
        )));
    }
    let (latent, residual) = (config.architecture.latent as i64, normaliser.residual_axes.nrows() as i64);
    let mut nodes = vec![
        node("Slice", "latent", &["z", "latent.start", "latent.end", "axis1"], &["z_gan"], &[]),
        node("Gather", "embed", &["embedding", "class_index"], &["embedded"], &[]),
        node("Concat", "condition", &["z_gan", "embedded"], &["h0"], &[("axis", Attr::Int(1))]),
    ];
    let mut initializer = vec![
        tensor_i64("latent.start", &[1], vec![0]),
        tensor_i64("latent.end", &[1], vec![latent]),
        tensor_i64("axis1", &[1], vec![1]),
        tensor_f32(
            "embedding",
            &[config.classes as i64, config.architecture.embedding as i64],
            values(generator.embedding.table.as_tensor())?,
        ),
    ];
    let (input, width) = hidden_blocks(generator, config, &mut nodes, &mut initializer)?;
    // G's outputs are the normaliser's dimensions; the basis maps them to physical bands.
    let (dims, bands) = (config.bands as i64, normaliser.basis.ncols() as i64);
    initializer.push(tensor_f32("output.weight", &[dims, width as i64], values(generator.output.weight.as_tensor())?));
    initializer.push(tensor_f32("output.bias", &[dims], values(generator.output.bias.as_tensor())?));
    initializer.push(tensor_f32("denorm.basis", &[dims, bands], normaliser.basis.iter().map(|&v| v as f32).collect()));
    initializer.push(tensor_f32("denorm.offset", &[bands], normaliser.offset.iter().map(|&v| v as f32).collect()));
    nodes.push(node("Gemm", "output", &[&input, "output.weight", "output.bias"], &["logits"], &[("transB", Attr::Int(1))]));
    nodes.push(node("Tanh", "squash", &["logits"], &["normalised"], &[]));
    if residual == 0 {
        nodes.push(node("Gemm", "denormalise", &["normalised", "denorm.basis", "denorm.offset"], &["spectra"], &[]));
    } else {
        nodes.push(node("Gemm", "denormalise", &["normalised", "denorm.basis", "denorm.offset"], &["smooth"], &[]));
        initializer.extend(residual_tables(normaliser, residual_spread, latent));
        nodes.extend(residual_noise_nodes());
    }

    Ok(spectral_cgan_model("spectral_cgan_generator", (nodes, initializer), latent + residual, bands, props, version))
}

/// Adds the generator's hidden blocks (Gemm, batch norm, LeakyReLU) from `h0`; returns the
/// last block's output and its width.
fn hidden_blocks(
    generator: &Generator,
    config: &SpectralCganConfig,
    nodes: &mut Vec<NodeProto>,
    initializer: &mut Vec<TensorProto>,
) -> Result<(String, usize)> {
    let mut input = "h0".to_string();
    let mut width = config.architecture.latent + config.architecture.embedding;
    for (i, (linear, norm)) in generator.blocks.iter().enumerate() {
        let out = config.architecture.generator_widths[i];
        let name = |what: &str| format!("block{i}.{what}");
        initializer.push(tensor_f32(&name("weight"), &[out as i64, width as i64], values(linear.weight.as_tensor())?));
        initializer.push(tensor_f32(&name("bias"), &[out as i64], values(linear.bias.as_tensor())?));
        nodes.push(node(
            "Gemm",
            &name("linear"),
            &[&input, &name("weight"), &name("bias")],
            &[&name("linear_out")],
            &[("transB", Attr::Int(1))],
        ));
        batch_norm(nodes, initializer, &name("norm"), &name("linear_out"), &name("norm_out"), norm)?;
        nodes.push(node("LeakyRelu", &name("act"), &[&name("norm_out")], &[&name("out")], &[("alpha", Attr::Float(LEAKY_SLOPE as f32))]));
        input = name("out");
        width = out;
    }
    Ok((input, width))
}

/// The residual noise's tables: where its weights sit in `z` (after the `latent` GAN
/// inputs), each class's spread along the residual axes, and the axes.
fn residual_tables(normaliser: &Normaliser, residual_spread: &Array2<f64>, latent: i64) -> Vec<TensorProto> {
    let (classes, residual) = (residual_spread.nrows() as i64, normaliser.residual_axes.nrows() as i64);
    let bands = normaliser.residual_axes.ncols() as i64;
    vec![
        tensor_i64("residual.start", &[1], vec![latent]),
        tensor_i64("residual.end", &[1], vec![latent + residual]),
        tensor_f32("residual.spread", &[classes, residual], residual_spread.iter().map(|&v| v as f32).collect()),
        tensor_f32("residual.axes", &[residual, bands], normaliser.residual_axes.iter().map(|&v| v as f32).collect()),
    ]
}

/// Nodes adding the residual noise (the class's spread times its weights, along the
/// residual axes) to `smooth`, giving `spectra`.
fn residual_noise_nodes() -> Vec<NodeProto> {
    vec![
        node("Slice", "residual", &["z", "residual.start", "residual.end", "axis1"], &["z_residual"], &[]),
        node("Gather", "spread", &["residual.spread", "class_index"], &["class_spread"], &[]),
        node("Mul", "scale_noise", &["z_residual", "class_spread"], &["scaled_noise"], &[]),
        node("MatMul", "noise", &["scaled_noise", "residual.axes"], &["noise"], &[]),
        node("Add", "add_noise", &["smooth", "noise"], &["spectra"], &[]),
    ]
}
