//! `classify --check`: the map's accuracy on labelled pixels its training never saw (overall
//! accuracy, Cohen's kappa, per-class precision, recall and F1, the confusion matrix),
//! written as Parquet, CSV and an HTML page in the report's style.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use polars::prelude::{Column, DataFrame};

use crate::report::{self, Table, escape, html_page};

/// Pixel counts by (true class, mapped class).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Confusion {
    /// `(truth, mapped)` to pixels.
    pub counts: BTreeMap<(u32, u32), u64>,
    /// Labelled pixels left out because the scene has no data there.
    pub without_data: u64,
    /// Labelled pixels left out because the classifier was trained on them.
    pub trained_on: u64,
}

/// The scores of a [`Confusion`].
#[derive(Debug, Clone, PartialEq)]
pub struct Accuracy {
    /// Pixels scored.
    pub pixels: u64,
    /// The share mapped right.
    pub overall_accuracy: f64,
    /// Cohen's kappa: agreement beyond what the class shares give by chance.
    pub kappa: f64,
    /// The mean F1 over the true classes.
    pub macro_f1: f64,
    /// Per true or mapped class: (pixels of the class, precision, recall, F1); precision
    /// is NaN for a class never mapped, recall NaN for one not in the truth.
    pub classes: BTreeMap<u32, (u64, f64, f64, f64)>,
}

impl Confusion {
    /// Counts one pixel.
    pub fn add(&mut self, truth: u32, mapped: u32) {
        *self.counts.entry((truth, mapped)).or_default() += 1;
    }

    /// The scores.
    pub fn accuracy(&self) -> Accuracy {
        let total: u64 = self.counts.values().sum();
        let mut actual: BTreeMap<u32, u64> = BTreeMap::new();
        let mut mapped: BTreeMap<u32, u64> = BTreeMap::new();
        for (&(t, m), &n) in &self.counts {
            *actual.entry(t).or_default() += n;
            *mapped.entry(m).or_default() += n;
        }
        let right = |c: u32| self.counts.get(&(c, c)).copied().unwrap_or(0);
        let n = total.max(1) as f64;
        let observed = actual.keys().map(|&c| right(c)).sum::<u64>() as f64 / n;
        let chance: f64 = actual.iter().map(|(c, &a)| a as f64 * mapped.get(c).copied().unwrap_or(0) as f64).sum::<f64>() / (n * n);
        let mut classes = BTreeMap::new();
        for &c in actual.keys().chain(mapped.keys()) {
            let (a, m, hit) = (actual.get(&c).copied().unwrap_or(0), mapped.get(&c).copied().unwrap_or(0), right(c) as f64);
            let share = |of: u64| if of > 0 { hit / of as f64 } else { f64::NAN };
            let f1 = if a + m > 0 { 2.0 * hit / (a + m) as f64 } else { f64::NAN };
            classes.insert(c, (a, share(m), share(a), f1));
        }
        let f1s: Vec<f64> = actual.keys().map(|c| classes[c].3).collect();
        Accuracy {
            pixels: total,
            overall_accuracy: observed,
            kappa: if chance < 1.0 { (observed - chance) / (1.0 - chance) } else { f64::NAN },
            macro_f1: f1s.iter().sum::<f64>() / f1s.len().max(1) as f64,
            classes,
        }
    }
}

/// Writes `STEM.check.parquet`/`.csv` (tidy: class, metric, value), `STEM.confusion.parquet`/
/// `.csv` (truth, mapped, pixels) and `STEM.check.html` into `dir`; returns them.
pub fn write(dir: &Path, stem: &str, confusion: &Confusion, names: &BTreeMap<u32, String>, title: &str) -> Result<Vec<PathBuf>> {
    let accuracy = confusion.accuracy();
    let name = |c: u32| names.get(&c).cloned().unwrap_or_default();
    let (mut ids, mut class_names, mut metrics, mut values) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut row = |id: Option<u32>, class: String, metric: &str, value: f64| {
        ids.push(id);
        class_names.push(class);
        metrics.push(metric.to_string());
        values.push(value.is_finite().then_some(value));
    };
    for (metric, value) in [
        ("pixels", accuracy.pixels as f64),
        ("overall_accuracy", accuracy.overall_accuracy),
        ("kappa", accuracy.kappa),
        ("macro_f1", accuracy.macro_f1),
    ] {
        row(None, "overall".into(), metric, value);
    }
    for (&c, &(pixels, precision, recall, f1)) in &accuracy.classes {
        for (metric, value) in [("pixels", pixels as f64), ("precision", precision), ("recall", recall), ("f1", f1)] {
            row(Some(c), name(c), metric, value);
        }
    }
    let mut scores = DataFrame::new_infer_height(vec![
        Column::new("class_id".into(), ids),
        Column::new("class_name".into(), class_names),
        Column::new("metric".into(), metrics),
        Column::new("value".into(), values),
    ])?;
    let cells: Vec<(&(u32, u32), &u64)> = confusion.counts.iter().collect();
    let mut matrix = DataFrame::new_infer_height(vec![
        Column::new("truth_id".into(), cells.iter().map(|((t, _), _)| *t).collect::<Vec<_>>()),
        Column::new("mapped_id".into(), cells.iter().map(|((_, m), _)| *m).collect::<Vec<_>>()),
        Column::new("pixels".into(), cells.iter().map(|(_, n)| **n).collect::<Vec<_>>()),
    ])?;
    let mut written = report::table::write(&mut scores, dir, &format!("{stem}.check"))?.to_vec();
    written.extend(report::table::write(&mut matrix, dir, &format!("{stem}.confusion"))?);
    let html =
        hypersynth_data::write_atomically(&dir.join(format!("{stem}.check.html")), page(title, confusion, &accuracy, names)?.as_bytes())?;
    written.push(html);
    Ok(written)
}

/// The HTML page: the overall scores, the per-class table and the confusion matrix.
fn page(title: &str, confusion: &Confusion, accuracy: &Accuracy, names: &BTreeMap<u32, String>) -> Result<String> {
    let number = |v: f64| if v.is_finite() { format!("{v:.3}") } else { "–".into() };
    let label = |c: u32| format!("{c} {}", names.get(&c).map(String::as_str).unwrap_or("")).trim().to_string();
    let mut body = String::new();
    writeln!(body, "<h1>{}</h1>", escape(title))?;
    writeln!(
        body,
        "<p>{} labelled pixels scored: overall accuracy {}, kappa {}, macro-F1 {}. Left out: {} the classifier was fitted on \
         (known when it was fitted on this scene's labels), {} without data in the scene.</p>",
        accuracy.pixels,
        number(accuracy.overall_accuracy),
        number(accuracy.kappa),
        number(accuracy.macro_f1),
        confusion.trained_on,
        confusion.without_data
    )?;
    let per_class = Table {
        headers: ["class", "name", "pixels", "precision", "recall", "F1"].map(String::from).to_vec(),
        rows: accuracy
            .classes
            .iter()
            .map(|(&c, &(n, p, r, f))| {
                vec![c.to_string(), names.get(&c).cloned().unwrap_or_default(), n.to_string(), number(p), number(r), number(f)]
            })
            .collect(),
    };
    writeln!(body, "<h2>Per class</h2>\n{}", per_class.html())?;
    let classes: Vec<u32> = accuracy.classes.keys().copied().collect();
    let mut headers = vec!["truth \\ mapped".to_string(), "name".to_string()];
    headers.extend(classes.iter().map(|&c| label(c)));
    let rows = classes
        .iter()
        .map(|&t| {
            let mut row = vec![t.to_string(), names.get(&t).cloned().unwrap_or_default()];
            row.extend(classes.iter().map(|&m| confusion.counts.get(&(t, m)).copied().unwrap_or(0).to_string()));
            row
        })
        .collect();
    writeln!(body, "<h2>Confusion matrix (pixels)</h2>\n{}", Table { headers, rows }.html())?;
    Ok(html_page(title, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_by_hand() {
        // Truth 1: 8 right, 2 mapped as 2. Truth 2: 5 right, 5 mapped as 1.
        let mut c = Confusion::default();
        for (t, m, n) in [(1, 1, 8), (1, 2, 2), (2, 2, 5), (2, 1, 5)] {
            for _ in 0..n {
                c.add(t, m);
            }
        }
        let a = c.accuracy();
        assert_eq!(a.pixels, 20);
        assert!((a.overall_accuracy - 0.65).abs() < 1e-12);
        // Chance: (10 · 13 + 10 · 7) / 400 = 0.5; kappa = (0.65 - 0.5) / 0.5.
        assert!((a.kappa - 0.3).abs() < 1e-12);
        let (n, precision, recall, f1) = a.classes[&1];
        assert_eq!(n, 10);
        assert!((precision - 8.0 / 13.0).abs() < 1e-12 && (recall - 0.8).abs() < 1e-12);
        assert!((f1 - 16.0 / 23.0).abs() < 1e-12);
    }
}
