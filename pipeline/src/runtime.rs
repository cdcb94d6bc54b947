//! Where the hypersynth binary looks for the ONNX Runtime library, and the sessions it
//! opens.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hypersynth_onnx::{Device, OnnxSession, RuntimeInfo, RuntimeSearch, SessionOptions, check_contract};
use hypersynth_onnx_format::{ModelCard, ModelKind};

/// The search order: `ORT_DYLIB_PATH` alone when set; otherwise, from the executable's
/// folder up to 3 folders above it, each folder's `.ort/gpu/lib` (when a GPU device is
/// asked for) and `.ort/lib` (where `scripts/setup.sh` puts the library in a checkout,
/// which `target/*/hypersynth` finds), then `lib` beside the executable's folder (an
/// install prefix: `PREFIX/bin/hypersynth` finds `PREFIX/lib`), then that folder itself.
/// Nothing is compiled in, so an installed binary looks where it is installed.
pub fn search(device: Device) -> RuntimeSearch {
    let exe_dir = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    let setup = if device.is_gpu() { "scripts/setup.sh --gpu" } else { "scripts/setup.sh" };
    let install_hint = format!(
        "{setup}` in a hypersynth checkout, then set ORT_DYLIB_PATH to its {}/libonnxruntime.so or copy that library into `{}",
        if device.is_gpu() { ".ort/gpu/lib" } else { ".ort/lib" },
        exe_dir.as_ref().and_then(|d| d.parent()).map(|p| p.join("lib").display().to_string()).unwrap_or_else(|| "PREFIX/lib".into())
    );
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        return RuntimeSearch { candidates: vec![PathBuf::from(path)], install_hint };
    }
    let mut candidates = Vec::new();
    if let Some(dir) = exe_dir {
        // `target/debug`, `target/release` and `target/TRIPLE/debug` lie up to 3 folders
        // below the checkout.
        for folder in dir.ancestors().take(4) {
            if device.is_gpu() {
                candidates.push(folder.join(".ort/gpu/lib"));
            }
            candidates.push(folder.join(".ort/lib"));
        }
        if let Some(prefix) = dir.parent() {
            candidates.push(prefix.join("lib"));
        }
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
