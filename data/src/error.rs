//! The error type of the `data` crate.

use std::path::{Path, PathBuf};

/// What went wrong while reading or writing a file, always naming the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file does not exist.
    #[error("{path}: file not found")]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// GDAL could not open or read the file.
    #[error("{path}: {operation} failed: {source}")]
    Gdal {
        /// The file being read or written.
        path: PathBuf,
        /// What was being done, e.g. "open as raster".
        operation: &'static str,
        /// GDAL's own error.
        source: gdal::errors::GdalError,
    },
    /// The HDF5 library could not open or read the file.
    #[error("{path}: {operation} failed: {source}")]
    Hdf5 {
        /// The file being read.
        path: PathBuf,
        /// What was being done, e.g. "open dataset /SITE/Reflectance".
        operation: String,
        /// The HDF5 library's own error.
        source: hdf5::Error,
    },
    /// Reading or writing bytes failed.
    #[error("{path}: {operation} failed: {source}")]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// What was being done.
        operation: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file was read but its content is not what hypersynth needs.
    #[error("{path}: {problem}")]
    Invalid {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it, in words a user can act on.
        problem: String,
    },
    /// Reading or writing a Parquet table failed.
    #[error("{path}: {operation} failed: {source}")]
    Table {
        /// The table file.
        path: PathBuf,
        /// What was being done.
        operation: &'static str,
        /// Polars' own error.
        source: polars::error::PolarsError,
    },
}

/// The `Result` of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Invalid`] for `path`.
    pub fn invalid(path: &Path, problem: impl Into<String>) -> Self {
        Self::Invalid { path: path.to_path_buf(), problem: problem.into() }
    }

    pub(crate) fn gdal(path: &Path, operation: &'static str) -> impl FnOnce(gdal::errors::GdalError) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Gdal { path, operation, source }
    }

    pub(crate) fn hdf5(path: &Path, operation: impl Into<String>) -> impl FnOnce(hdf5::Error) -> Self {
        let path = path.to_path_buf();
        let operation = operation.into();
        move |source| Self::Hdf5 { path, operation, source }
    }

    pub(crate) fn io(path: &Path, operation: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { path, operation, source }
    }
}

/// Fails with [`Error::NotFound`] unless `path` exists, so that a missing file is reported
/// as such rather than as whatever the format library makes of it. A path of GDAL's
/// virtual file systems (`/vsi...`) is left to GDAL, whose own error names the problem.
pub(crate) fn ensure_exists(path: &Path) -> Result<()> {
    if crate::vsi::is_virtual(path) || path.exists() { Ok(()) } else { Err(Error::NotFound { path: path.to_path_buf() }) }
}
