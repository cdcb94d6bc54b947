//! End-to-end tests of the `hypersynth` binary.

mod support;
// Shared with the onnx crate's tests; not every helper is used here.
#[allow(dead_code)]
#[path = "../../onnx/tests/support/tiny_model.rs"]
mod tiny_model;

mod augmentation_lift;
mod bad_input;
mod classify;
mod cloud_inputs;
mod cube_commands;
mod cyclegan;
mod dagan;
mod jobs;
mod many_scenes;
mod model_commands;
mod pix2pix;
mod report;
mod spectral_gan;
