//! Random square crops of images for training, each under one of the eight symmetries of
//! the square (flips and 90° rotations) when augmenting.

use hypersynth_spectral::Window;
use ndarray::{ArrayView3, Axis, s};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Where a crop lies and how it is turned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    /// First row.
    pub row: usize,
    /// First column.
    pub col: usize,
    /// Side in pixels.
    pub tile: usize,
    /// One of the eight symmetries: bit 0 transposes, bit 1 flips rows, bit 2 flips columns.
    pub transform: u8,
}

impl Crop {
    /// A crop of `tile` pixels drawn uniformly inside `region` (which must hold one), turned
    /// at random when `augment`.
    pub fn random(region: Window, tile: usize, augment: bool, rng: &mut ChaCha8Rng) -> Self {
        let row = region.row + rng.random_range(0..=region.rows - tile);
        let col = region.col + rng.random_range(0..=region.cols - tile);
        let transform = if augment { rng.random_range(0..8u8) } else { 0 };
        Self { row, col, tile, transform }
    }

    /// The crop of `image` (`[c, rows, cols]`) as `[c, tile, tile]` values, turned.
    pub fn cut<T: Copy>(&self, image: ArrayView3<'_, T>) -> Vec<T> {
        let t = self.tile;
        let mut view = image.slice_move(s![.., self.row..self.row + t, self.col..self.col + t]);
        if self.transform & 1 != 0 {
            view.swap_axes(1, 2);
        }
        if self.transform & 2 != 0 {
            view.invert_axis(Axis(1));
        }
        if self.transform & 4 != 0 {
            view.invert_axis(Axis(2));
        }
        view.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn the_transforms_are_the_eight_symmetries_of_the_square() {
        let image = Array3::from_shape_fn((1, 2, 2), |(_, r, c)| (r * 2 + c) as f32);
        let all: Vec<Vec<f32>> = (0..8).map(|transform| Crop { row: 0, col: 0, tile: 2, transform }.cut(image.view())).collect();
        assert_eq!(all[0], vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(all[1], vec![0.0, 2.0, 1.0, 3.0]);
        assert_eq!(all[2], vec![2.0, 3.0, 0.0, 1.0]);
        let mut distinct = all.clone();
        distinct.sort_by(|a, b| a.partial_cmp(b).unwrap());
        distinct.dedup();
        assert_eq!(distinct.len(), 8);
    }
}
