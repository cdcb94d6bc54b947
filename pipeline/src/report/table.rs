//! The report's tidy metrics table (Polars): one row per class (or `overall`), metric
//! family, metric, classifier and training set, written as Parquet and CSV.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hypersynth_data::AtomicPath;
use hypersynth_spectral::{ClassQuality, Quality};
use polars::prelude::{Column, CsvWriter, DataFrame, ParquetWriter, SerWriter};

/// One row of the tidy table.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// The class id, `None` for the overall rows.
    pub class_id: Option<u32>,
    /// The class name, `overall` for the overall rows.
    pub class_name: String,
    /// The metric family: `counts`, `spectral_angle`, `diversity`, `ks`, `mmd`, `c2st`,
    /// `dcr`, `tstr` or `lift`.
    pub family: &'static str,
    /// The metric within the family.
    pub metric: &'static str,
    /// The classifier, for `c2st`, `tstr` and `lift`.
    pub classifier: Option<&'static str>,
    /// The training set, for `lift`.
    pub training_set: Option<&'static str>,
    /// The value (`None` where it cannot be computed, e.g. too few rows).
    pub value: Option<f64>,
}

/// The tidy rows of `quality`; overall rows hold the mean over classes of each per-class
/// metric, the total counts, and the lift's overall accuracy and macro-F1.
pub fn metric_rows(quality: &Quality, names: &BTreeMap<u32, String>) -> Vec<MetricRow> {
    let mut rows = Vec::new();
    for c in &quality.classes {
        let name = names.get(&c.class).cloned().unwrap_or_default();
        for (family, metric, classifier, value) in class_metrics(c) {
            rows.push(MetricRow {
                class_id: Some(c.class),
                class_name: name.clone(),
                family,
                metric,
                classifier,
                training_set: None,
                value,
            });
        }
        for lift in &quality.lift {
            rows.push(MetricRow {
                class_id: Some(c.class),
                class_name: name.clone(),
                family: "lift",
                metric: "f1",
                classifier: Some(lift.classifier.name()),
                training_set: Some(lift.training_set.name()),
                value: lift.scores.f1.get(&c.class).copied(),
            });
        }
    }
    let overall = |family, metric, classifier, training_set, value| MetricRow {
        class_id: None,
        class_name: "overall".into(),
        family,
        metric,
        classifier,
        training_set,
        value,
    };
    // Every class lists the same (family, metric, classifier) keys in the same order.
    let per_class: Vec<Vec<_>> = quality.classes.iter().map(class_metrics).collect();
    if let Some(first) = per_class.first() {
        for (i, &(family, metric, classifier, _)) in first.iter().enumerate() {
            let values: Vec<f64> = per_class.iter().filter_map(|m| m[i].3).collect();
            let value = if family == "counts" {
                Some(values.iter().sum())
            } else {
                (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
            };
            rows.push(overall(family, metric, classifier, None, value));
        }
    }
    for lift in &quality.lift {
        let (k, s) = (Some(lift.classifier.name()), Some(lift.training_set.name()));
        rows.push(overall("lift", "overall_accuracy", k, s, Some(lift.scores.overall_accuracy)));
        rows.push(overall("lift", "macro_f1", k, s, Some(lift.scores.macro_f1)));
    }
    rows
}

type ClassMetric = (&'static str, &'static str, Option<&'static str>, Option<f64>);

/// A class's metrics other than lift, in table order.
fn class_metrics(c: &ClassQuality) -> Vec<ClassMetric> {
    let finite = |v: f64| v.is_finite().then_some(v);
    let mut m: Vec<ClassMetric> = vec![
        ("counts", "real_train", None, Some(c.real_train as f64)),
        ("counts", "real_test", None, Some(c.real_test as f64)),
        ("counts", "synthetic", None, Some(c.synthetic as f64)),
        ("spectral_angle", "mean_angle_deg", None, finite(c.mean_angle_deg)),
        ("diversity", "ratio", None, finite(c.diversity_ratio)),
        ("ks", "max", None, finite(c.ks_max())),
        ("ks", "mean", None, finite(c.ks_mean())),
        ("mmd", "mmd2_rbf", None, finite(c.mmd)),
        ("dcr", "ratio", None, finite(c.dcr_ratio)),
    ];
    m.extend(c.c2st.iter().map(|(k, &v)| ("c2st", "balanced_accuracy", Some(k.name()), finite(v))));
    m.extend(c.tstr_f1.iter().map(|(k, &v)| ("tstr", "f1", Some(k.name()), finite(v))));
    m
}

/// `rows` as a Polars frame with the documented columns.
pub fn frame(rows: &[MetricRow]) -> Result<DataFrame> {
    let columns = vec![
        Column::new("class_id".into(), rows.iter().map(|r| r.class_id).collect::<Vec<_>>()),
        Column::new("class_name".into(), rows.iter().map(|r| r.class_name.as_str()).collect::<Vec<_>>()),
        Column::new("family".into(), rows.iter().map(|r| r.family).collect::<Vec<_>>()),
        Column::new("metric".into(), rows.iter().map(|r| r.metric).collect::<Vec<_>>()),
        Column::new("classifier".into(), rows.iter().map(|r| r.classifier).collect::<Vec<_>>()),
        Column::new("training_set".into(), rows.iter().map(|r| r.training_set).collect::<Vec<_>>()),
        Column::new("value".into(), rows.iter().map(|r| r.value).collect::<Vec<_>>()),
    ];
    Ok(DataFrame::new_infer_height(columns)?)
}

/// Writes `frame` to `dir/NAME.parquet` and `dir/NAME.csv`, each atomically.
pub fn write(frame: &mut DataFrame, dir: &Path, name: &str) -> Result<[PathBuf; 2]> {
    let parquet = AtomicPath::new(&dir.join(format!("{name}.parquet")))?;
    let file = std::fs::File::create(parquet.temp()).with_context(|| format!("{}: cannot create", parquet.temp().display()))?;
    ParquetWriter::new(file).finish(frame).with_context(|| format!("{}: cannot write Parquet", parquet.temp().display()))?;
    let csv = AtomicPath::new(&dir.join(format!("{name}.csv")))?;
    let file = std::fs::File::create(csv.temp()).with_context(|| format!("{}: cannot create", csv.temp().display()))?;
    CsvWriter::new(file).finish(frame).with_context(|| format!("{}: cannot write CSV", csv.temp().display()))?;
    Ok([parquet.commit()?, csv.commit()?])
}
