//! Where tests and benchmarks find data: the samples bundled in the repository, and the
//! larger real data set beside the checkout.

use std::path::PathBuf;

/// The environment variable that overrides [`shared_data_dir`].
pub const SHARED_DATA_ENV: &str = "HYPERSYNTH_SHARED_DATA";

/// The bundled samples (`data/samples/` in the repository).
pub fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// The real data set: `$HYPERSYNTH_SHARED_DATA`, else `../shared/data` beside the
/// checkout; `None` (with a message on stderr, so a skip is never silent) when absent.
pub fn shared_data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os(SHARED_DATA_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: shared data not found at {} (set {SHARED_DATA_ENV})", dir.display());
        None
    }
}
