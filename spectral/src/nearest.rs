//! Sample selection by the nearest real spectrum: a synthetic spectrum of class `c` is kept
//! when the real training spectrum nearest to it belongs to class `c`, so that no synthetic
//! spectrum is kept where another class's real pixels lie. Distances are Euclidean in bands
//! standardised by the real spectra's per-band mean and standard deviation, so that bright
//! bands do not decide alone. `docs/TRAINING.md` has the measurements behind it.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::{Error, Result};

/// Rows of candidates compared with the real spectra in one matrix product.
const CHUNK: usize = 1024;

/// The real training spectra a synthetic spectrum is compared with.
#[derive(Debug, Clone)]
pub struct NearestRealFilter {
    /// Per-band mean of the real spectra.
    mean: Array1<f32>,
    /// Per-band 1 / standard deviation (0 for a constant band, which then counts for nothing).
    inv_sd: Array1<f32>,
    /// `[n, bands]`: the standardised real spectra.
    real: Array2<f32>,
    /// Their squared norms.
    norms: Array1<f32>,
    /// Their class ids.
    labels: Vec<u32>,
}

impl NearestRealFilter {
    /// Prepares the filter from the real training spectra (`[n, bands]`) and their class ids.
    pub fn new(real: ArrayView2<'_, f32>, labels: &[u32]) -> Result<Self> {
        let (n, _) = real.dim();
        if n == 0 || labels.len() != n {
            return Err(Error::Shape(format!("{n} real spectra with {} class ids", labels.len())));
        }
        let x = real.mapv(f64::from);
        let mean = x.mean_axis(Axis(0)).unwrap_or_default();
        let sd = x.std_axis(Axis(0), 0.0);
        let inv_sd = sd.mapv(|s| if s > 0.0 { (1.0 / s) as f32 } else { 0.0 });
        let mean = mean.mapv(|m| m as f32);
        let real = (&real - &mean) * &inv_sd;
        let norms = real.rows().into_iter().map(|r| r.dot(&r)).collect();
        Ok(Self { mean, inv_sd, real, norms, labels: labels.to_vec() })
    }

    /// For each row of `candidates` (`[m, bands]`, all of class `class`): is its nearest real
    /// spectrum of class `class`? Ties count as kept; with no real spectrum of another class
    /// every candidate is kept, with none of `class` none is.
    pub fn keeps(&self, candidates: ArrayView2<'_, f32>, class: u32) -> Result<Vec<bool>> {
        if candidates.ncols() != self.real.ncols() {
            return Err(Error::Shape(format!("candidates of {} bands against real spectra of {}", candidates.ncols(), self.real.ncols())));
        }
        let rows: Vec<_> = candidates.axis_chunks_iter(Axis(0), CHUNK).collect();
        let kept = rows
            .into_par_iter()
            .flat_map_iter(|chunk| {
                let z = (&chunk - &self.mean) * &self.inv_sd;
                // |z - x|² - |z|² = |x|² - 2 z·x: the row's own |z|² does not change which is nearest.
                let cross = z.dot(&self.real.t());
                cross
                    .rows()
                    .into_iter()
                    .map(|row| {
                        let (mut own, mut other) = (f32::INFINITY, f32::INFINITY);
                        for ((&c, &norm), &label) in row.iter().zip(&self.norms).zip(&self.labels) {
                            let d = norm - 2.0 * c;
                            if label == class {
                                own = own.min(d);
                            } else {
                                other = other.min(d);
                            }
                        }
                        own <= other
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn keeps_candidates_nearer_their_own_class() {
        // Class 1 near (0, 0), class 2 near (10, 0); band 1 is wide, so it is scaled down.
        let real = array![[0.0f32, 0.0], [1.0, 100.0], [10.0, 0.0], [11.0, 100.0]];
        let filter = NearestRealFilter::new(real.view(), &[1, 1, 2, 2]).unwrap();
        let candidates = array![[0.5f32, 50.0], [9.0, 0.0], [4.0, 0.0], [7.0, 90.0]];
        assert_eq!(filter.keeps(candidates.view(), 1).unwrap(), vec![true, false, true, false]);
        assert_eq!(filter.keeps(candidates.view(), 2).unwrap(), vec![false, true, false, true]);
    }

    #[test]
    fn standardises_bands_by_the_real_spectra() {
        // Unscaled, (0.9, 200) lies nearer class 1's (0, 0); standardised, band 0's small
        // spread makes its 0.9 count, and class 2's (1, 500) is nearer.
        let real = array![[0.0f32, 0.0], [0.0, 1000.0], [1.0, 500.0]];
        let filter = NearestRealFilter::new(real.view(), &[1, 1, 2]).unwrap();
        let candidate = array![[0.9f32, 200.0]];
        assert_eq!(filter.keeps(candidate.view(), 1).unwrap(), vec![false]);
        assert_eq!(filter.keeps(candidate.view(), 2).unwrap(), vec![true]);
    }

    #[test]
    fn a_lone_class_keeps_everything_and_an_absent_one_nothing() {
        let real = array![[0.0f32, 1.0], [2.0, 3.0]];
        let filter = NearestRealFilter::new(real.view(), &[4, 4]).unwrap();
        let candidates = array![[100.0f32, -100.0], [1.0, 2.0]];
        assert_eq!(filter.keeps(candidates.view(), 4).unwrap(), vec![true, true]);
        assert_eq!(filter.keeps(candidates.view(), 5).unwrap(), vec![false, false]);
        assert!(filter.keeps(array![[1.0f32]].view(), 4).is_err());
    }
}
