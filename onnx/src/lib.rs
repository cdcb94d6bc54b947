//! ONNX Runtime for hypersynth: loading the runtime library, sessions on the CPU, CUDA or
//! TensorRT execution providers, and the model contract.
//!
//! ```no_run
//! use hypersynth_onnx::{OnnxSession, RuntimeSearch, SessionOptions, check_contract, load_runtime};
//! # fn main() -> hypersynth_onnx::Result<()> {
//! load_runtime(&RuntimeSearch { candidates: vec![".ort/lib".into()], install_hint: "scripts/setup.sh".into() })?;
//! let session = OnnxSession::open("model.onnx".as_ref(), &SessionOptions::default())?;
//! check_contract(&session)?; // the card and the inputs/outputs agree with the model kind
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod binding;
mod contract;
mod device;
mod error;
mod providers;
mod runtime;
mod session;

pub use contract::{check_contract, input_channels};
pub use device::Device;
pub use error::{Error, Result};
pub use runtime::{LIBRARY_NAME, RuntimeInfo, RuntimeSearch, load_runtime};
pub use session::{CardSource, Input, OnnxSession, SessionOptions, TensorInfo, sidecar_path};
