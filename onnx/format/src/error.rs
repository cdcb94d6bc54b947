//! The error type of the `onnx-format` crate.

/// A model file or model card that cannot be read as hypersynth needs it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not an ONNX `ModelProto`.
    #[error("not an ONNX model: {0}")]
    NotAModel(#[from] prost::DecodeError),
    /// The bytes decode as protobuf but hold no graph, as any non-model file may.
    #[error("not an ONNX model: no graph in the file")]
    NoGraph,
    /// A model-card key is missing.
    #[error("model card has no {key:?} (every hypersynth model card needs it)")]
    MissingKey {
        /// The missing `hypersynth.*` key.
        key: &'static str,
    },
    /// A model-card value does not parse.
    #[error("model card value of {key:?} is invalid: {problem}")]
    BadValue {
        /// The offending key.
        key: String,
        /// What is wrong with the value.
        problem: String,
    },
}

/// The `Result` of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
