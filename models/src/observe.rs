//! What a training loop tells whoever watches it: its records, and where it resumed and
//! saved, so that a log can keep its whole history across a resumed run.

/// Receives progress from a training loop whose records are `R`.
pub trait Observer<R> {
    /// Called every `log_every` steps and after each validation.
    fn record(&mut self, record: &R);
    /// Called once before the first step: the step training resumes from (0 for a fresh
    /// start). Records up to this step were made by an earlier run.
    fn resumed(&mut self, step: usize);
    /// Called just before each checkpoint of the state after `step` is written: what must be
    /// resumed with it is saved here. A run killed between the two leaves the older
    /// checkpoint beside this save, which then covers more steps than the checkpoint, never
    /// fewer; [`Observer::resumed`] keeps what led up to the step it resumes from.
    fn checkpointing(&mut self, _step: usize) {}
    /// Called after each checkpoint, which holds the state after `step`.
    fn checkpointed(&mut self, _step: usize) {}
}
