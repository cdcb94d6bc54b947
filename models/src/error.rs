//! The error type of the `models` crate.

use std::path::PathBuf;

/// What went wrong while building, training or exporting a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed (a shape mismatch is a bug; say so in a report).
    #[error("tensor operation failed: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The configuration or the data cannot be trained on.
    #[error("{0}")]
    Invalid(String),
    /// A checkpoint could not be read or written.
    #[error("{path}: {problem}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
}

/// The `Result` of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
