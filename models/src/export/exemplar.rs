//! Export of the exemplar variation model ([`hypersynth_spectral::ExemplarModel`]) as a
//! `spectral-cgan` generator.

use hypersynth_onnx_format::graph::{Attr, Dim, model, node, tensor_f32, tensor_i64, value_info};
use hypersynth_onnx_format::proto::tensor_proto::DataType;
use hypersynth_onnx_format::proto::{GraphProto, ModelProto};
use hypersynth_onnx_format::set_metadata_props;
use hypersynth_spectral::ExemplarModel;

use crate::Result;

/// The exemplar variation model as an ONNX model meeting the `spectral-cgan` contract:
/// inputs `z` float32 `[N, model.latent()]` and `class_index` int64 `[N]`, output `spectra`
/// float32 `[N, bands]` in the units the model was fitted in. The graph computes what
/// [`ExemplarModel::sample`] does: the exemplar `floor(Φ(z[0]) · count)` of the class,
/// times `exp(brightness · z[1])`, plus the own factor's and the pooled factor's noise
/// driven by the rest of `z`. `props` (the model card) go into `metadata_props`.
pub fn exemplar_generator(ex: &ExemplarModel, props: &[(String, String)], version: &str) -> Result<ModelProto> {
    let (classes, own_rows, bands) = ex.own.dim();
    let pooled_rows = ex.pooled.dim().1;
    let latent = ex.latent() as i64;
    let f32s = |values: &mut dyn Iterator<Item = f64>| values.map(|v| v as f32).collect::<Vec<f32>>();
    let (m, p) = (own_rows as i64, pooled_rows as i64);
    let initializer = vec![
        tensor_f32("ex.table", &[ex.exemplars.nrows() as i64, bands as i64], f32s(&mut ex.exemplars.iter().copied())),
        tensor_i64("ex.starts", &[classes as i64], ex.starts.iter().map(|&s| s as i64).collect()),
        tensor_f32("ex.counts", &[classes as i64], ex.counts.iter().map(|&c| c as f32).collect()),
        tensor_f32("ex.own", &[classes as i64, m, bands as i64], f32s(&mut ex.own.iter().copied())),
        tensor_f32("ex.pooled", &[classes as i64, p, bands as i64], f32s(&mut ex.pooled.iter().copied())),
        tensor_f32("ex.pooled_scale", &[classes as i64], f32s(&mut ex.pooled_scale.iter().copied())),
        tensor_f32("ex.brightness", &[1], vec![ex.brightness as f32]),
        tensor_f32("one", &[1], vec![1.0]),
        tensor_f32("half", &[1], vec![0.5]),
        tensor_f32("inv_sqrt2", &[1], vec![std::f32::consts::FRAC_1_SQRT_2]),
        tensor_i64("axis1", &[1], vec![1]),
        tensor_i64("flat", &[1], vec![-1]),
        tensor_i64("rows_of_bands", &[2], vec![-1, bands as i64]),
        tensor_i64("at0", &[1], vec![0]),
        tensor_i64("at1", &[1], vec![1]),
        tensor_i64("at2", &[1], vec![2]),
        tensor_i64("at_pooled", &[1], vec![2 + m]),
        tensor_i64("at_end", &[1], vec![latent]),
    ];
    let slice = |name: &str, start: &str, end: &str| node("Slice", name, &["z", start, end, "axis1"], &[name], &[]);
    let nodes = vec![
        // The exemplar: floor(Φ(z[0]) · count), at most count - 1, from the class's first row.
        slice("z_pick", "at0", "at1"),
        node("Reshape", "z_pick_flat", &["z_pick", "flat"], &["z_pick_flat"], &[]),
        node("Mul", "z_scaled", &["z_pick_flat", "inv_sqrt2"], &["z_scaled"], &[]),
        node("Erf", "erf", &["z_scaled"], &["erf"], &[]),
        node("Add", "erf_plus_one", &["erf", "one"], &["erf_plus_one"], &[]),
        node("Mul", "phi", &["erf_plus_one", "half"], &["phi"], &[]),
        node("Gather", "count", &["ex.counts", "class_index"], &["count"], &[]),
        node("Mul", "position", &["phi", "count"], &["position"], &[]),
        node("Floor", "floor", &["position"], &["floor"], &[]),
        node("Sub", "last", &["count", "one"], &["last"], &[]),
        node("Min", "pick_f", &["floor", "last"], &["pick_f"], &[]),
        node("Cast", "pick", &["pick_f"], &["pick"], &[("to", Attr::Int(DataType::Int64 as i64))]),
        node("Gather", "start", &["ex.starts", "class_index"], &["start"], &[]),
        node("Add", "row", &["start", "pick"], &["row"], &[]),
        node("Gather", "exemplar", &["ex.table", "row"], &["exemplar"], &[]),
        // Its brightness: exp(b · z[1]).
        slice("z_bright", "at1", "at2"),
        node("Mul", "log_gain", &["z_bright", "ex.brightness"], &["log_gain"], &[]),
        node("Exp", "gain", &["log_gain"], &["gain"], &[]),
        node("Mul", "bright", &["exemplar", "gain"], &["bright"], &[]),
        // The class's own factor: [N, 1, M] · [N, M, bands].
        slice("z_own", "at2", "at_pooled"),
        node("Unsqueeze", "z_own_rows", &["z_own", "at1"], &["z_own_rows"], &[]),
        node("Gather", "own_factor", &["ex.own", "class_index"], &["own_factor"], &[]),
        node("MatMul", "own_rows", &["z_own_rows", "own_factor"], &["own_rows"], &[]),
        node("Reshape", "own_noise", &["own_rows", "rows_of_bands"], &["own_noise"], &[]),
        // The class's pooled factor, at the class's scale.
        slice("z_pooled", "at_pooled", "at_end"),
        node("Unsqueeze", "z_pooled_rows", &["z_pooled", "at1"], &["z_pooled_rows"], &[]),
        node("Gather", "pooled_factor", &["ex.pooled", "class_index"], &["pooled_factor"], &[]),
        node("MatMul", "pooled_product", &["z_pooled_rows", "pooled_factor"], &["pooled_product"], &[]),
        node("Reshape", "pooled_rows", &["pooled_product", "rows_of_bands"], &["pooled_rows"], &[]),
        node("Gather", "pooled_scale", &["ex.pooled_scale", "class_index"], &["pooled_scale"], &[]),
        node("Unsqueeze", "pooled_scale_col", &["pooled_scale", "at1"], &["pooled_scale_col"], &[]),
        node("Mul", "pooled_noise", &["pooled_rows", "pooled_scale_col"], &["pooled_noise"], &[]),
        node("Add", "with_own", &["bright", "own_noise"], &["with_own"], &[]),
        node("Add", "spectra", &["with_own", "pooled_noise"], &["spectra"], &[]),
    ];
    let graph = GraphProto {
        name: Some("exemplar_variation_generator".into()),
        node: nodes,
        initializer,
        input: vec![
            value_info("z", DataType::Float, &[Dim::Named("N"), Dim::Fixed(latent)]),
            value_info("class_index", DataType::Int64, &[Dim::Named("N")]),
        ],
        output: vec![value_info("spectra", DataType::Float, &[Dim::Named("N"), Dim::Fixed(bands as i64)])],
        ..Default::default()
    };
    let mut proto = model(graph, version);
    set_metadata_props(&mut proto, props);
    Ok(proto)
}
