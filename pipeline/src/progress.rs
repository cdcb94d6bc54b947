//! Progress bars for long work (hidden when stderr is not a terminal or with `--quiet`).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting `total` `unit`s, prefixed by `what`.
pub fn bar(total: u64, what: &str, unit: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = format!("{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}} ({{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(what.to_string());
    if crate::QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}

/// A spinner saying `what` is under way, for work without countable steps.
pub fn spinner(what: &str) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(what.to_string());
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    if crate::QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        spinner.set_draw_target(ProgressDrawTarget::hidden());
    }
    spinner
}

/// A training record as the metrics log writes it.
pub trait LogLine {
    /// The step the record is for.
    fn step(&self) -> usize;
    /// Its line of the CSV log, in the order of the log's header.
    fn csv(&self) -> String;
    /// What the progress bar shows beside it.
    fn message(&self) -> String;
}

/// A training's progress bar and its metrics log: a CSV file with one line per record,
/// written when the training ends. Each checkpoint snapshots the lines so far beside it,
/// so that a resumed training's log holds the whole history, not just what came after
/// the checkpoint.
pub struct TrainingLog {
    bar: ProgressBar,
    header: String,
    files: TrainingFiles,
    lines: Vec<(usize, String)>,
}

impl TrainingLog {
    /// A log with the CSV `header` for the training whose files are `files`, over `steps` steps.
    pub fn new(files: &TrainingFiles, steps: usize, header: &str) -> Self {
        Self { bar: bar(steps as u64, "training", "steps"), header: header.to_string(), files: files.clone(), lines: Vec::new() }
    }

    fn text(&self) -> String {
        let mut text = format!("{}\n", self.header);
        for (_, line) in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Clears the bar and writes the log (atomically); returns its path.
    pub fn finish(self) -> anyhow::Result<std::path::PathBuf> {
        self.bar.finish_and_clear();
        Ok(hypersynth_data::write_atomically(&self.files.metrics, self.text().as_bytes())?)
    }
}

impl<R: LogLine> hypersynth_models::observe::Observer<R> for TrainingLog {
    fn record(&mut self, record: &R) {
        self.lines.push((record.step(), record.csv()));
        self.bar.set_position(record.step() as u64);
        self.bar.set_message(record.message());
    }

    fn resumed(&mut self, step: usize) {
        if step == 0 {
            return;
        }
        self.bar.set_position(step as u64);
        let snapshot = &self.files.checkpoint_metrics;
        let Ok(text) = std::fs::read_to_string(snapshot) else {
            tracing::warn!("{}: missing; the metrics log starts at step {step}", snapshot.display());
            return;
        };
        // The snapshot was taken at this checkpoint or a later one; keep what led up to it.
        let earlier = text.lines().skip(1).filter_map(|line| Some((line.split(',').next()?.parse::<usize>().ok()?, line.to_string())));
        self.lines = earlier.filter(|(s, _)| *s <= step).collect();
    }

    fn checkpointing(&mut self, _step: usize) {
        // Taken before the checkpoint, so that a kill in between cannot leave a checkpoint
        // without it. A failed snapshot only shortens a resumed run's log; training goes on.
        if let Err(e) = hypersynth_data::write_atomically(&self.files.checkpoint_metrics, self.text().as_bytes()) {
            tracing::warn!("{e}");
        }
    }
}

/// The files a training writes beside its model `M.onnx`.
#[derive(Debug, Clone)]
pub struct TrainingFiles {
    /// `M.onnx` itself.
    pub model: std::path::PathBuf,
    /// `M.checkpoint.safetensors`, the state to resume from.
    pub checkpoint: std::path::PathBuf,
    /// `M.checkpoint.json`, what must match for the checkpoint to be resumed.
    pub checkpoint_meta: std::path::PathBuf,
    /// `M.checkpoint.metrics.csv`, the metrics log up to the checkpoint.
    pub checkpoint_metrics: std::path::PathBuf,
    /// `M.metrics.csv`, the [`TrainingLog`].
    pub metrics: std::path::PathBuf,
    /// `M.run.json`.
    pub run_json: std::path::PathBuf,
}

impl TrainingFiles {
    /// The files beside `model`.
    pub fn beside(model: &std::path::Path) -> Self {
        let stem = model.with_extension("");
        Self {
            model: model.to_path_buf(),
            checkpoint: stem.with_extension("checkpoint.safetensors"),
            checkpoint_meta: stem.with_extension("checkpoint.json"),
            checkpoint_metrics: stem.with_extension("checkpoint.metrics.csv"),
            metrics: stem.with_extension("metrics.csv"),
            run_json: stem.with_extension("run.json"),
        }
    }

    /// Every file a training may write, for the check that none of them lands on an input.
    pub fn all(&self) -> Vec<&std::path::Path> {
        [&self.model, &self.checkpoint, &self.checkpoint_meta, &self.checkpoint_metrics, &self.metrics, &self.run_json]
            .map(|p| p.as_path())
            .to_vec()
    }

    /// Refuses, before any work, a training whose files would land on one of `inputs` or
    /// cannot be written.
    pub fn check(&self, inputs: &[impl AsRef<std::path::Path>]) -> anyhow::Result<()> {
        Ok(hypersynth_data::check_outputs(inputs, &self.all())?)
    }

    /// Removes the checkpoint once the model and its record are written: it served only
    /// to resume this training.
    pub fn remove_checkpoint(&self) {
        hypersynth_models::checkpoint::remove(&self.checkpoint);
        // Absent when no checkpoint was taken; nothing to report then.
        let _ = std::fs::remove_file(&self.checkpoint_metrics);
    }
}
