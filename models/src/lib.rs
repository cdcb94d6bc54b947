//! GAN architectures, losses, training and ONNX export for hypersynth, on candle.
//!
//! The spectral conditional GAN ([`spectral_cgan`]) learns each class's spectra from
//! normalised training spectra ([`training::Dataset`]); [`training::train`] plays the
//! adversarial game with the loss and tricks of [`training::TrainConfig`], keeps the
//! generator with the best validation MMD and can resume from checkpoints;
//! [`export::spectral_generator`] writes it as an ONNX model with its card.
//!
//! The exemplar GAN ([`dagan`]) makes another spectrum of a class from a real one (its
//! exemplar) and noise, trained on pairs of class-mates by [`dagan_training::train`] and
//! exported by [`export::dagan_generator`] with its exemplars inside the graph.
//!
//! Pix2Pix ([`pix2pix`]) maps co-registered images to images (damage fusion): a U-Net
//! generator and a PatchGAN discriminator, trained on random tiles of a paired scene by
//! [`pix2pix_training::train`] and exported by [`export::pix2pix_generator`].
//!
//! Every random draw comes from a seeded ChaCha stream ([`rng`]), so training is
//! reproducible on the CPU.
#![deny(missing_docs)]

mod adam;
pub mod checkpoint;
pub mod crops;
pub mod cyclegan;
pub mod cyclegan_training;
pub mod dagan;
pub mod dagan_training;
mod error;
pub mod export;
mod im2col;
pub mod layers;
pub mod losses;
pub mod observe;
pub mod patchgan;
pub mod pix2pix;
pub mod pix2pix_training;
pub mod rng;
pub mod spectral_cgan;
pub mod training;
mod training_loop;

pub use error::{Error, Result};

/// The threads candle's matrix kernels use when `RAYON_NUM_THREADS` is unset (the physical
/// cores, counted from `/proc/cpuinfo` on Linux at every call). A binary that sets the
/// variable to this once, before other threads start, keeps candle's choice without the
/// count at every matrix product.
pub fn matrix_kernel_threads() -> usize {
    candle_core::utils::get_num_threads()
}
