//! A random forest of classification trees (Breiman 2001), as scikit-learn's
//! `RandomForestClassifier` grows it by default: each tree on a bootstrap sample of the
//! rows, grown until its leaves are pure, each split the best Gini split over
//! `floor(sqrt(features))` features drawn at random (more when those cannot split); a row's
//! class probabilities are the mean over the trees of its leaf's class shares.
//!
//! Trees are grown in parallel, each from its own seeded stream, so a forest is the same
//! whatever the thread count. Nodes are stored flat, for prediction and for saving.

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Marks a leaf in [`Node::feature`].
const LEAF: u32 = u32::MAX;

/// A fitted forest over rows of `features` values, predicting class indices `0..classes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    /// Values per row.
    pub features: usize,
    /// Number of classes (indices `0..classes`).
    pub classes: usize,
    /// The trees.
    pub trees: Vec<Tree>,
}

/// One tree: node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// The nodes.
    pub nodes: Vec<Node>,
    /// Per leaf, its class shares, `classes` values each (a leaf's `left` is its offset
    /// here divided by `classes`).
    pub shares: Vec<f32>,
}

/// A split (`value <= threshold` goes left) or a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The feature split on; `u32::MAX` for a leaf.
    pub feature: u32,
    /// The split value (midway between the two values it separates).
    pub threshold: f64,
    /// The left child (for a leaf: its index among the leaves).
    pub left: u32,
    /// The right child.
    pub right: u32,
}

impl Forest {
    /// Grows `trees` trees on `x` (`[rows, features]` row-major, `features` values per row)
    /// with class indices `y` (`0..classes`), tree `t` from stream `t` of `seed`.
    pub fn fit(x: &[f64], features: usize, y: &[u32], classes: usize, trees: usize, seed: u64) -> Self {
        let rows = y.len();
        debug_assert_eq!(x.len(), rows * features);
        let trees = (0..trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(t as u64);
                let sample: Vec<usize> = (0..rows).map(|_| rng.random_range(0..rows)).collect();
                Grower { x, features, y, classes, tree: Tree { nodes: Vec::new(), shares: Vec::new() } }.grow(sample, &mut rng)
            })
            .collect();
        Self { features, classes, trees }
    }

    /// Whether the forest is whole (one read from a file may not be): every split on one of
    /// `features` values with both children after it (so every row reaches a leaf), every
    /// leaf's shares present for `classes` classes.
    pub fn check(&self, features: usize, classes: usize) -> std::result::Result<(), String> {
        if (self.features, self.classes) != (features, classes) {
            return Err(format!("a forest of {} features and {} classes for {features} and {classes}", self.features, self.classes));
        }
        for (t, tree) in self.trees.iter().enumerate() {
            let nodes = tree.nodes.len() as u64;
            let whole = !tree.nodes.is_empty()
                && tree.nodes.iter().enumerate().all(|(at, node)| {
                    if node.feature == LEAF {
                        (u64::from(node.left) + 1) * classes as u64 <= tree.shares.len() as u64
                    } else {
                        let at = at as u64;
                        (node.feature as usize) < features
                            && (at + 1..nodes).contains(&u64::from(node.left))
                            && (at + 1..nodes).contains(&u64::from(node.right))
                    }
                });
            if !whole {
                return Err(format!("tree {t} has a node that points outside it"));
            }
        }
        Ok(())
    }

    /// The class probabilities of each row of `rows` (`features` values each, one row
    /// after another): `classes` values per row, each the mean over the trees of the
    /// class's share in the row's leaf. Tree by tree over all the rows, so that a tree's
    /// nodes stay in cache while every row falls through it.
    pub fn probabilities(&self, rows: &[f64]) -> Vec<f64> {
        let weight = 1.0 / self.trees.len().max(1) as f64;
        let n = rows.len() / self.features.max(1);
        let mut out = vec![0.0; n * self.classes];
        let mut leaves = vec![0u32; n];
        for tree in &self.trees {
            tree.leaves(rows, self.features, &mut leaves);
            for (&leaf, out) in leaves.iter().zip(out.chunks_exact_mut(self.classes.max(1))) {
                let leaf = leaf as usize;
                for (o, s) in out.iter_mut().zip(&tree.shares[leaf * self.classes..(leaf + 1) * self.classes]) {
                    *o += weight * f64::from(*s);
                }
            }
        }
        out
    }
}

/// Rows that fall through a tree side by side: their steps are independent, so the
/// processor overlaps their node loads and comparisons.
const LANES: usize = 8;

impl Tree {
    /// The index of the leaf each row of `rows` (`features` values each) falls in, into
    /// `leaves`.
    fn leaves(&self, rows: &[f64], features: usize, leaves: &mut [u32]) {
        for (group, out) in rows.chunks(LANES * features.max(1)).zip(leaves.chunks_mut(LANES)) {
            let mut at = [0u32; LANES];
            let lanes = out.len();
            loop {
                let mut moving = false;
                for (k, at) in at.iter_mut().enumerate().take(lanes) {
                    let node = &self.nodes[*at as usize];
                    if node.feature != LEAF {
                        moving = true;
                        *at = if group[k * features + node.feature as usize] <= node.threshold { node.left } else { node.right };
                    }
                }
                if !moving {
                    break;
                }
            }
            for (out, &at) in out.iter_mut().zip(&at) {
                *out = self.nodes[at as usize].left;
            }
        }
    }
}

/// The best split found at a node.
struct Split {
    feature: usize,
    threshold: f64,
    /// How many of the node's rows (sorted by the feature) go left.
    left: usize,
}

struct Grower<'a> {
    x: &'a [f64],
    features: usize,
    y: &'a [u32],
    classes: usize,
    tree: Tree,
}

impl Grower<'_> {
    /// The tree grown on `sample` (row indices, with repeats).
    fn grow(mut self, sample: Vec<usize>, rng: &mut ChaCha8Rng) -> Tree {
        // Depth first with an explicit stack: (node index, its rows).
        self.tree.nodes.push(Node { feature: LEAF, threshold: 0.0, left: 0, right: 0 });
        let mut stack = vec![(0usize, sample)];
        while let Some((at, mut rows)) = stack.pop() {
            match self.best_split(&mut rows, rng) {
                Some(split) => {
                    let value = |r: usize| self.x[r * self.features + split.feature];
                    rows.sort_unstable_by(|&a, &b| value(a).total_cmp(&value(b)));
                    let right_rows = rows.split_off(split.left);
                    let (left, right) = (self.tree.nodes.len(), self.tree.nodes.len() + 1);
                    let leaf = Node { feature: LEAF, threshold: 0.0, left: 0, right: 0 };
                    self.tree.nodes.extend([leaf, leaf]);
                    self.tree.nodes[at] =
                        Node { feature: split.feature as u32, threshold: split.threshold, left: left as u32, right: right as u32 };
                    stack.push((right, right_rows));
                    stack.push((left, rows));
                }
                None => {
                    let leaf = self.tree.shares.len() / self.classes;
                    let mut counts = vec![0f32; self.classes];
                    for &r in &rows {
                        counts[self.y[r] as usize] += 1.0;
                    }
                    self.tree.shares.extend(counts.iter().map(|c| c / rows.len() as f32));
                    self.tree.nodes[at].left = leaf as u32;
                }
            }
        }
        self.tree
    }

    /// The split of `rows` that lowers the Gini impurity most, over `sqrt(features)`
    /// features drawn at random (drawing on while none of them can split, as scikit-learn
    /// does); none when the rows are of one class or alike in every feature.
    fn best_split(&self, rows: &mut [usize], rng: &mut ChaCha8Rng) -> Option<Split> {
        let n = rows.len();
        let mut totals = vec![0usize; self.classes];
        for &r in rows.iter() {
            totals[self.y[r] as usize] += 1;
        }
        if n < 2 || totals.contains(&n) {
            return None;
        }
        let wanted = ((self.features as f64).sqrt().floor() as usize).max(1);
        let mut order: Vec<usize> = (0..self.features).collect();
        order.shuffle(rng);
        let mut best: Option<(f64, Split)> = None;
        let mut tried = 0;
        let mut left_counts = vec![0usize; self.classes];
        for &feature in &order {
            if tried >= wanted && best.is_some() {
                break;
            }
            let value = |r: usize| self.x[r * self.features + feature];
            rows.sort_unstable_by(|&a, &b| value(a).total_cmp(&value(b)));
            if value(rows[0]) == value(rows[n - 1]) {
                continue;
            }
            tried += 1;
            left_counts.iter_mut().for_each(|c| *c = 0);
            // Sum of squared counts on each side: the Gini impurity of a side of m rows is
            // 1 - Σ c² / m², so the weighted impurity is n - Σ_left c²/m_l - Σ_right c²/m_r.
            let mut left_sq = 0.0;
            let mut right_sq: f64 = totals.iter().map(|&c| (c * c) as f64).sum();
            for i in 0..n - 1 {
                let class = self.y[rows[i]] as usize;
                let (l, r) = (left_counts[class] as f64, (totals[class] - left_counts[class]) as f64);
                left_sq += 2.0 * l + 1.0;
                right_sq -= 2.0 * r - 1.0;
                left_counts[class] += 1;
                let (a, b) = (value(rows[i]), value(rows[i + 1]));
                if a == b {
                    continue;
                }
                let m = (i + 1) as f64;
                let score = left_sq / m + right_sq / (n as f64 - m);
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    let threshold = a + (b - a) / 2.0;
                    // Midway can round up to b; then split at a.
                    let threshold = if threshold < b { threshold } else { a };
                    best = Some((score, Split { feature, threshold, left: i + 1 }));
                }
            }
        }
        best.map(|(_, split)| split)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of 4 features: class = which quadrant features 0 and 2 fall in; 1 and 3 noise.
    fn quadrants(n: usize, shift: usize) -> (Vec<f64>, Vec<u32>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let a = ((i * 37 + shift) % 101) as f64 / 101.0;
            let b = ((i * 53 + 7 * shift) % 103) as f64 / 103.0;
            x.extend([a, ((i * 11) % 13) as f64, b, ((i * 5) % 7) as f64]);
            y.push(u32::from(a > 0.5) + 2 * u32::from(b > 0.5));
        }
        (x, y)
    }

    #[test]
    fn learns_axis_aligned_classes_and_is_the_same_on_any_thread_count() {
        let (x, y) = quadrants(400, 0);
        let forest = Forest::fit(&x, 4, &y, 4, 25, 3);
        let (t, truth) = quadrants(200, 1);
        let right = truth
            .iter()
            .enumerate()
            .filter(|&(i, &c)| {
                let p = forest.probabilities(&t[i * 4..i * 4 + 4]);
                assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(k, _)| k as u32) == Some(c)
            })
            .count();
        assert!(right >= 190, "{right} of 200");
        let each: Vec<f64> = t.chunks_exact(4).flat_map(|row| forest.probabilities(row)).collect();
        assert_eq!(forest.probabilities(&t), each, "rows at once as one by one");
        let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert_eq!(single.install(|| Forest::fit(&x, 4, &y, 4, 25, 3)), forest);
        assert_ne!(Forest::fit(&x, 4, &y, 4, 25, 4), forest, "the seed draws the trees");
    }

    #[test]
    fn a_tree_of_one_class_is_one_leaf() {
        let forest = Forest::fit(&[1.0, 2.0, 3.0], 1, &[1, 1, 1], 2, 1, 0);
        assert_eq!(forest.trees[0].nodes.len(), 1);
        assert_eq!(forest.trees[0].shares, vec![0.0, 1.0]);
    }
}
