//! Finding and loading the ONNX Runtime shared library.
//!
//! `ort` is built with `load-dynamic`: the library comes from the PyPI `onnxruntime` wheel,
//! unpacked by the set-up script. Looking for it ourselves, before `ort` does, turns a
//! missing library into an error that names the install command instead of a panic.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::{Error, Result};

/// The file name of the library on Linux.
pub const LIBRARY_NAME: &str = "libonnxruntime.so";

/// Where the library was loaded from and what it is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuntimeInfo {
    /// The library file (symlinks resolved, so its name carries the version).
    pub library: PathBuf,
    /// ONNX Runtime's build description.
    pub build_info: String,
    /// Whether this is the GPU build (with CUDA/TensorRT providers beside it).
    pub gpu_build: bool,
}

/// Where to look for the library, in order.
#[derive(Debug, Clone)]
pub struct RuntimeSearch {
    /// Library files or folders to try, in order; the first that exists wins.
    pub candidates: Vec<PathBuf>,
    /// The command to print when none exists.
    pub install_hint: String,
}

static RUNTIME: OnceLock<std::result::Result<RuntimeInfo, String>> = OnceLock::new();

/// The ONNX Runtime environment; it must outlive every session, so it lives as long as
/// the process.
static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();

/// The environment sessions are built in; `None` until [`load_runtime`] succeeded.
pub(crate) fn environment() -> Option<&'static ort::environment::Environment> {
    ENVIRONMENT.get()
}

/// Loads ONNX Runtime once per process from the first candidate that exists; later calls
/// return the first call's outcome.
pub fn load_runtime(search: &RuntimeSearch) -> Result<RuntimeInfo> {
    let outcome = RUNTIME.get_or_init(|| load(search).map_err(|e| e.to_string()));
    outcome.clone().map_err(|problem| match find(search) {
        None => Error::RuntimeMissing { searched: search.candidates.clone(), install: search.install_hint.clone() },
        Some(path) => Error::RuntimeLoad { path, problem },
    })
}

fn find(search: &RuntimeSearch) -> Option<PathBuf> {
    search.candidates.iter().map(|c| if c.is_dir() { c.join(LIBRARY_NAME) } else { c.clone() }).find(|p| p.is_file())
}

fn load(search: &RuntimeSearch) -> Result<RuntimeInfo> {
    let path =
        find(search).ok_or_else(|| Error::RuntimeMissing { searched: search.candidates.clone(), install: search.install_hint.clone() })?;
    let library = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    // The folder the library was found in, not the one its link resolves to: the set-up
    // script links ONNX Runtime, its providers and the NVIDIA wheels' libraries into one
    // folder, while the files themselves lie in the wheels' separate folders.
    let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let load_error = |problem: String| Error::RuntimeLoad { path: library.clone(), problem };
    // Loaded before anything else: `ort` builds even its errors through the library.
    let builder = ort::init_from(&library).map_err(|e| load_error(e.to_string()))?;
    let gpu_build = folder.join("libonnxruntime_providers_cuda.so").exists();
    if gpu_build {
        // Loading the CUDA libraries before the first session lets the CUDA provider, which
        // has no run path of its own, find them without LD_LIBRARY_PATH. Where they are
        // missing, opening a session on a GPU names the problem.
        if let Err(e) = ort::ep::cuda::preload_dylibs(Some(&folder), Some(&folder)) {
            tracing::warn!("could not preload the CUDA libraries from {}: {e}", folder.display());
        }
    }
    let environment = builder.with_name("hypersynth").build().map_err(|e| load_error(e.to_string()))?;
    let _ = ENVIRONMENT.set(environment);
    let info = RuntimeInfo { library, build_info: ort::info().to_string(), gpu_build };
    tracing::debug!(library = %info.library.display(), gpu = info.gpu_build, "loaded ONNX Runtime");
    Ok(info)
}
