//! Image models read spectra as their leading principal components: the axes fitted on
//! sampled pixels, whole images projected onto them for training, and the projections as
//! the exported graph's first (and last) layers, so that models read physical bands.

use anyhow::{Result, bail};
use hypersynth_data::Cube;
use hypersynth_data::Window;
use hypersynth_models::export::Projection;
use hypersynth_spectral::{Layout, Normaliser};
use ndarray::{Array1, Array2, Array3, Axis, s};

/// Headroom of the components' range beyond the training extremes.
const NORMALISATION_MARGIN: f64 = 0.05;
/// Spectra fitted for the principal components, at most (an even subsample).
const MAX_FIT_PIXELS: usize = 20_000;

/// A scene read whole: `[rows, cols, bands]` (NaN without data) and its validity
/// `[rows, cols]`.
pub type Scene = (Array3<f32>, Array2<bool>);

/// Reads the whole of `cube` (image models train on scenes held in memory).
pub fn read_whole(cube: &Cube) -> Result<Scene> {
    let block = cube.read(cube.meta().full_window())?;
    Ok((block.data, block.valid))
}

/// An image `[rows, cols, bands]` (NaN without data), its validity `[rows, cols]`, and the
/// region whose pixels may be sampled.
pub struct Sampled<'a> {
    /// The image.
    pub image: &'a Array3<f32>,
    /// Where it has data.
    pub valid: &'a Array2<bool>,
    /// The region to sample.
    pub region: Window,
}

/// The principal axes of an even subsample of the valid pixels of `images` (at most
/// 20,000), keeping the leading `components`.
pub fn fit(images: &[Sampled<'_>], components: usize) -> Result<Normaliser> {
    let bands = images.first().map_or(0, |i| i.image.dim().2);
    if components == 0 || components > bands {
        bail!("--components must lie between 1 and the band count ({bands})");
    }
    let pixels: Vec<(usize, usize, usize)> = images
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            let r = s.region;
            (r.row..r.row + r.rows).flat_map(move |row| (r.col..r.col + r.cols).map(move |col| (i, row, col)))
        })
        .filter(|&(i, row, col)| images[i].valid[[row, col]])
        .collect();
    if pixels.len() < 2 * components {
        bail!("the training data has {} pixels with data; too few to train on", pixels.len());
    }
    let chosen: Vec<_> = pixels.iter().step_by(pixels.len().div_ceil(MAX_FIT_PIXELS).max(1)).collect();
    let mut spectra = Array2::<f32>::zeros((chosen.len(), bands));
    for (mut row, &&(i, r, c)) in spectra.outer_iter_mut().zip(&chosen) {
        // A value without data (nodata in a bad band, as EnMAP writes) enters as 0, as
        // `project` and tiled inference feed it.
        row.assign(&images[i].image.slice(s![r, c, ..]).mapv(|v| if v.is_nan() { 0.0 } else { v }));
    }
    Ok(Normaliser::fit(spectra.view(), Layout::PrincipalComponents(components), NORMALISATION_MARGIN)?)
}

/// `image` `[rows, cols, bands]` as normalised components `[k, rows, cols]`; pixels
/// without data enter as 0, as tiled inference feeds them.
pub fn project(image: &Array3<f32>, normaliser: &Normaliser) -> Result<Array3<f32>> {
    let (rows, cols, bands) = image.dim();
    let physical = image.to_shape((rows * cols, bands))?.mapv(|v| if v.is_nan() { 0.0 } else { v });
    let projected = normaliser.apply(physical.view());
    Ok(projected.t().as_standard_layout().into_owned().into_shape_with_order((projected.ncols(), rows, cols))?)
}

/// The normaliser as a graph's first layer, applied to `copies` images of the same bands
/// stacked on the channel axis (e.g. pre- and post-event):
/// `projected = (physical - offset) · inverse`, a block-diagonal 1x1 convolution.
pub fn projection(normaliser: &Normaliser, copies: usize) -> Projection {
    let (bands, k) = normaliser.inverse.dim();
    let mut weight = Array2::<f64>::zeros((copies * k, copies * bands));
    let bias_one: Array1<f64> = -normaliser.offset.dot(&normaliser.inverse);
    let mut bias = Array1::<f64>::zeros(copies * k);
    for i in 0..copies {
        weight.slice_mut(s![i * k..(i + 1) * k, i * bands..(i + 1) * bands]).assign(&normaliser.inverse.t());
        bias.slice_mut(s![i * k..(i + 1) * k]).assign(&bias_one);
    }
    Projection { weight, bias }
}

/// A change of the normalised components back in bands: `· basis`, without the offset.
pub fn unprojection(normaliser: &Normaliser) -> Projection {
    Projection { weight: normaliser.basis.t().to_owned(), bias: Array1::zeros(normaliser.basis.ncols()) }
}

/// The whole image's region.
pub fn whole(image: &Array3<f32>) -> Window {
    Window::full(image.len_of(Axis(0)), image.len_of(Axis(1)))
}
