//! Running the real `hypersynth` binary from a per-test temporary folder; a failed check
//! shows the folder's listing and the command's stderr.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A test's own folder, removed at the end.
pub struct TestDir {
    dir: tempfile::TempDir,
}

/// What a finished command printed.
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl TestDir {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temporary folder") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `hypersynth ARGS` in this folder.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    /// `hypersynth ARGS` to run in this folder (for tests that spawn and stop it).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hypersynth"));
        command.args(args).current_dir(self.path()).env_remove("RUST_LOG");
        command
    }

    /// Runs `hypersynth ARGS` with extra environment variables.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        for (k, v) in env {
            command.env(k, v);
        }
        let out = command.output().expect("run hypersynth");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    /// The folder's contents, for failure messages.
    pub fn listing(&self) -> String {
        let mut names: Vec<String> =
            walk(self.path()).iter().map(|p| p.strip_prefix(self.path()).unwrap_or(p).display().to_string()).collect();
        names.sort();
        names.join("\n  ")
    }

    /// Starts a training with `args` and kills it (SIGKILL) as soon as its checkpoint
    /// `checkpoint` appears (within 300 s); no model `model` may look finished then.
    pub fn kill_at_first_checkpoint(&self, args: &[&str], checkpoint: &str, model: &str) {
        let mut child = self.command(args).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        while !self.join(checkpoint).exists() {
            assert!(std::time::Instant::now() < deadline, "no checkpoint appeared\n{}", self.listing());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!self.join(model).exists(), "killed before the end: no model may look finished\n{}", self.listing());
    }

    /// Panics with the listing and stderr unless the command succeeded.
    pub fn ok(&self, out: &Output) {
        assert_eq!(out.code, Some(0), "command failed\nstderr:\n{}\nfolder:\n  {}", out.stderr, self.listing());
    }

    /// Checks a refused command: exit 1, one `error:` line naming `culprit` and holding
    /// `problem`, no panic.
    pub fn refused(&self, out: &Output, culprit: &str, problem: &str) {
        let context = format!("stderr:\n{}\nfolder:\n  {}", out.stderr, self.listing());
        assert_eq!(out.code, Some(1), "{context}");
        let errors: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(errors.len(), 1, "{context}");
        assert!(errors[0].contains(culprit) && errors[0].contains(problem), "expected {culprit:?} and {problem:?}\n{context}");
        assert!(!out.stderr.contains("panicked"), "{context}");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

/// After a training `cut` killed and resumed beside an uninterrupted `whole` one: the
/// metrics logs are identical (the resumed one keeps the history before its checkpoint),
/// both run records list every file the training wrote, and no checkpoint or partial
/// file is left.
pub fn assert_resumed_like_whole(t: &TestDir) {
    let log = |name: &str| std::fs::read_to_string(t.join(name)).unwrap();
    assert_eq!(log("cut.metrics.csv"), log("whole.metrics.csv"), "the resumed metrics log differs from the uninterrupted one");
    for run in ["cut", "whole"] {
        let record = run_json(&t.join(&format!("{run}.run.json")));
        let listed: Vec<String> = record["outputs"].as_array().unwrap().iter().map(|o| o["path"].as_str().unwrap().to_string()).collect();
        for file in [format!("{run}.onnx"), format!("{run}.metrics.csv")] {
            assert!(listed.iter().any(|p| p.ends_with(&file)), "{run}.run.json does not list {file}: {listed:?}");
        }
    }
    let left: Vec<String> =
        t.listing().lines().map(|l| l.trim().to_string()).filter(|l| l.contains("checkpoint") || l.ends_with(".partial")).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Writes `values` as a one-band uint8 COG at `path` on the grid of `like` (a class or
/// damage raster for a test).
pub fn write_uint8_raster(path: &Path, like: &hypersynth_data::CubeMeta, values: &ndarray::Array2<u8>) {
    let meta = hypersynth_data::CubeMeta {
        bands: 1,
        dtype: hypersynth_data::SampleType::UInt8,
        wavelengths_nm: None,
        fwhm_nm: None,
        good_bands: vec![true],
        scale: vec![1.0],
        offset: vec![0.0],
        nodata: None,
        band_names: None,
        ..like.clone()
    };
    let mut writer = hypersynth_data::CogWriter::create(path, &meta, hypersynth_data::Compression::Deflate).unwrap();
    writer.write(meta.full_window(), values.mapv(f32::from).insert_axis(ndarray::Axis(2)).view()).unwrap();
    writer.finish().unwrap();
}

/// The repository's bundled sample folder.
pub fn sample(name: &str) -> String {
    hypersynth_data::fixtures::samples_dir().join("salinasA").join(name).display().to_string()
}

/// `--cube`, `--labels` and `--classes` of the bundled sample, then `rest`.
pub fn sample_args(rest: &[&str]) -> Vec<String> {
    let sample_files = [("--cube", "salinasA.tif"), ("--labels", "salinasA_gt.tif"), ("--classes", "classes.csv")];
    sample_files.iter().flat_map(|(flag, file)| [flag.to_string(), sample(file)]).chain(rest.iter().map(|s| s.to_string())).collect()
}

/// Runs `gdal_translate -q ARGS INPUT OUTPUT` in `t`'s folder; panics unless it succeeds.
pub fn translate(t: &TestDir, args: &[&str], input: &str, output: &str) {
    let ok = Command::new("gdal_translate")
        .arg("-q")
        .args(args)
        .args([input, output])
        .current_dir(t.path())
        .status()
        .expect("run gdal_translate");
    assert!(ok.success(), "gdal_translate {args:?} {input} {output} failed");
}

/// `gdalinfo -json FILE` (a path relative to `t`'s folder), parsed.
pub fn gdalinfo(t: &TestDir, file: &str) -> serde_json::Value {
    let info = Command::new("gdalinfo").args(["-json", file]).current_dir(t.path()).output().expect("run gdalinfo");
    assert!(info.status.success(), "gdalinfo {file}: {}", String::from_utf8_lossy(&info.stderr));
    serde_json::from_slice(&info.stdout).expect("gdalinfo -json prints JSON")
}

/// A run record (`*.run.json`), parsed.
pub fn run_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read run.json")).expect("run.json is JSON")
}

/// Runs `script` with the Python of the project's virtual environment (made by
/// scripts/setup.sh), a second reader of what hypersynth writes, passing `args` as
/// `sys.argv[1:]`; panics unless it succeeds, and returns its trimmed stdout.
pub fn python_check(script: &str, args: &[&Path]) -> String {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run scripts/setup.sh", python.display());
    let out = Command::new(python).arg("-c").arg(script).args(args).output().expect("run python");
    assert!(out.status.success(), "python check failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The ONNX Runtime library the tests use: the project's `.ort/lib/libonnxruntime.so`
/// (made by scripts/setup.sh).
pub fn ort_library() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ort/lib/libonnxruntime.so")
}

/// Loads ONNX Runtime from [`ort_library`] for tests that open sessions themselves.
pub fn runtime() {
    let search = hypersynth_onnx::RuntimeSearch { candidates: vec![ort_library()], install_hint: "scripts/setup.sh".into() };
    hypersynth_onnx::load_runtime(&search).expect("ONNX Runtime: run scripts/setup.sh");
}
