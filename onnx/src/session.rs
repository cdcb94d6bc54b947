//! ONNX Runtime sessions: a model file, its card, its inputs and outputs, and the
//! execution provider it actually runs on.

use std::path::{Path, PathBuf};

use hypersynth_onnx_format::proto::tensor_proto::DataType;
use hypersynth_onnx_format::proto::{ModelProto, TensorProto};
use hypersynth_onnx_format::{DROPOUT_SWITCH, ModelCard, decode_model, metadata_props};
use ndarray::{ArrayD, ArrayViewD};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};
use serde::Serialize;

use crate::binding::Bound;
use crate::device::Device;
use crate::{Error, Result};

/// How to build a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Where to run.
    pub device: Device,
    /// Run on the CPU when the requested GPU provider cannot be used (otherwise fail).
    pub allow_cpu_fallback: bool,
    /// Intra-op threads; `None` lets ONNX Runtime use every core.
    pub threads: Option<usize>,
    /// ONNX Runtime graph optimisation level, 0 (none) to 3 (all).
    pub optimization_level: u8,
    /// Folder for TensorRT's engine and timing caches (`--device tensorrt` only), so that
    /// engines are built once per model and shape, not once per run.
    pub tensorrt_cache: Option<PathBuf>,
    /// Let TensorRT run layers in float16 where it finds them faster (`--device tensorrt`
    /// only; inputs and outputs stay float32).
    pub fp16: bool,
    /// The model is fed batches of one shape (image tiles) while other work shares the
    /// cores: on the CPU its memory comes from ONNX Runtime's arena and its threads do not
    /// spin between operators; on a GPU convolution algorithms are chosen by timing them
    /// once (cuDNN's exhaustive search), and float32-only runs go through an I/O binding
    /// (see [`OnnxSession::run`]).
    pub fixed_shapes: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            allow_cpu_fallback: false,
            threads: None,
            optimization_level: 3,
            tensorrt_cache: None,
            fp16: false,
            fixed_shapes: false,
        }
    }
}

/// A tensor input or output as the model declares it; `-1` marks a dynamic dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorInfo {
    /// The input or output name.
    pub name: String,
    /// The element type, lower-case (`float32`, `int64`, ...).
    pub dtype: String,
    /// The declared shape.
    pub shape: Vec<i64>,
}

/// Where a model's card came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CardSource {
    /// The model's own `metadata_props`.
    Embedded,
    /// A `M.onnx.json` sidecar file.
    Sidecar(PathBuf),
}

/// One input value for [`OnnxSession::run`].
#[derive(Debug)]
pub enum Input<'a> {
    /// A float32 tensor.
    F32(ArrayViewD<'a, f32>),
    /// An int64 tensor.
    I64(ArrayViewD<'a, i64>),
    /// A boolean tensor.
    Bool(ArrayViewD<'a, bool>),
}

/// A loaded model with its session.
pub struct OnnxSession {
    /// The model file.
    pub path: PathBuf,
    /// The model card, embedded or from a sidecar; `None` when the model has neither.
    pub card: Option<ModelCard>,
    /// Where the card came from.
    pub card_source: Option<CardSource>,
    /// The declared inputs a run must feed.
    pub inputs: Vec<TensorInfo>,
    /// The inputs with a default value (initializers a run may override), such as a
    /// pix2pix model's dropout switch.
    pub defaulted_inputs: Vec<TensorInfo>,
    /// Whether the model has a dropout switch: [`DROPOUT_SWITCH`], a boolean scalar input
    /// with a default. Its Dropout nodes are then kept in the session.
    pub dropout_switch: bool,
    /// The declared outputs.
    pub outputs: Vec<TensorInfo>,
    /// The device the session runs on (the CPU after an allowed fallback).
    pub device: Device,
    session: Session,
    /// Whether float32-only runs go through an I/O binding.
    io_binding: bool,
    bound: Option<Bound>,
}

impl std::fmt::Debug for OnnxSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxSession").field("path", &self.path).field("device", &self.device).finish_non_exhaustive()
    }
}

impl OnnxSession {
    /// Loads the model at `path`; ONNX Runtime must have been loaded with
    /// [`crate::load_runtime`] first. The card is read but not checked; see
    /// [`crate::check_contract`].
    pub fn open(path: &Path, options: &SessionOptions) -> Result<Self> {
        let model_error = |problem: String| Error::Model { path: path.to_path_buf(), problem };
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let proto = decode_model(&bytes).map_err(|e| model_error(e.to_string()))?;
        let (card, card_source) = read_card(path, &metadata_props(&proto))?;
        let dropout_switch = has_dropout_switch(&proto);
        let (session, device) = build_session(path, &bytes, options, dropout_switch)?;
        let inputs = session.inputs().iter().map(|o| tensor_info(o.name(), o.dtype())).collect();
        let defaulted_inputs = session.overridable_initializers().iter().map(|o| tensor_info(o.name(), o.dtype())).collect();
        let outputs = session.outputs().iter().map(|o| tensor_info(o.name(), o.dtype())).collect();
        let io_binding = options.fixed_shapes && device.is_gpu();
        Ok(Self {
            path: path.to_path_buf(),
            card,
            card_source,
            inputs,
            defaulted_inputs,
            dropout_switch,
            outputs,
            device,
            session,
            io_binding,
            bound: None,
        })
    }

    /// Runs the model on named inputs and returns every output as float32. With
    /// [`SessionOptions::fixed_shapes`] on a GPU, float32-only inputs go through an I/O
    /// binding made for their shapes (made again when they change).
    pub fn run(&mut self, inputs: Vec<(&str, Input<'_>)>) -> Result<Vec<ArrayD<f32>>> {
        let path = self.path.clone();
        let runtime_error = move |operation: &'static str| {
            let path = path.clone();
            move |e: ort::Error| Error::Runtime { path, operation, message: e.to_string() }
        };
        if self.io_binding
            && let Some(floats) = float_inputs(&inputs)
        {
            return self.run_bound(&floats).map_err(runtime_error("run with an I/O binding"));
        }
        let mut values = Vec::with_capacity(inputs.len());
        for (name, input) in inputs {
            let value: ort::session::SessionInputValue<'_> = match input {
                Input::F32(a) => TensorRef::from_array_view(a).map_err(runtime_error("input"))?.into(),
                Input::I64(a) => TensorRef::from_array_view(a).map_err(runtime_error("input"))?.into(),
                Input::Bool(a) => TensorRef::from_array_view(a).map_err(runtime_error("input"))?.into(),
            };
            values.push((name, value));
        }
        let outputs = self.session.run(values).map_err(runtime_error("run"))?;
        let mut arrays = Vec::with_capacity(outputs.len());
        for (_, value) in outputs.iter() {
            arrays.push(value.try_extract_array::<f32>().map_err(runtime_error("read output"))?.to_owned());
        }
        Ok(arrays)
    }

    /// Runs float32 `inputs` through the I/O binding for their shapes.
    fn run_bound(&mut self, inputs: &[(&str, ArrayViewD<'_, f32>)]) -> ort::Result<Vec<ArrayD<f32>>> {
        let bound = match self.bound.take() {
            Some(bound) if bound.fits(inputs) => bound,
            _ => {
                let outputs: Vec<String> = self.outputs.iter().map(|o| o.name.clone()).collect();
                Bound::new(&self.session, self.device, inputs, &outputs)?
            }
        };
        self.bound.insert(bound).run(&mut self.session, inputs)
    }

    /// Sends float32-only runs through an I/O binding whatever the device (on the CPU it
    /// gives the same results as plain runs, which is how the binding is tested without a
    /// GPU).
    pub fn force_io_binding(&mut self) {
        self.io_binding = true;
    }
}

/// `inputs` as float32 views, when every one is float32.
fn float_inputs<'a>(inputs: &'a [(&'a str, Input<'_>)]) -> Option<Vec<(&'a str, ArrayViewD<'a, f32>)>> {
    inputs
        .iter()
        .map(|(name, input)| match input {
            Input::F32(a) => Some((*name, a.view())),
            Input::I64(_) | Input::Bool(_) => None,
        })
        .collect()
}

/// The sidecar model card of the model at `model`: `M.onnx.json` beside `M.onnx`.
pub fn sidecar_path(model: &Path) -> PathBuf {
    PathBuf::from(format!("{}.json", model.display()))
}

fn read_card(path: &Path, props: &[(String, String)]) -> Result<(Option<ModelCard>, Option<CardSource>)> {
    let bad_card = |source: &Path, e: hypersynth_onnx_format::Error| Error::Model { path: source.to_path_buf(), problem: e.to_string() };
    if let Some(card) = ModelCard::from_props(props).map_err(|e| bad_card(path, e))? {
        return Ok((Some(card), Some(CardSource::Embedded)));
    }
    let sidecar = sidecar_path(path);
    if !sidecar.exists() {
        return Ok((None, None));
    }
    let text = std::fs::read_to_string(&sidecar).map_err(|source| Error::Io { path: sidecar.clone(), source })?;
    let card = ModelCard::from_sidecar_json(&text).map_err(|e| bad_card(&sidecar, e))?;
    if card.is_none() {
        return Err(Error::Model { path: sidecar, problem: "sidecar model card has no \"hypersynth.kind\"".into() });
    }
    Ok((card, Some(CardSource::Sidecar(sidecar))))
}

/// Whether the model declares [`DROPOUT_SWITCH`] as an input with a default: a graph
/// input that is also a boolean scalar initializer.
fn has_dropout_switch(proto: &ModelProto) -> bool {
    proto.graph.as_ref().is_some_and(|g| {
        let named = |name: &Option<String>| name.as_deref() == Some(DROPOUT_SWITCH);
        let bool_scalar = |t: &TensorProto| t.data_type == Some(DataType::Bool as i32) && t.dims.is_empty();
        g.input.iter().any(|i| named(&i.name)) && g.initializer.iter().any(|t| named(&t.name) && bool_scalar(t))
    })
}

/// A session for the model `bytes`; with `dropout_switch`, its Dropout nodes are kept
/// (ONNX Runtime's `EliminateDropout` would remove them whatever the switch says; while
/// the switch is off they pass their input through).
fn build_session(path: &Path, bytes: &[u8], options: &SessionOptions, dropout_switch: bool) -> Result<(Session, Device)> {
    let runtime_error = |operation: &'static str, message: String| Error::Runtime { path: path.to_path_buf(), operation, message };
    let level = match options.optimization_level {
        0 => GraphOptimizationLevel::Disable,
        1 => GraphOptimizationLevel::Level1,
        2 => GraphOptimizationLevel::Level2,
        _ => GraphOptimizationLevel::Level3,
    };
    let environment = crate::runtime::environment()
        .ok_or_else(|| runtime_error("session set-up", "ONNX Runtime is not loaded (call load_runtime first)".into()))?;
    let mut builder = Session::builder(environment)
        .and_then(|b| b.with_optimization_level(level).map_err(Into::into))
        .map_err(|e| runtime_error("session set-up", e.to_string()))?;
    if dropout_switch {
        builder = builder.with_disabled_optimizers("EliminateDropout").map_err(|e| runtime_error("session set-up", e.to_string()))?;
    }
    if let Some(threads) = options.threads {
        builder = builder.with_intra_threads(threads).map_err(|e| runtime_error("session set-up", e.to_string()))?;
    }
    if options.fixed_shapes {
        // Scene inference reads and decodes the next tiles while the model runs: threads
        // that spin between operators would take the cores the reader needs.
        builder = builder.with_intra_op_spinning(false).map_err(|e| runtime_error("session set-up", e.to_string()))?;
    }
    let device = match crate::providers::register(&mut builder, options) {
        Ok(()) => options.device,
        Err(problem) if options.allow_cpu_fallback => {
            tracing::warn!("{} execution provider unavailable ({problem}); falling back to the CPU as allowed", options.device);
            Device::Cpu
        }
        Err(problem) => return Err(Error::Provider { device: options.device.to_string(), problem }),
    };
    let session = builder
        .commit_from_memory(bytes)
        .map_err(|e| Error::Model { path: path.to_path_buf(), problem: format!("ONNX Runtime cannot load the model: {e}") })?;
    Ok((session, device))
}

fn tensor_info(name: &str, dtype: &ValueType) -> TensorInfo {
    match dtype {
        ValueType::Tensor { ty, shape, .. } => {
            TensorInfo { name: name.to_string(), dtype: element_name(*ty), shape: shape.iter().copied().collect() }
        }
        other => TensorInfo { name: name.to_string(), dtype: other.to_string(), shape: Vec::new() },
    }
}

/// The ONNX / numpy name of an element type (`float32`, `int64`, ...).
fn element_name(ty: TensorElementType) -> String {
    match ty {
        TensorElementType::Float32 => "float32".into(),
        TensorElementType::Float64 => "float64".into(),
        TensorElementType::Float16 => "float16".into(),
        TensorElementType::Int64 => "int64".into(),
        TensorElementType::Int32 => "int32".into(),
        TensorElementType::Uint8 => "uint8".into(),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}
