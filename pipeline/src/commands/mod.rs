//! One module per command; each takes resolved settings, never clap types.

pub mod augment;
pub mod classify;
pub mod convert;
pub mod demo;
pub mod fuse;
pub mod info;
pub mod models;
pub mod report;
pub mod super_resolve;
pub mod train_cyclegan;
pub mod train_pix2pix;
pub mod train_spectral;
