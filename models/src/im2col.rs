//! The two data movements behind convolutions of channel-first images `[c, n, h, w]`, as
//! candle custom ops with gradients: [`unfold`] (im2col) lays every kernel window out as a
//! column, so that a convolution is one matrix product; [`fold`] (col2im) sums columns back into an image,
//! which after a matrix product is a transposed convolution. Each is the other's adjoint,
//! so each one's backward pass is the other.
//!
//! On the CPU, candle computes transposed convolutions (which every convolution's backward
//! pass uses too) with a direct loop that took most of a Pix2Pix training step; with these
//! two loops (parallel over images and channels) the time goes to the matrix products.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::Result;

/// A square kernel's placement over channel-first images `[channels, n, rows, cols]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Channels.
    pub channels: usize,
    /// Images.
    pub n: usize,
    /// Image rows.
    pub rows: usize,
    /// Image columns.
    pub cols: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
}

impl Geometry {
    /// The number of window rows and columns.
    pub fn windows(&self) -> (usize, usize) {
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        ((self.rows + 2 * p - k) / s + 1, (self.cols + 2 * p - k) / s + 1)
    }

    /// Values per channel of the images.
    fn channel_len(&self) -> usize {
        self.n * self.rows * self.cols
    }

    /// Values per channel of the columns: `k·k` rows of `n · windows`.
    fn columns_len(&self) -> usize {
        let (wr, wc) = self.windows();
        self.kernel * self.kernel * self.n * wr * wc
    }

    /// Calls `f(pixel, column, len)` for every run of image pixels that one kernel tap
    /// covers along a window row, over one channel: pixels `pixel + stride·i` of the
    /// channel's `[n, rows, cols]` values meet columns `column + i` of its
    /// `[k·k, n · windows]` columns, for `i < len`.
    fn for_each_run(&self, mut f: impl FnMut(usize, usize, usize)) {
        let (wr, wc) = self.windows();
        let row_len = self.n * wr * wc;
        let (k, s, p) = (self.kernel as isize, self.stride as isize, self.padding as isize);
        for ky in 0..k {
            for kx in 0..k {
                // Window columns whose pixel x = ox·s + kx - p lies inside the image.
                let first_ox = ((p - kx).max(0) + s - 1) / s;
                let end_ox = ((self.cols as isize - 1 + p - kx).div_euclid(s) + 1).clamp(first_ox, wc as isize);
                if end_ox <= first_ox {
                    continue;
                }
                let len = (end_ox - first_ox) as usize;
                for image in 0..self.n {
                    let (plane, first) = (image * self.rows * self.cols, (ky * k + kx) as usize * row_len + image * wr * wc);
                    for oy in 0..wr as isize {
                        let y = oy * s + ky - p;
                        if y < 0 || y >= self.rows as isize {
                            continue;
                        }
                        let x = (first_ox * s + kx - p) as usize;
                        f(plane + y as usize * self.cols + x, first + oy as usize * wc + first_ox as usize, len);
                    }
                }
            }
        }
    }
}

/// `x` `[c, n, rows, cols]` to its windows `[c·k·k, n · window rows · window cols]` (rows
/// channel-major, then kernel row, then kernel column: the order of a `[out, c, k, k]`
/// weight; columns image-major), zero outside the image; with the geometry.
pub fn unfold(x: &Tensor, kernel: usize, stride: usize, padding: usize) -> Result<(Geometry, Tensor)> {
    let (channels, n, rows, cols) = x.dims4()?;
    if rows + 2 * padding < kernel || cols + 2 * padding < kernel {
        return Err(crate::Error::Invalid(format!("a {kernel}-pixel kernel does not fit a {rows} x {cols} image padded by {padding}")));
    }
    let geometry = Geometry { n, channels, rows, cols, kernel, stride, padding };
    Ok((geometry, x.contiguous()?.apply_op1(Unfold(geometry))?))
}

/// The adjoint of [`unfold`]: sums `columns` `[c·k·k, n · window rows · window cols]` into
/// images of `geometry`'s size, `[c, n, rows, cols]`.
pub fn fold(columns: &Tensor, geometry: Geometry) -> Result<Tensor> {
    Ok(columns.contiguous()?.apply_op1(Fold(geometry))?)
}

struct Unfold(Geometry);
struct Fold(Geometry);

/// The contiguous f32 values of a custom op's input.
fn values<'a>(storage: &'a CpuStorage, layout: &Layout, op: &'static str) -> candle_core::Result<&'a [f32]> {
    let (CpuStorage::F32(data), Some((start, end))) = (storage, layout.contiguous_offsets()) else {
        return Err(candle_core::Error::Msg(format!("{op} needs a contiguous f32 tensor")));
    };
    Ok(&data[start..end])
}

impl CustomOp1 for Unfold {
    fn name(&self) -> &'static str {
        "unfold"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        let x = values(storage, layout, self.name())?;
        let (wr, wc) = g.windows();
        let mut out = vec![0f32; g.channels * g.columns_len()];
        out.par_chunks_mut(g.columns_len()).zip(x.par_chunks(g.channel_len())).for_each(|(columns, channel)| {
            g.for_each_run(|pixel, column, len| {
                for (c, p) in columns[column..column + len].iter_mut().zip(channel[pixel..].iter().step_by(g.stride)) {
                    *c = *p;
                }
            });
        });
        Ok((CpuStorage::F32(out), Shape::from((g.channels * g.kernel * g.kernel, g.n * wr * wc))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        grad_res.contiguous()?.apply_op1(Fold(self.0)).map(Some)
    }
}

impl CustomOp1 for Fold {
    fn name(&self) -> &'static str {
        "fold"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        let columns = values(storage, layout, self.name())?;
        if columns.len() != g.channels * g.columns_len() {
            return Err(candle_core::Error::Msg(format!("fold: {} values do not fit {g:?}", columns.len())));
        }
        let mut out = vec![0f32; g.channels * g.channel_len()];
        out.par_chunks_mut(g.channel_len()).zip(columns.par_chunks(g.columns_len())).for_each(|(channel, columns)| {
            g.for_each_run(|pixel, column, len| {
                for (p, c) in channel[pixel..].iter_mut().step_by(g.stride).zip(&columns[column..column + len]) {
                    *p += *c;
                }
            });
        });
        Ok((CpuStorage::F32(out), Shape::from((g.channels, g.n, g.rows, g.cols))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        grad_res.contiguous()?.apply_op1(Unfold(self.0)).map(Some)
    }
}
