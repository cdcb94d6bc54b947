//! The overview levels of a COG: how many, and the block means [`crate::CogWriter`] computes
//! for measured values.

use gdal::Dataset;

use crate::cube::{CubeMeta, SampleType};

/// How a COG's overview levels are made from its full-resolution pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Overviews {
    /// Each overview pixel is the mean of the valid values (not nodata, not NaN) of the
    /// 2 x 2 pixels of the level below it, rounded to the nearest integer for integer
    /// types; nodata where none is valid. For measured values (reflectance, radiance,
    /// probabilities): an overview spectrum is the mean of real spectra, never outside
    /// their range. Computed by [`crate::CogWriter`] from its staging file, so GDAL's COG
    /// driver only copies it.
    #[default]
    Average,
    /// The most common value of the pixels below (GDAL's `MODE`), for class maps and masks,
    /// whose values are labels that must not be mixed.
    Mode,
}

/// The width and height of the COG's tiles, which also decides how many overview levels
/// it gets.
pub(crate) const BLOCK: usize = 256;

/// The decimation factors of the overview levels: 2, 4, 8, ... until the smallest level
/// fits one block, as GDAL's COG driver counts them. A level with factor `f` has
/// `ceil(rows / f) x ceil(cols / f)` pixels.
pub(crate) fn overview_factors(rows: usize, cols: usize) -> Vec<i32> {
    let mut factors = Vec::new();
    let mut factor = 1;
    while rows.div_ceil(factor) > BLOCK || cols.div_ceil(factor) > BLOCK {
        factor *= 2;
        factors.push(factor as i32);
    }
    factors
}

/// Rows of the level being made per read of the level below.
const STRIP_ROWS: usize = 128;

/// Adds `factors` as overview levels of every band of `dataset` (laid out as `meta`) and
/// fills each with the 2 x 2 means of the level below ([`Overviews::Average`]), band by band
/// and strip by strip, so memory follows the width, not the scene. `factors` is not empty
/// ([`crate::CogWriter`] makes no levels for a scene that one block holds).
pub(crate) fn write_average_overviews(dataset: &mut Dataset, meta: &CubeMeta, factors: &[i32]) -> gdal::errors::Result<()> {
    dataset.build_overviews("NONE", factors, &[])?;
    let integer = !matches!(meta.dtype, SampleType::Float32 | SampleType::Float64);
    let empty = meta.nodata.unwrap_or(f64::NAN);
    for b in 1..=meta.bands {
        let band = dataset.rasterband(b)?;
        for level in 0..factors.len() {
            let below = if level == 0 { dataset.rasterband(b)? } else { band.overview(level - 1)? };
            let mut above = band.overview(level)?;
            let (cols, rows) = below.size();
            let (out_cols, out_rows) = above.size();
            for out_row in (0..out_rows).step_by(STRIP_ROWS) {
                let out_n = STRIP_ROWS.min(out_rows - out_row);
                let first = 2 * out_row;
                let n = (2 * out_n).min(rows - first);
                let strip = below.read_as::<f64>((0, first as isize), (cols, n), (cols, n), None)?;
                let means = halve(strip.data(), n, cols, meta.nodata, empty, integer);
                debug_assert_eq!(means.len(), out_n * out_cols);
                let mut buffer = gdal::raster::Buffer::new((out_cols, out_n), means);
                above.write((0, out_row as isize), (out_cols, out_n), &mut buffer)?;
            }
        }
    }
    Ok(())
}

/// The means of each 2 x 2 block of `values` (`rows x cols`, row-major; a last odd row or
/// column makes blocks of 1 or 2) over its valid values: not `nodata`, not NaN. `empty`
/// where none is valid; rounded when `integer`.
fn halve(values: &[f64], rows: usize, cols: usize, nodata: Option<f64>, empty: f64, integer: bool) -> Vec<f64> {
    let valid = |v: f64| !v.is_nan() && nodata != Some(v);
    let (out_rows, out_cols) = (rows.div_ceil(2), cols.div_ceil(2));
    let mut means = Vec::with_capacity(out_rows * out_cols);
    for r in 0..out_rows {
        let below = &values[2 * r * cols..(2 * r + 2).min(rows) * cols];
        for c in 0..out_cols {
            let (mut sum, mut count) = (0.0, 0u32);
            for row in below.chunks_exact(cols) {
                for &v in &row[2 * c..(2 * c + 2).min(cols)] {
                    if valid(v) {
                        sum += v;
                        count += 1;
                    }
                }
            }
            means.push(match count {
                0 => empty,
                n if integer => (sum / f64::from(n)).round(),
                n => sum / f64::from(n),
            });
        }
    }
    means
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_stop_when_one_block_holds_the_scene() {
        assert!(overview_factors(256, 256).is_empty());
        assert_eq!(overview_factors(257, 100), vec![2]);
        assert_eq!(overview_factors(1000, 1000), vec![2, 4]);
        assert_eq!(overview_factors(300, 2049), vec![2, 4, 8, 16]);
    }

    #[test]
    fn means_leave_out_nodata_and_nan_and_cover_odd_edges() {
        // 3 x 3: blocks of 4, 2 (last column), 2 (last row) and 1.
        let nan = f64::NAN;
        let values = [1.0, 3.0, 10.0, -9.0, nan, 20.0, 5.0, 7.0, -9.0];
        let means = halve(&values, 3, 3, Some(-9.0), -9.0, false);
        assert_eq!(means, vec![2.0, 15.0, 6.0, -9.0]);
        // Integers round to the nearest.
        assert_eq!(halve(&[1.0, 2.0, 2.0, 2.0], 2, 2, None, 0.0, true), vec![2.0]);
        assert_eq!(halve(&[1.0, 2.0, 2.0, 2.0], 2, 2, None, 0.0, false), vec![1.75]);
    }
}
