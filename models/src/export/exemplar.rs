//! Export of the exemplar variation model ([`hypersynth_spectral::ExemplarModel`]) as a
//! `spectral-cgan` generator.

use hypersynth_onnx_format::graph::{Attr, node, tensor_f32, tensor_i64};
use hypersynth_onnx_format::proto::tensor_proto::DataType;
use hypersynth_onnx_format::proto::{ModelProto, NodeProto, TensorProto};
use hypersynth_spectral::ExemplarModel;

use super::spectral_cgan_model;
use crate::Result;

/// The exemplar variation model as an ONNX model meeting the `spectral-cgan` contract:
/// inputs `z` float32 `[N, model.latent()]` and `class_index` int64 `[N]`, output `spectra`
/// float32 `[N, bands]` in the units the model was fitted in. The graph computes what
/// [`ExemplarModel::sample`] does: the exemplar `floor(Φ(z[0]) · count)` of the class,
/// moved `interpolate · Φ(z[3])` of the way towards its class-mate
/// `floor(Φ(z[2]) · neighbour_count)`, times `exp(brightness · z[1])`, plus the own
/// factor's and the pooled factor's noise driven by the rest of `z`; for a model of
/// logarithms (`log_floor`), `brightness · z[1]` is added instead and the sum
/// exponentiated. `props` (the model card) go into `metadata_props`.
///
/// A row's noise is one matrix product of its weights, placed in its class's block of a
/// `[N, classes x rows]` matrix, with every class's factor rows stacked: gathering each
/// row's own `[rows, bands]` factor instead made ONNX Runtime copy (and fault in) hundreds
/// of megabytes per batch of 4096. The pooled factor is left out when every class's pooled
/// scale is 0 (the default), as its noise then is exactly 0.
pub fn exemplar_generator(ex: &ExemplarModel, props: &[(String, String)], version: &str) -> Result<ModelProto> {
    let (bands, latent) = (ex.own.dim().2 as i64, ex.latent() as i64);
    let pooled = ex.pooled_scale.iter().any(|&s| s != 0.0);
    let log = ex.log_floor.is_some();
    let mut nodes = centre_nodes(log);
    nodes.extend(noise_nodes(pooled, if log { "log_spectra" } else { "spectra" }));
    if log {
        nodes.push(node("Exp", "spectra", &["log_spectra"], &["spectra"], &[]));
    }
    let parts = (nodes, initializers(ex, pooled));
    Ok(spectral_cgan_model("exemplar_variation_generator", parts, latent, bands, props, version))
}

/// The model's tables (exemplars, class-mates, factors) and the graph's constants; the
/// pooled factor only when `pooled`.
fn initializers(ex: &ExemplarModel, pooled: bool) -> Vec<TensorProto> {
    let (classes, own_rows, bands) = ex.own.dim();
    let pooled_rows = ex.pooled.dim().1;
    let latent = ex.latent() as i64;
    let f32s = |values: &mut dyn Iterator<Item = f64>| values.map(|v| v as f32).collect::<Vec<f32>>();
    let (m, p) = (own_rows as i64, pooled_rows as i64);
    let k = ex.neighbours.ncols() as i64;
    let f = ExemplarModel::FACTORS_AT as i64;
    let c = classes as i64;
    let mut initializer = vec![
        tensor_f32("ex.table", &[ex.exemplars.nrows() as i64, bands as i64], f32s(&mut ex.exemplars.iter().copied())),
        tensor_i64("ex.starts", &[classes as i64], ex.starts.iter().map(|&s| s as i64).collect()),
        tensor_f32("ex.counts", &[classes as i64], ex.counts.iter().map(|&c| c as f32).collect()),
        tensor_i64("ex.neighbours", &[ex.neighbours.len() as i64], ex.neighbours.iter().map(|&r| r as i64).collect()),
        tensor_f32("ex.neighbour_counts", &[ex.exemplars.nrows() as i64], ex.neighbour_counts.iter().map(|&c| c as f32).collect()),
        tensor_i64("ex.neighbour_width", &[1], vec![k]),
        tensor_f32("ex.interpolate", &[1], vec![ex.interpolate as f32]),
        // Every class's own factor rows, stacked: [classes x M, bands].
        tensor_f32("ex.own", &[c * m, bands as i64], f32s(&mut ex.own.iter().copied())),
        tensor_i64("ex.classes", &[c], (0..c).collect()),
        tensor_i64("own_block_shape", &[2], vec![-1, c * m]),
        tensor_f32("ex.brightness", &[1], vec![ex.brightness as f32]),
    ];
    initializer.extend(pick_constants());
    initializer.extend([
        tensor_i64("at2", &[1], vec![2]),
        tensor_i64("at3", &[1], vec![3]),
        tensor_i64("at_factors", &[1], vec![f]),
        tensor_i64("at_pooled", &[1], vec![f + m]),
    ]);
    if pooled {
        // The pooled factor rows at their class's scale, stacked: [classes x P, bands].
        let scaled = ex.pooled.indexed_iter().map(|((class, _, _), &v)| v * ex.pooled_scale[class]);
        initializer.push(tensor_f32("ex.pooled", &[c * p, bands as i64], f32s(&mut scaled.into_iter())));
        initializer.push(tensor_i64("pooled_block_shape", &[2], vec![-1, c * p]));
        initializer.push(tensor_i64("at_end", &[1], vec![latent]));
    }
    initializer
}

/// Nodes computing `bright` `[N, bands]`: the row's exemplar moved towards its class-mate,
/// times its brightness, or plus its log brightness when the tables hold logarithms (`log`).
fn centre_nodes(log: bool) -> Vec<NodeProto> {
    let slice = |name: &str, start: &str, end: &str| node("Slice", name, &["z", start, end, "axis1"], &[name], &[]);
    let mut nodes = pick_nodes();
    nodes.extend([
        // Its class-mate: floor(Φ(z[2]) · neighbour count) of its row in the table.
        slice("z_mate", "at2", "at3"),
        node("Reshape", "z_mate_flat", &["z_mate", "flat"], &["z_mate_flat"], &[]),
        node("Gather", "mates", &["ex.neighbour_counts", "row"], &["mates"], &[]),
    ]);
    nodes.extend(phi("mate", "z_mate_flat"));
    nodes.extend(index_below("mate", "mate_phi", "mates"));
    nodes.extend([
        node("Mul", "mate_base", &["row", "ex.neighbour_width"], &["mate_base"], &[]),
        node("Add", "mate_slot", &["mate_base", "mate"], &["mate_slot"], &[]),
        node("Gather", "mate_row", &["ex.neighbours", "mate_slot"], &["mate_row"], &[]),
        node("Gather", "mate_spectrum", &["ex.table", "mate_row"], &["mate_spectrum"], &[]),
        // The move towards it: interpolate · Φ(z[3]), as a column.
        slice("z_move", "at3", "at_factors"),
    ]);
    nodes.extend(phi("move", "z_move"));
    nodes.extend([
        node("Mul", "move", &["move_phi", "ex.interpolate"], &["move"], &[]),
        node("Sub", "towards", &["mate_spectrum", "exemplar"], &["towards"], &[]),
        node("Mul", "moved", &["towards", "move"], &["moved"], &[]),
        node("Add", "centre", &["exemplar", "moved"], &["centre"], &[]),
        // Its brightness: exp(b · z[1]), or b · z[1] added to a logarithm.
        slice("z_bright", "at1", "at2"),
        node("Mul", "log_gain", &["z_bright", "ex.brightness"], &["log_gain"], &[]),
    ]);
    if log {
        nodes.push(node("Add", "bright", &["centre", "log_gain"], &["bright"], &[]));
    } else {
        nodes.push(node("Exp", "gain", &["log_gain"], &["gain"], &[]));
        nodes.push(node("Mul", "bright", &["centre", "gain"], &["bright"], &[]));
    }
    nodes
}

/// The constants [`pick_nodes`] reads (with [`phi`] and [`index_below`]), beside the
/// tables `ex.table`, `ex.starts` and `ex.counts` a graph brings itself.
pub(super) fn pick_constants() -> [TensorProto; 7] {
    [
        tensor_f32("one", &[1], vec![1.0]),
        tensor_f32("half", &[1], vec![0.5]),
        tensor_f32("inv_sqrt2", &[1], vec![std::f32::consts::FRAC_1_SQRT_2]),
        tensor_i64("axis1", &[1], vec![1]),
        tensor_i64("flat", &[1], vec![-1]),
        tensor_i64("at0", &[1], vec![0]),
        tensor_i64("at1", &[1], vec![1]),
    ]
}

/// Nodes computing `exemplar` `[N, bands]` and its `row` in `ex.table`: the row
/// `floor(Φ(z[0]) · count)`, at most `count - 1`, from the class's first (`ex.starts`,
/// `ex.counts`); the exemplar GAN's graph picks its exemplar the same way.
pub(super) fn pick_nodes() -> Vec<NodeProto> {
    let mut nodes = vec![
        node("Slice", "z_pick", &["z", "at0", "at1", "axis1"], &["z_pick"], &[]),
        node("Reshape", "z_pick_flat", &["z_pick", "flat"], &["z_pick_flat"], &[]),
    ];
    nodes.extend(phi("pick", "z_pick_flat"));
    nodes.push(node("Gather", "count", &["ex.counts", "class_index"], &["count"], &[]));
    nodes.extend(index_below("pick", "pick_phi", "count"));
    nodes.extend([
        node("Gather", "start", &["ex.starts", "class_index"], &["start"], &[]),
        node("Add", "row", &["start", "pick"], &["row"], &[]),
        node("Gather", "exemplar", &["ex.table", "row"], &["exemplar"], &[]),
    ]);
    nodes
}

/// Nodes adding the factors' noise to `bright`, giving `out`: the own factor's, and the
/// pooled factor's when `pooled`.
fn noise_nodes(pooled: bool, out: &str) -> Vec<NodeProto> {
    let mut nodes = vec![
        // Each row's class as a one-hot [N, classes, 1], which places its weights in its
        // class's block.
        node("Unsqueeze", "class_col", &["class_index", "at1"], &["class_col"], &[]),
        node("Equal", "is_class", &["class_col", "ex.classes"], &["is_class"], &[]),
        node("Cast", "one_hot", &["is_class"], &["one_hot"], &[("to", Attr::Int(DataType::Float as i64))]),
        node("Unsqueeze", "one_hot_blocks", &["one_hot", "at2"], &["one_hot_blocks"], &[]),
    ];
    nodes.extend(block_noise("own", "at_factors", "at_pooled", "own_block_shape"));
    if pooled {
        nodes.extend(block_noise("pooled", "at_pooled", "at_end", "pooled_block_shape"));
        nodes.push(node("Add", "with_own", &["bright", "own_noise"], &["with_own"], &[]));
        nodes.push(node("Add", out, &["with_own", "pooled_noise"], &[out], &[]));
    } else {
        nodes.push(node("Add", out, &["bright", "own_noise"], &[out], &[]));
    }
    nodes
}

/// Nodes computing `{factor}_noise` `[N, bands]`: the weights `z[start..end]` of each row
/// in its class's block (`one_hot_blocks`), reshaped by `blocks` to `[N, classes x rows]`,
/// times the stacked factor rows `ex.{factor}`.
fn block_noise(factor: &str, start: &str, end: &str, blocks: &str) -> Vec<NodeProto> {
    let [weights, rows, placed, flat, noise] = ["z", "z_rows", "placed", "blocks", "noise"].map(|s| format!("{factor}_{s}"));
    vec![
        node("Slice", &weights, &["z", start, end, "axis1"], &[&weights], &[]),
        node("Unsqueeze", &rows, &[&weights, "at1"], &[&rows], &[]),
        node("Mul", &placed, &["one_hot_blocks", &rows], &[&placed], &[]),
        node("Reshape", &flat, &[&placed, blocks], &[&flat], &[]),
        node("MatMul", &noise, &[&flat, &format!("ex.{factor}")], &[&noise], &[]),
    ]
}

/// Nodes computing `{prefix}_phi = Φ(input)`, the standard normal distribution function.
pub(super) fn phi(prefix: &str, input: &str) -> Vec<NodeProto> {
    let [scaled, erf, plus_one, out] = ["scaled", "erf", "erf_plus_one", "phi"].map(|s| format!("{prefix}_{s}"));
    vec![
        node("Mul", &scaled, &[input, "inv_sqrt2"], &[&scaled], &[]),
        node("Erf", &erf, &[&scaled], &[&erf], &[]),
        node("Add", &plus_one, &[&erf, "one"], &[&plus_one], &[]),
        node("Mul", &out, &[&plus_one, "half"], &[&out], &[]),
    ]
}

/// Nodes computing the int64 `name = min(floor(u · count), count - 1)` for `u` in [0, 1].
pub(super) fn index_below(name: &str, u: &str, count: &str) -> Vec<NodeProto> {
    let [position, floor, last, clipped] = ["position", "floor", "last", "f"].map(|s| format!("{name}_{s}"));
    vec![
        node("Mul", &position, &[u, count], &[&position], &[]),
        node("Floor", &floor, &[&position], &[&floor], &[]),
        node("Sub", &last, &[count, "one"], &[&last], &[]),
        node("Min", &clipped, &[&floor, &last], &[&clipped], &[]),
        node("Cast", name, &[&clipped], &[name], &[("to", Attr::Int(DataType::Int64 as i64))]),
    ]
}
