//! `hypersynth run JOB.toml`: the stages of a job file run over its scenes, each task
//! writing into `OUT/<scene>/<stage>/` and finishing with its `run.json`, so that a rerun
//! skips finished tasks, a failed scene does not stop the others, and a killed run leaves
//! nothing that looks finished. Scenes can be split over the workers of a Slurm job array
//! or a Kubernetes indexed Job; `--merge` then builds the job summary from every shard's
//! records. See `docs/JOBS.md`.

mod file;
mod shard;
mod summary;
mod task;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
pub use file::{Job, Scene, Stage};
use hypersynth_onnx::SessionOptions;
pub use shard::Shard;
pub use summary::Counts;
use summary::{Row, State};
use task::Task;

use crate::progress;

/// Resolved settings of `run`.
#[derive(Debug, Clone)]
pub struct RunJob {
    /// The job file.
    pub job: PathBuf,
    /// Run tasks again even when their records say done with the same inputs.
    pub force: bool,
    /// This worker's share of the scenes; `None` reads the scheduler's variables, and
    /// runs every scene outside a scheduler.
    pub shard: Option<Shard>,
    /// Run nothing: build the job summary from the records of every task on disk.
    pub merge: bool,
    /// Scenes run at once (at least 1); ONNX Runtime's threads are shared out among them.
    pub scenes_at_once: usize,
    /// Threads of ONNX Runtime (the job's device is filled in from the job file).
    pub session: SessionOptions,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    /// Every task is done.
    AllDone,
    /// Some tasks failed, were blocked or were not run; the summary says which.
    Incomplete,
    /// SIGINT or SIGTERM stopped it after a task.
    Stopped,
}

/// The error of a job that ran but did not finish every task: the process exits with
/// [`JobEnd::exit_code`].
#[derive(Debug)]
pub struct Unfinished(pub JobOutcome);

impl std::fmt::Display for Unfinished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.0.counts;
        let what = if self.0.end == JobEnd::Stopped { "stopped by a signal" } else { "incomplete" };
        write!(
            f,
            "job {what}: {} task(s) done ({} reused), {} failed, {} blocked, {} not run; see {}",
            c.done,
            c.reused,
            c.failed,
            c.blocked,
            c.not_run,
            self.0.summary.display()
        )
    }
}

impl std::error::Error for Unfinished {}

impl JobEnd {
    /// The process's exit code: 0 all done, 3 incomplete, 4 stopped (1 is left to errors
    /// that stop the job itself, such as a bad job file).
    pub fn exit_code(self) -> u8 {
        match self {
            JobEnd::AllDone => 0,
            JobEnd::Incomplete => 3,
            JobEnd::Stopped => 4,
        }
    }
}

/// What a job run (or merge) came to.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// How it ended.
    pub end: JobEnd,
    /// Tasks per state.
    pub counts: Counts,
    /// The summary written.
    pub summary: PathBuf,
}

/// Runs (or merges) the job; see [`RunJob`].
pub fn run(settings: &RunJob) -> Result<JobOutcome> {
    let job = Job::load(&settings.job)?;
    if settings.merge {
        return merge(&job);
    }
    let shard = match settings.shard {
        Some(shard) => Some(shard),
        None => Shard::from_env(|name| std::env::var(name).ok())?,
    };
    let stop = stop_on_signals()?;
    let workers = settings.scenes_at_once.max(1);
    let session =
        SessionOptions { device: job.device, threads: threads_per_scene(settings.session.threads, workers), ..settings.session.clone() };
    let scenes: Vec<&Scene> = job.scenes.iter().enumerate().filter(|(i, _)| shard.is_none_or(|s| s.takes(*i))).map(|(_, s)| s).collect();
    tracing::info!(
        "job {}: {} scene(s){}, stages {}, {workers} at once",
        job.path.display(),
        scenes.len(),
        shard.map(|s| format!(" (shard {} of {})", s.index, s.count)).unwrap_or_default(),
        job.stages.iter().map(Stage::name).collect::<Vec<_>>().join(", ")
    );
    let bar = progress::bar((scenes.len() * job.stages.len()) as u64, "job", "tasks");
    let run_scene = |scene: &Scene| {
        let rows = scene_rows(scene, &job.stages, |stage| {
            if stop.load(Ordering::Relaxed) {
                return Ok(Row::from_record(&scene.id, stage.name(), None, false));
            }
            bar.set_message(format!("{} {}", scene.id, stage.name()));
            let outcome = Task { job: &job, scene, stage }.run(settings.force, &session)?;
            Ok(Row::from_record(&scene.id, stage.name(), Some(&outcome.record), outcome.reused))
        })?;
        bar.inc(rows.len() as u64);
        Ok::<_, anyhow::Error>(rows)
    };
    let rows = in_job_order(&scenes, workers, run_scene)?;
    bar.finish_and_clear();
    let name = match shard {
        Some(s) if s.count > 1 => format!("job-summary.shard-{}-of-{}", s.index, s.count),
        _ => "job-summary".to_string(),
    };
    let summary = summary::write(&job.output, &name, &job.path, shard.map(|s| format!("{}/{}", s.index, s.count)), &rows)?;
    let counts = Counts::of(&rows);
    let end = if stop.load(Ordering::Relaxed) {
        JobEnd::Stopped
    } else if counts.done == rows.len() {
        JobEnd::AllDone
    } else {
        JobEnd::Incomplete
    };
    Ok(JobOutcome { end, counts, summary })
}

/// Threads per scene when `workers` scenes run at once: they share the cores (`threads`,
/// else all) out.
fn threads_per_scene(threads: Option<usize>, workers: usize) -> Option<usize> {
    if workers > 1 {
        let all = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Some((all / workers).max(1))
    } else {
        threads
    }
}

/// Runs `run_scene` on every scene with `workers` threads, each taking the next scene in
/// job-file order; the rows keep that order.
fn in_job_order(scenes: &[&Scene], workers: usize, run_scene: impl Fn(&Scene) -> Result<Vec<Row>> + Sync) -> Result<Vec<Row>> {
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, Vec<Row>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..workers.min(scenes.len()))
            .map(|_| {
                crate::threads::spawn_scoped(scope, "a scene", || -> Result<()> {
                    loop {
                        let position = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&scene) = scenes.get(position) else { return Ok(()) };
                        let rows = run_scene(scene)?;
                        done.lock().map_err(|_| anyhow::anyhow!("a scene worker panicked"))?.push((position, rows));
                    }
                })
            })
            .collect::<Result<_>>()?;
        for handle in handles {
            handle.join().map_err(|_| anyhow::anyhow!("a scene worker panicked"))??;
        }
        Ok(())
    })?;
    let mut done = done.into_inner().map_err(|_| anyhow::anyhow!("a scene worker panicked"))?;
    done.sort_by_key(|(position, _)| *position);
    let rows: Vec<Row> = done.into_iter().flat_map(|(_, rows)| rows).collect();
    Ok(rows)
}

/// The job summary of every scene and stage from the records on disk, whichever worker
/// wrote them.
fn merge(job: &Job) -> Result<JobOutcome> {
    let mut rows = Vec::new();
    for scene in &job.scenes {
        rows.extend(scene_rows(scene, &job.stages, |stage| {
            let record = Task { job, scene, stage }.existing_record();
            Ok(Row::from_record(&scene.id, stage.name(), record.as_ref(), false))
        })?);
    }
    let summary = summary::write(&job.output, "job-summary", &job.path, None, &rows)?;
    let counts = Counts::of(&rows);
    let end = if counts.done == rows.len() { JobEnd::AllDone } else { JobEnd::Incomplete };
    Ok(JobOutcome { end, counts, summary })
}

/// The rows of one scene's stages, in order: `row` for each until one fails, the rest
/// blocked; each row is logged.
fn scene_rows(scene: &Scene, stages: &[Stage], mut row: impl FnMut(&Stage) -> Result<Row>) -> Result<Vec<Row>> {
    let mut rows: Vec<Row> = Vec::with_capacity(stages.len());
    for stage in stages {
        let next = if rows.iter().any(|r| r.state == State::Failed) { Row::blocked(&scene.id, stage.name()) } else { row(stage)? };
        log_row(&next);
        rows.push(next);
    }
    Ok(rows)
}

/// One status line per task: info when done, an error when failed, a warning otherwise.
fn log_row(row: &Row) {
    match row.state {
        State::Done if row.reused => tracing::info!("{} {}: done earlier, outputs unchanged; skipped", row.scene, row.stage),
        State::Done => tracing::info!("{} {}: done in {:.1} s", row.scene, row.stage, row.seconds.unwrap_or(0.0)),
        // An error, so that `-q` (errors only) still says why a task failed.
        State::Failed => tracing::error!("{} {}: failed: {}", row.scene, row.stage, row.error.as_deref().unwrap_or("")),
        State::Blocked => tracing::warn!("{} {}: not run, an earlier stage failed", row.scene, row.stage),
        State::NotRun => tracing::warn!("{} {}: not run, the job was stopped", row.scene, row.stage),
    }
}

/// A flag set by the first SIGINT or SIGTERM, so that the job stops after the task at
/// hand; a second one ends the process at once.
fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop)).context("cannot handle signals")?;
        signal_hook::flag::register(signal, Arc::clone(&stop)).context("cannot handle signals")?;
    }
    Ok(stop)
}
