//! The loop every adversarial family trains with: resume from a checkpoint or start afresh,
//! one seeded random stream per step, validation and logging on a schedule, and checkpoints
//! from which a killed run ends exactly as an uninterrupted one would. What differs between
//! the families (their networks' step, their validation, what a checkpoint holds) is a
//! [`Family`].

use std::path::Path;

use rand_chacha::ChaCha8Rng;

use crate::observe::Observer;
use crate::{Result, rng};

/// The random stream of the networks' initialisation (one per seed).
pub(crate) const STREAM_INIT: u64 = 1;
/// The random streams of the steps (one per seed and step index), so that a resumed run
/// draws what an uninterrupted one would.
pub(crate) const STREAM_STEP: u64 = 2;
/// The random stream of what is measured on the trained networks (one per seed).
pub(crate) const STREAM_AFTER: u64 = 3;

/// When the loop stops, validates, logs and saves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// Steps in all.
    pub steps: usize,
    /// The seed of every step's stream.
    pub seed: u64,
    /// Validate every this many steps (`None`: only after the last).
    pub validate_every: Option<usize>,
    /// Hand a record to the observer every this many steps (and after each validation).
    pub log_every: usize,
    /// Save a checkpoint every this many steps (and after the last).
    pub checkpoint_every: usize,
}

impl Schedule {
    /// A schedule of `steps` steps from `seed`'s streams.
    pub fn new(steps: usize, seed: u64, validate_every: Option<usize>, log_every: usize, checkpoint_every: usize) -> Self {
        Self { steps, seed, validate_every, log_every, checkpoint_every }
    }
}

/// One family's training state, as the loop drives it.
pub(crate) trait Family {
    /// What one step reports.
    type Record;
    /// Steps done so far.
    fn steps_done(&self) -> usize;
    /// One step, drawing from `rng` only; counts it.
    fn step(&mut self, rng: &mut ChaCha8Rng) -> Result<Self::Record>;
    /// Validates the model as it stands after the step of `record`, noting the outcome there.
    fn validate(&mut self, record: &mut Self::Record) -> Result<()>;
    /// Writes the whole state to `path`.
    fn save(&self, path: &Path) -> Result<()>;
}

/// The state saved at `checkpoint` when there is one for these data and settings (`load`
/// says), else `fresh()`.
pub(crate) fn resume_or_fresh<S>(
    checkpoint: Option<&Path>,
    load: impl FnOnce(&Path) -> Result<Option<S>>,
    fresh: impl FnOnce() -> Result<S>,
) -> Result<S> {
    match checkpoint.map(load).transpose()?.flatten() {
        Some(state) => Ok(state),
        None => fresh(),
    }
}

/// Runs `family` from the step it stands at to `schedule.steps`, telling `observer`; with
/// `checkpoint`, saves there on the schedule. Returns the step it started from.
pub(crate) fn run<F: Family>(
    family: &mut F,
    schedule: &Schedule,
    checkpoint: Option<&Path>,
    observer: &mut dyn Observer<F::Record>,
) -> Result<usize> {
    let resumed_from = family.steps_done();
    if let Some(path) = checkpoint
        && resumed_from > 0
    {
        tracing::info!("{}: resuming at step {resumed_from}", path.display());
    }
    observer.resumed(resumed_from);
    while family.steps_done() < schedule.steps {
        let mut rng = rng::stream(schedule.seed, STREAM_STEP, family.steps_done() as u64);
        let mut record = family.step(&mut rng)?;
        let done = family.steps_done();
        let validate_now = done == schedule.steps || schedule.validate_every.is_some_and(|every| done.is_multiple_of(every.max(1)));
        if validate_now {
            family.validate(&mut record)?;
        }
        if validate_now || done.is_multiple_of(schedule.log_every.max(1)) {
            observer.record(&record);
        }
        if let Some(path) = checkpoint
            && (done.is_multiple_of(schedule.checkpoint_every.max(1)) || done == schedule.steps)
        {
            observer.checkpointing(done);
            family.save(path)?;
            observer.checkpointed(done);
        }
    }
    Ok(resumed_from)
}
