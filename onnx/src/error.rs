//! The error type of the `onnx` crate.

use std::path::PathBuf;

/// What went wrong loading ONNX Runtime, a model, or running it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ONNX Runtime shared library was not found anywhere hypersynth looks.
    #[error("ONNX Runtime library not found (looked at: {}); install it with `{install}`", .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    RuntimeMissing {
        /// Every place looked at, in order.
        searched: Vec<PathBuf>,
        /// The command that installs the library.
        install: String,
    },
    /// The library was found but could not be loaded.
    #[error("{path}: cannot load ONNX Runtime: {problem}")]
    RuntimeLoad {
        /// The library file.
        path: PathBuf,
        /// What the loader said.
        problem: String,
    },
    /// The model file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The model file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The model or its card is not what hypersynth needs.
    #[error("{path}: {problem}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// What is wrong, naming the input, output or key.
        problem: String,
    },
    /// The requested execution provider is unavailable and falling back was not allowed.
    #[error("{device} execution provider unavailable: {problem}; pass --allow-cpu-fallback to run on the CPU instead")]
    Provider {
        /// The device asked for.
        device: String,
        /// Why it could not be used.
        problem: String,
    },
    /// ONNX Runtime failed while building a session or running a model.
    #[error("{path}: ONNX Runtime {operation} failed: {message}")]
    Runtime {
        /// The model file.
        path: PathBuf,
        /// What was being done.
        operation: &'static str,
        /// ONNX Runtime's message.
        message: String,
    },
}

/// The `Result` of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
