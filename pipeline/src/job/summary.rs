//! The job summary: one row per task with its status, time and key numbers, as JSON
//! (`job-summary.json`) and as a Polars table (`job-summary.parquet`, `job-summary.csv`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Result;
use polars::prelude::{Column, DataFrame};
use serde::Serialize;

use super::task::{Status, TaskRecord};
use crate::report::table;

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Finished; its outputs are complete.
    Done,
    /// Failed; the row's `error` says why.
    Failed,
    /// Not run because an earlier stage of its scene failed.
    Blocked,
    /// Not run (yet): another shard's, or the job was stopped first.
    NotRun,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Done => "done",
            State::Failed => "failed",
            State::Blocked => "blocked",
            State::NotRun => "not-run",
        }
    }
}

/// One task's line.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The scene's id.
    pub scene: String,
    /// The stage.
    pub stage: String,
    /// Where it stands.
    pub state: State,
    /// Whether this run reused an earlier run's outputs instead of running it.
    pub reused: bool,
    /// Seconds its (last) run took.
    pub seconds: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its key numbers.
    pub metrics: BTreeMap<String, f64>,
}

impl Row {
    /// The row of a task with `record` on disk (`None`: none yet).
    pub fn from_record(scene: &str, stage: &str, record: Option<&TaskRecord>, reused: bool) -> Self {
        let state = match record.map(|r| r.status) {
            Some(Status::Done) => State::Done,
            Some(Status::Failed) => State::Failed,
            None => State::NotRun,
        };
        Self {
            scene: scene.into(),
            stage: stage.into(),
            state,
            reused,
            seconds: record.map(|r| r.seconds),
            error: record.and_then(|r| r.error.clone()),
            metrics: record.map(|r| r.metrics.clone()).unwrap_or_default(),
        }
    }

    /// A task not run because an earlier stage failed.
    pub fn blocked(scene: &str, stage: &str) -> Self {
        Self { state: State::Blocked, ..Self::from_record(scene, stage, None, false) }
    }
}

/// Tasks per state, and how many this run reused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Done (run now or reused).
    pub done: usize,
    /// Of those, reused from an earlier run.
    pub reused: usize,
    /// Failed.
    pub failed: usize,
    /// Blocked by an earlier failure.
    pub blocked: usize,
    /// Not run.
    pub not_run: usize,
}

impl Counts {
    /// Counts `rows`.
    pub fn of(rows: &[Row]) -> Self {
        let mut c = Counts::default();
        for row in rows {
            match row.state {
                State::Done => c.done += 1,
                State::Failed => c.failed += 1,
                State::Blocked => c.blocked += 1,
                State::NotRun => c.not_run += 1,
            }
            c.reused += usize::from(row.reused);
        }
        c
    }
}

/// Writes `NAME.json` (the job file, the shard, counts and rows) and `NAME.parquet` and
/// `NAME.csv` (one row per task: scene, stage, status, reused, seconds, error, then one
/// column per key number) into `dir`, each atomically. Returns the JSON's path.
pub fn write(dir: &Path, name: &str, job_file: &Path, shard: Option<String>, rows: &[Row]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let summary = serde_json::json!({
        "job": job_file,
        "shard": shard,
        "counts": Counts::of(rows),
        "tasks": rows,
        "hypersynth_version": env!("CARGO_PKG_VERSION"),
    });
    let json = hypersynth_data::write_atomically(&dir.join(format!("{name}.json")), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    table::write(&mut frame(rows)?, dir, name)?;
    Ok(json)
}

/// The rows as a Polars frame.
fn frame(rows: &[Row]) -> Result<DataFrame> {
    let metric_names: BTreeSet<&String> = rows.iter().flat_map(|r| r.metrics.keys()).collect();
    let mut columns = vec![
        Column::new("scene".into(), rows.iter().map(|r| r.scene.as_str()).collect::<Vec<_>>()),
        Column::new("stage".into(), rows.iter().map(|r| r.stage.as_str()).collect::<Vec<_>>()),
        Column::new("status".into(), rows.iter().map(|r| r.state.as_str()).collect::<Vec<_>>()),
        Column::new("reused".into(), rows.iter().map(|r| r.reused).collect::<Vec<_>>()),
        Column::new("seconds".into(), rows.iter().map(|r| r.seconds).collect::<Vec<_>>()),
        Column::new("error".into(), rows.iter().map(|r| r.error.as_deref()).collect::<Vec<_>>()),
    ];
    for name in metric_names {
        columns.push(Column::new(name.as_str().into(), rows.iter().map(|r| r.metrics.get(name).copied()).collect::<Vec<_>>()));
    }
    Ok(DataFrame::new_infer_height(columns)?)
}
