//! GAN architectures, losses, training and ONNX export for hypersynth.
#![deny(missing_docs)]
