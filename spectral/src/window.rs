//! A rectangle of pixels, the one type for "this part of a scene": what a reader reads
//! (`hypersynth-data`), where training crops are drawn and validation is scored
//! (`hypersynth-models`).

use serde::{Deserialize, Serialize};

/// A rectangle of pixels: `row`, `col` of its top-left corner and its size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// First row (0-based).
    pub row: usize,
    /// First column (0-based).
    pub col: usize,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
}

impl Window {
    /// The window covering a whole `rows` x `cols` raster.
    pub fn full(rows: usize, cols: usize) -> Self {
        Self { row: 0, col: 0, rows, cols }
    }
}
