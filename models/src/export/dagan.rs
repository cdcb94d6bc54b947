//! Export of the exemplar GAN's generator ([`crate::dagan`]) as a `spectral-cgan` model,
//! its exemplars inside the graph.

use hypersynth_onnx_format::graph::{Attr, node, tensor_f32, tensor_i64};
use hypersynth_onnx_format::proto::{ModelProto, TensorProto};
use hypersynth_spectral::LogScale;

use super::exemplar::{pick_constants, pick_nodes};
use super::{spectral_cgan_model, values};
use crate::dagan::{DaganConfig, ExemplarTable, Generator};
use crate::layers::LEAKY_SLOPE;
use crate::{Error, Result};

/// The exemplar GAN's generator as an ONNX model meeting the `spectral-cgan` contract:
/// inputs `z` float32 `[N, 1 + latent]` and `class_index` int64 `[N]`, output `spectra`
/// float32 `[N, bands]` in the units of the spectra `scale` was fitted on. `z[0]` picks the
/// exemplar of the class (`floor(Φ(z[0]) · count)`, as [`ExemplarTable::pick`]), the rest
/// is the generator's noise; the generator's output, standardised logarithms, is mapped
/// back by `scale` inside the graph. The exemplar is seen, and the move made, along the
/// generator's principal axes (two `MatMul`s), its size multiplied by the class's
/// [`Generator::move_scale`]. `props` (the model card) go into `metadata_props`.
pub fn dagan_generator(
    generator: &Generator,
    config: &DaganConfig,
    scale: &LogScale,
    exemplars: &ExemplarTable,
    props: &[(String, String)],
    version: &str,
) -> Result<ModelProto> {
    let bands = config.bands;
    if exemplars.spectra.ncols() != bands || scale.offset.len() != bands || exemplars.counts.len() != config.classes {
        return Err(Error::Invalid(format!(
            "a generator of {bands} bands and {} classes with exemplars of {} bands and {} classes and a log scale of {} bands",
            config.classes,
            exemplars.spectra.ncols(),
            exemplars.counts.len(),
            scale.offset.len()
        )));
    }
    let latent = config.architecture.latent as i64;
    let mut initializer = tables(generator, config, scale, exemplars)?;
    let mut nodes = pick_nodes();
    nodes.extend([
        node("Slice", "z_gan", &["z", "at1", "at_end", "axis1"], &["z_gan"], &[]),
        node("Gather", "embed", &["embedding", "class_index"], &["embedded"], &[]),
        node("MatMul", "along_axes", &["exemplar", "dagan.axes_t"], &["exemplar_along"], &[]),
        node("Concat", "condition", &["exemplar_along", "embedded", "z_gan"], &["h0"], &[("axis", Attr::Int(1))]),
    ]);
    let components = generator.axes.dim(0)?;
    let mut input = "h0".to_string();
    let mut width = components + config.architecture.embedding + config.architecture.latent;
    for (i, linear) in generator.blocks.iter().enumerate() {
        let out = config.architecture.generator_widths[i];
        let name = |what: &str| format!("block{i}.{what}");
        initializer.push(tensor_f32(&name("weight"), &[out as i64, width as i64], values(linear.weight.as_tensor())?));
        initializer.push(tensor_f32(&name("bias"), &[out as i64], values(linear.bias.as_tensor())?));
        let gemm =
            node("Gemm", &name("linear"), &[&input, &name("weight"), &name("bias")], &[&name("linear_out")], &[("transB", Attr::Int(1))]);
        nodes.push(gemm);
        nodes.push(node("LeakyRelu", &name("act"), &[&name("linear_out")], &[&name("out")], &[("alpha", Attr::Float(LEAKY_SLOPE as f32))]));
        input = name("out");
        width = out;
    }
    initializer.push(tensor_f32("output.weight", &[components as i64, width as i64], values(generator.output.weight.as_tensor())?));
    initializer.push(tensor_f32("output.bias", &[components as i64], values(generator.output.bias.as_tensor())?));
    nodes.extend([
        node("Gemm", "output", &[&input, "output.weight", "output.bias"], &["learned_move_along"], &[("transB", Attr::Int(1))]),
        node("Gather", "class_move_scale", &["dagan.move_scale", "class_index"], &["move_scale"], &[]),
        node("Mul", "scaled_move", &["learned_move_along", "move_scale"], &["move_along"], &[]),
        node("MatMul", "back_to_bands", &["move_along", "dagan.axes"], &["move"], &[]),
        node("Add", "moved", &["exemplar", "move"], &["standardised"], &[]),
        node("Mul", "unscale", &["standardised", "log.scale"], &["centred_log"], &[]),
        node("Add", "uncentre", &["centred_log", "log.offset"], &["log_spectra"], &[]),
        node("Exp", "spectra", &["log_spectra"], &["spectra"], &[]),
    ]);
    Ok(spectral_cgan_model("exemplar_gan_generator", (nodes, initializer), 1 + latent, bands as i64, props, version))
}

/// The exemplars, the class embedding, the log scale and the graph's constants.
fn tables(generator: &Generator, config: &DaganConfig, scale: &LogScale, exemplars: &ExemplarTable) -> Result<Vec<TensorProto>> {
    let (rows, bands) = exemplars.spectra.dim();
    let classes = config.classes as i64;
    let components = generator.axes.dim(0)?;
    let f32s = |v: &ndarray::Array1<f64>| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    Ok(vec![
        tensor_f32("ex.table", &[rows as i64, bands as i64], exemplars.spectra.iter().copied().collect()),
        tensor_i64("ex.starts", &[classes], exemplars.starts().iter().map(|&s| s as i64).collect()),
        tensor_f32("ex.counts", &[classes], exemplars.counts.iter().map(|&c| c as f32).collect()),
        tensor_f32("embedding", &[classes, config.architecture.embedding as i64], values(generator.embedding.table.as_tensor())?),
        tensor_f32("dagan.axes", &[components as i64, bands as i64], values(&generator.axes)?),
        tensor_f32("dagan.move_scale", &[classes, 1], values(&generator.move_scale)?),
        tensor_f32("dagan.axes_t", &[bands as i64, components as i64], values(&generator.axes.t()?.contiguous()?)?),
        tensor_f32("log.scale", &[bands as i64], f32s(&scale.scale)),
        tensor_f32("log.offset", &[bands as i64], f32s(&scale.offset)),
        tensor_i64("at_end", &[1], vec![1 + config.architecture.latent as i64]),
    ]
    .into_iter()
    .chain(pick_constants())
    .collect())
}
