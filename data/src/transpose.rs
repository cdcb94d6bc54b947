//! Row-major to column-major copies of `f32` matrices (pixel-interleaved spectra to band
//! planes or band columns), in small blocks so that what is read stays in the cache while
//! every column gets its values.

/// Side of the square blocks copied at a time.
const BLOCK: usize = 16;

/// Copies `src`, a row-major `[rows, cols]` matrix, into `dst` transposed: column `c` of
/// `src` goes to `dst[c * stride + offset..][..rows]`. `dst` must hold
/// `(cols - 1) * stride + offset + rows` values.
pub(crate) fn transpose_into(src: &[f32], rows: usize, cols: usize, dst: &mut [f32], stride: usize, offset: usize) {
    for r0 in (0..rows).step_by(BLOCK) {
        let r1 = (r0 + BLOCK).min(rows);
        for c0 in (0..cols).step_by(BLOCK) {
            for c in c0..(c0 + BLOCK).min(cols) {
                let start = c * stride + offset;
                for (k, out) in dst[start + r0..start + r1].iter_mut().enumerate() {
                    *out = src[(r0 + k) * cols + c];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_into_strided_columns() {
        let (rows, cols) = (37, 21);
        let src: Vec<f32> = (0..rows * cols).map(|v| v as f32).collect();
        let (stride, offset) = (50, 3);
        let mut dst = vec![-1.0; (cols - 1) * stride + offset + rows];
        transpose_into(&src, rows, cols, &mut dst, stride, offset);
        for r in 0..rows {
            for c in 0..cols {
                assert_eq!(dst[c * stride + offset + r], src[r * cols + c], "row {r}, column {c}");
            }
        }
        assert_eq!(dst[0..offset], [-1.0; 3], "nothing before the offset is touched");
    }
}
