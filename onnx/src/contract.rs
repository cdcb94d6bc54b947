//! The input/output contract of each model kind (see `docs/MODELS.md`).

use hypersynth_onnx_format::{ModelCard, ModelKind};

use crate::session::{OnnxSession, TensorInfo};
use crate::{Error, Result};

/// Checks that `session` has a card and that its inputs and outputs match its kind's
/// contract and its card; the error names the offending input, output or key.
pub fn check_contract(session: &OnnxSession) -> Result<()> {
    let problem = |p: String| Error::Model { path: session.path.clone(), problem: p };
    let card = session.card.as_ref().ok_or_else(|| {
        problem(format!("model has no hypersynth model card in its metadata and no sidecar {}.json", session.path.display()))
    })?;
    let bands = card.wavelengths_nm.len() as i64;
    let channels = input_channels(card);
    if card.normalisation.offset.len() as i64 != channels {
        return Err(problem(format!(
            "hypersynth.normalisation has {} values for {} wavelengths; a {} model needs {channels}",
            card.normalisation.offset.len(),
            bands,
            card.kind.as_str()
        )));
    }
    match card.kind {
        ModelKind::SpectralCgan => {
            if card.classes.is_empty() {
                return Err(problem("hypersynth.classes is empty; a spectral-cgan model needs its classes".into()));
            }
            expect(session, &session.inputs, "input", "z", "float32", &[None, None]).map_err(problem)?;
            expect(session, &session.inputs, "input", "class_index", "int64", &[None]).map_err(problem)?;
            expect(session, &session.outputs, "output", "spectra", "float32", &[None, Some(bands)]).map_err(problem)?;
        }
        ModelKind::Pix2pix => {
            let outputs = card.output.as_ref().map(|o| o.offset.len() as i64);
            expect(session, &session.inputs, "input", "image", "float32", &[None, Some(channels), None, None]).map_err(problem)?;
            expect(session, &session.outputs, "output", "output", "float32", &[None, outputs, None, None]).map_err(problem)?;
        }
        ModelKind::CycleganSr => {
            expect(session, &session.inputs, "input", "image", "float32", &[None, Some(bands), None, None]).map_err(problem)?;
            expect(session, &session.outputs, "output", "output", "float32", &[None, Some(bands), None, None]).map_err(problem)?;
        }
    }
    Ok(())
}

/// The channels a model of `card`'s kind reads per pixel: the bands, or for `pix2pix` the
/// pre-event bands followed by the post-event bands.
pub fn input_channels(card: &ModelCard) -> i64 {
    let bands = card.wavelengths_nm.len() as i64;
    if card.kind == ModelKind::Pix2pix { 2 * bands } else { bands }
}

/// Checks one named tensor: present, of `dtype`, of rank `dims.len()`, and with each
/// `Some(n)` dimension equal to `n` (or dynamic).
fn expect(session: &OnnxSession, list: &[TensorInfo], role: &str, name: &str, dtype: &str, dims: &[Option<i64>]) -> Result<(), String> {
    let kind = session.card.as_ref().map(|c| c.kind.as_str()).unwrap_or("?");
    let names = || list.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
    let t = list
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| format!("a {kind} model needs an {role} named {name:?}; this one has [{}]", names()))?;
    if t.dtype != dtype {
        return Err(format!("{role} {name:?} is {}, a {kind} model needs {dtype}", t.dtype));
    }
    if t.shape.len() != dims.len() {
        return Err(format!("{role} {name:?} has rank {} (shape {:?}), a {kind} model needs rank {}", t.shape.len(), t.shape, dims.len()));
    }
    for (axis, (&actual, want)) in t.shape.iter().zip(dims).enumerate() {
        if let Some(want) = want
            && actual >= 0
            && actual != *want
        {
            return Err(format!("{role} {name:?} has {actual} at axis {axis}, the model card says {want}"));
        }
    }
    Ok(())
}
