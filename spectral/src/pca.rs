//! Principal axes of a set of spectra.

use ndarray::{Array1, Array2, Axis};
use smartcore::linalg::basic::arrays::Array as _;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linalg::traits::evd::EVDDecomposable;

use crate::{Error, Result};

/// The mean of `x` (`[n, bands]`) and the first `keep` eigenvectors of its covariance
/// (columns of `[bands, keep]`, largest variance first).
pub fn principal_axes(x: &Array2<f64>, keep: usize) -> Result<(Array1<f64>, Array2<f64>)> {
    let (n, bands) = x.dim();
    let mean = x.mean_axis(Axis(0)).ok_or_else(|| Error::Shape("principal components of no spectra".into()))?;
    let centred = x - &mean;
    let covariance = centred.t().dot(&centred) / (n.max(2) - 1) as f64;
    if let Some(band) = (0..bands).find(|&b| !covariance.row(b).iter().all(|v| v.is_finite())) {
        // The eigen-decomposition does not converge on NaN or infinity; it would panic.
        return Err(Error::Shape(format!("principal components: band {} holds values that are not finite", band + 1)));
    }
    let matrix = DenseMatrix::new(bands, bands, covariance.iter().copied().collect(), false).map_err(|e| Error::Shape(e.to_string()))?;
    let evd = matrix.evd(true).map_err(|e| Error::Shape(format!("eigen-decomposition of the band covariance: {e}")))?;
    let mut order: Vec<usize> = (0..bands).collect();
    order.sort_by(|&a, &b| evd.d[b].total_cmp(&evd.d[a]));
    let keep = keep.min(bands);
    let rotation = Array2::from_shape_fn((bands, keep), |(b, k)| *evd.V.get((b, order[k])));
    Ok((mean, rotation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_are_not_finite_are_refused_rather_than_panicked_on() {
        let mut x = Array2::from_shape_fn((10, 3), |(i, j)| ((i * (j + 2)) % 7) as f64);
        assert!(principal_axes(&x, 2).is_ok());
        x[[4, 1]] = f64::NAN;
        let err = principal_axes(&x, 2).unwrap_err();
        assert!(err.to_string().contains("not finite"), "{err}");
    }
}
