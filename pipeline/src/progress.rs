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

/// A training's progress bar and its metrics log: a CSV file with one line per report.
pub struct TrainingLog {
    bar: ProgressBar,
    csv: std::io::BufWriter<std::fs::File>,
}

impl TrainingLog {
    /// Creates the log at `path` with the CSV `header`, for `steps` steps.
    pub fn new(path: &std::path::Path, steps: usize, header: &str) -> anyhow::Result<Self> {
        use std::io::Write as _;
        let file = std::fs::File::create(path).map_err(|e| anyhow::anyhow!("{}: cannot create ({e})", path.display()))?;
        let mut csv = std::io::BufWriter::new(file);
        writeln!(csv, "{header}")?;
        Ok(Self { bar: bar(steps as u64, "training", "steps"), csv })
    }

    /// Logs `line` for `step` and shows `message` on the bar.
    pub fn record(&mut self, step: usize, line: &str, message: String) {
        use std::io::Write as _;
        // A full disk shows up when the file is committed; the training goes on meanwhile.
        let _ = writeln!(self.csv, "{line}");
        self.bar.set_position(step as u64);
        self.bar.set_message(message);
    }

    /// Clears the bar and flushes the log.
    pub fn finish(mut self) -> anyhow::Result<()> {
        use std::io::Write as _;
        self.bar.finish_and_clear();
        self.csv.flush()?;
        Ok(())
    }
}

/// The files a training writes beside its model `M.onnx`.
#[derive(Debug, Clone)]
pub struct TrainingFiles {
    /// `M.checkpoint.safetensors` (with `M.checkpoint.json`).
    pub checkpoint: std::path::PathBuf,
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
            checkpoint: stem.with_extension("checkpoint.safetensors"),
            metrics: stem.with_extension("metrics.csv"),
            run_json: stem.with_extension("run.json"),
        }
    }
}
