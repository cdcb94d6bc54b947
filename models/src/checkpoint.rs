//! Training checkpoints: named tensors in one safetensors file, plus a JSON record beside
//! it (`.json`) of what must match for the checkpoint to be resumed.
//!
//! A checkpoint `M.checkpoint.safetensors` has its record at `M.checkpoint.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::Serialize;

use crate::{Error, Result};

/// What must match for a checkpoint to be resumed: the data's fingerprint, the networks
/// and the training settings.
#[derive(Debug, Serialize)]
pub(crate) struct Meta<'a, M, C> {
    /// The data (and anything else the caller keys the run on).
    pub fingerprint: &'a str,
    /// The networks.
    pub model: &'a M,
    /// The training settings.
    pub config: &'a C,
}

fn meta_path(path: &Path) -> PathBuf {
    path.with_extension("json")
}

/// The temporary files [`save`] writes before renaming them into place.
fn temp_paths(path: &Path) -> [PathBuf; 2] {
    [path.with_extension("safetensors.partial"), meta_path(path).with_extension("json.partial")]
}

/// Removes the checkpoint at `path`, its record and any half-written copy of either, once
/// the training they belong to has ended.
pub fn remove(path: &Path) {
    for file in [path.to_path_buf(), meta_path(path)].into_iter().chain(temp_paths(path)) {
        let _ = std::fs::remove_file(file);
    }
}

/// Writes `tensors` to a temporary file renamed over `path` (one rename commits the whole
/// checkpoint), and `meta` beside it when it changed.
pub(crate) fn save<M: Serialize>(path: &Path, meta: &M, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let fail = |problem: String| Error::Checkpoint { path: path.to_path_buf(), problem };
    let meta_text = serde_json::to_string_pretty(meta).map_err(|e| fail(e.to_string()))?;
    let [tensors_temp, meta_temp] = temp_paths(path);
    if std::fs::read_to_string(meta_path(path)).ok().as_deref() != Some(meta_text.as_str()) {
        let temp = meta_temp;
        std::fs::write(&temp, &meta_text).map_err(|e| fail(e.to_string()))?;
        std::fs::rename(&temp, meta_path(path)).map_err(|e| fail(e.to_string()))?;
    }
    let temp = tensors_temp;
    candle_core::safetensors::save(tensors, &temp).map_err(|e| fail(e.to_string()))?;
    std::fs::rename(&temp, path).map_err(|e| fail(e.to_string()))
}

/// The tensors saved at `path`, or `None` when there is no checkpoint or it was saved with
/// another `meta` (other data or settings).
pub(crate) fn load<M: Serialize>(path: &Path, meta: &M) -> Result<Option<HashMap<String, Tensor>>> {
    if !path.exists() {
        return Ok(None);
    }
    let fail = |problem: String| Error::Checkpoint { path: path.to_path_buf(), problem };
    let expected = serde_json::to_value(meta).map_err(|e| fail(e.to_string()))?;
    let saved: Option<serde_json::Value> = std::fs::read_to_string(meta_path(path)).ok().and_then(|t| serde_json::from_str(&t).ok());
    if saved.as_ref() != Some(&expected) {
        tracing::info!("{}: checkpoint is for other data or settings; starting afresh", path.display());
        return Ok(None);
    }
    candle_core::safetensors::load(path, &Device::Cpu).map(Some).map_err(|e| fail(e.to_string()))
}

/// The tensors under `prefix.`, with the prefix removed.
pub(crate) fn section(tensors: &HashMap<String, Tensor>, prefix: &str) -> HashMap<String, Tensor> {
    let p = format!("{prefix}.");
    tensors.iter().filter_map(|(k, v)| k.strip_prefix(&p).map(|k| (k.to_string(), v.clone()))).collect()
}

/// Adds `part` to `tensors` under `prefix.`.
pub(crate) fn put(tensors: &mut HashMap<String, Tensor>, prefix: &str, part: HashMap<String, Tensor>) {
    tensors.extend(part.into_iter().map(|(k, v)| (format!("{prefix}.{k}"), v)));
}

/// Adds the count of steps done.
pub(crate) fn put_step(tensors: &mut HashMap<String, Tensor>, step: usize) -> Result<()> {
    tensors.insert("meta.step".into(), Tensor::new(&[step as f64], &Device::Cpu)?);
    Ok(())
}

/// The count of steps done that [`put_step`] added to the checkpoint at `path`.
pub(crate) fn step(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<usize> {
    let step = tensors.get("meta.step").ok_or_else(|| Error::Checkpoint { path: path.to_path_buf(), problem: "missing step".into() })?;
    Ok(step.to_vec1::<f64>()?[0] as usize)
}
