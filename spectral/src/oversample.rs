//! The cheap alternatives to synthetic spectra that the quality report compares against:
//! random oversampling and SMOTE.

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayView2};
use rand::RngExt;

use crate::metrics::squared_distance;
use crate::split::class_rng;

/// Neighbours SMOTE interpolates towards.
const SMOTE_NEIGHBOURS: usize = 5;

/// How to make extra rows for a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversampler {
    /// Copies of rows of the class, drawn with replacement.
    Random,
    /// SMOTE (Chawla et al. 2002): a random row of the class moved a uniform random
    /// fraction of the way towards one of its 5 nearest neighbours within the class.
    Smote,
}

/// `extra[c]` new rows for each class `c`, made from the rows of `x` labelled `c`; returns
/// the new rows and their labels (classes without rows are skipped). Seeded per class, so
/// one class's rows do not depend on another's.
pub fn oversample(
    method: Oversampler,
    x: ArrayView2<'_, f32>,
    labels: &[u32],
    extra: &BTreeMap<u32, usize>,
    seed: u64,
) -> (Array2<f32>, Vec<u32>) {
    let mut values = Vec::new();
    let mut out_labels = Vec::new();
    for (&class, &n) in extra {
        let rows: Vec<&[f32]> = labels.iter().zip(x.rows()).filter(|(l, _)| **l == class).filter_map(|(_, r)| r.to_slice()).collect();
        if rows.is_empty() {
            continue;
        }
        let mut rng = class_rng(seed, class);
        let neighbours = match method {
            Oversampler::Random => Vec::new(),
            Oversampler::Smote => nearest_neighbours(&rows, SMOTE_NEIGHBOURS),
        };
        for _ in 0..n {
            let i = rng.random_range(0..rows.len());
            match neighbours.get(i).and_then(|nn| (!nn.is_empty()).then(|| nn[rng.random_range(0..nn.len())])) {
                Some(j) => {
                    let t: f32 = rng.random();
                    values.extend(rows[i].iter().zip(rows[j]).map(|(a, b)| a + t * (b - a)));
                }
                None => values.extend_from_slice(rows[i]),
            }
            out_labels.push(class);
        }
    }
    let n = out_labels.len();
    (Array2::from_shape_vec((n, x.ncols()), values).expect("every new row has the input's band count"), out_labels)
}

/// For each row, the indices of its `k` nearest other rows (Euclidean).
fn nearest_neighbours(rows: &[&[f32]], k: usize) -> Vec<Vec<usize>> {
    (0..rows.len())
        .map(|i| {
            let mut d: Vec<(f64, usize)> = (0..rows.len()).filter(|&j| j != i).map(|j| (squared_distance(rows[i], rows[j]), j)).collect();
            let k = k.min(d.len());
            if k > 0 {
                d.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
            }
            d[..k].iter().map(|&(_, j)| j).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn random_copies_rows_of_the_class() {
        let x = array![[1.0f32, 2.0], [3.0, 4.0], [9.0, 9.0]];
        let (new, labels) = oversample(Oversampler::Random, x.view(), &[1, 1, 2], &BTreeMap::from([(1, 5)]), 0);
        assert_eq!(labels, vec![1; 5]);
        assert!(new.rows().into_iter().all(|r| r == x.row(0) || r == x.row(1)));
    }

    #[test]
    fn smote_rows_lie_between_a_row_and_a_neighbour() {
        // Class 1 lies on the segment from (0, 0) to (1, 1); class 2 far away.
        let x = array![[0.0f32, 0.0], [0.5, 0.5], [1.0, 1.0], [50.0, -50.0]];
        let (new, labels) = oversample(Oversampler::Smote, x.view(), &[1, 1, 1, 2], &BTreeMap::from([(1, 50), (3, 4)]), 7);
        assert_eq!(labels, vec![1; 50]);
        assert!(new.rows().into_iter().all(|r| r[0] == r[1] && (0.0..=1.0).contains(&r[0])));
        // Interpolation, not copying: most new rows are none of the originals.
        assert!(new.rows().into_iter().filter(|r| ![0.0, 0.5, 1.0].contains(&r[0])).count() > 40);
    }

    #[test]
    fn smote_of_a_single_row_copies_it() {
        let x = array![[2.0f32, 3.0]];
        let (new, _) = oversample(Oversampler::Smote, x.view(), &[4], &BTreeMap::from([(4, 3)]), 0);
        assert!(new.rows().into_iter().all(|r| r == x.row(0)));
    }
}
