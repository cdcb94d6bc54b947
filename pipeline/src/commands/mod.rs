//! One module per command; each takes resolved settings, never clap types.

pub mod convert;
pub mod demo;
pub mod info;
pub mod models;
