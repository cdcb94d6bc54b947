//! Where the hypersynth binary looks for the ONNX Runtime library, and the sessions it
//! opens.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hypersynth_onnx::{Device, OnnxSession, RuntimeInfo, RuntimeSearch, SessionOptions, check_contract};
use hypersynth_onnx_format::{ModelCard, ModelKind};

/// The checkout this binary was built from; `scripts/setup.sh` puts the library under it.
const PROJECT_ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The search order: `ORT_DYLIB_PATH` alone when set; otherwise the project-local folders
/// (the GPU build first when a GPU device is asked for), then beside the executable.
pub fn search(device: Device) -> RuntimeSearch {
    let root = Path::new(PROJECT_ROOT);
    let install_hint = format!("{}{}", root.join("scripts/setup.sh").display(), if device.is_gpu() { " --gpu" } else { "" });
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        return RuntimeSearch { candidates: vec![PathBuf::from(path)], install_hint };
    }
    let mut candidates = Vec::new();
    if device.is_gpu() {
        candidates.push(root.join(".ort/gpu/lib"));
    }
    candidates.push(root.join(".ort/lib"));
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        candidates.push(dir.join("lib"));
        candidates.push(dir);
    }
    RuntimeSearch { candidates, install_hint }
}

/// Loads ONNX Runtime (once) and opens `model` with `options`.
pub fn open_session(model: &Path, options: &SessionOptions) -> Result<(OnnxSession, RuntimeInfo)> {
    let runtime = hypersynth_onnx::load_runtime(&search(options.device))?;
    let session = OnnxSession::open(model, options)?;
    Ok((session, runtime))
}

/// Opens `model` for `command`, which needs a model of `kind`: its contract met, its
/// card's kind `kind`. Returns the session, the runtime it runs on and the card.
pub fn open_model(model: &Path, options: &SessionOptions, kind: ModelKind, command: &str) -> Result<(OnnxSession, RuntimeInfo, ModelCard)> {
    let (session, runtime) = open_session(model, options)?;
    check_contract(&session)?;
    let card = session.card.clone().context("checked above: the model has a card")?;
    if card.kind != kind {
        bail!("{}: a {} model; {command} needs a {} model", model.display(), card.kind.as_str(), kind.as_str());
    }
    Ok((session, runtime, card))
}
