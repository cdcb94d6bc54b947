//! `run.json`: what a run read, with which settings and software, what it wrote, and how
//! it ended.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A file with its size and SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRecord {
    /// The path as given.
    pub path: PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

impl FileRecord {
    /// Hashes the file at `path` (through GDAL for a `/vsi...` path).
    pub fn of(path: &Path) -> Result<Self> {
        let mut file = hypersynth_data::open_bytes(path)?;
        let mut hash = Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hash.update(&buffer[..n]);
            bytes += n as u64;
        }
        Ok(Self { path: path.to_path_buf(), bytes, sha256: to_hex(&hash.finalize()) })
    }
}

/// The run record of a command that writes one raster `OUT`: `OUT.run.json` beside it
/// (`fuse`'s `DAMAGE.run.json`, `super-resolve`'s `HR.run.json`).
pub fn beside(out: &Path) -> PathBuf {
    out.with_extension("run.json")
}

/// The entries of `details` with those of `more` added (both JSON objects; a later key
/// wins): a command's own `run.json` details beside those a shared step records.
pub fn with_details(mut details: Value, more: Value) -> Value {
    if let (Some(all), Value::Object(more)) = (details.as_object_mut(), more) {
        all.extend(more);
    }
    details
}

/// Lowers the calling thread's priority to the lowest (nice 19), so that work a run needs
/// only by its end (hashing its inputs) takes the cores the run leaves idle instead of
/// competing with the run's reading: `fuse` of the 8 x 8 mosaic 2.55 s against 2.61 s, of
/// the full-size scene 7.05 s against 7.52 s (docs/PERFORMANCE.md). The work is the same,
/// so a run that keeps every core busy takes as long as before. On Linux, where the nice
/// value belongs to the thread; elsewhere nothing.
fn yield_to_the_run() {
    // SAFETY: `setpriority` with `who` 0 changes the calling thread's nice value only; it
    // reads and writes no memory of ours. A failure leaves the priority as it was.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

/// Lower-case hex of a digest.
pub fn to_hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A run being recorded.
#[derive(Debug)]
pub struct RunRecord {
    command: String,
    started_unix: u64,
    clock: Instant,
    /// The inputs being hashed on a thread of their own while the run works (a scene of
    /// gigabytes takes seconds); `None` once joined into `inputs`.
    hashing: Option<std::thread::JoinHandle<Result<Vec<FileRecord>>>>,
    inputs: Vec<FileRecord>,
    parameters: Value,
}

impl RunRecord {
    /// Starts recording `command` on `inputs` with `parameters`; the inputs are hashed in
    /// the background.
    pub fn start(command: &str, inputs: &[PathBuf], parameters: Value) -> Result<Self> {
        let paths = inputs.to_vec();
        let hashing = std::thread::Builder::new()
            .spawn(move || {
                yield_to_the_run();
                paths.iter().map(|p| FileRecord::of(p)).collect()
            })
            .map_err(|e| crate::threads::cannot_start("hashing the inputs", &e))?;
        let hashing = Some(hashing);
        let started_unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Ok(Self { command: command.into(), started_unix, clock: Instant::now(), hashing, inputs: Vec::new(), parameters })
    }

    /// The inputs' records, once their hashing has ended.
    fn inputs(&mut self) -> Result<&[FileRecord]> {
        if let Some(thread) = self.hashing.take() {
            self.inputs = thread.join().map_err(|_| anyhow::anyhow!("the thread hashing the inputs panicked"))??;
        }
        Ok(&self.inputs)
    }

    /// A fingerprint of the inputs: SHA-256 of their hashes, in order.
    pub fn input_fingerprint(&mut self) -> Result<String> {
        let mut hash = Sha256::new();
        for input in self.inputs()? {
            hash.update(input.sha256.as_bytes());
        }
        Ok(to_hex(&hash.finalize()))
    }

    /// Writes the record to `path` (atomically) with the run's outputs and `details`.
    pub fn finish(mut self, path: &Path, outputs: &[PathBuf], details: Value) -> Result<()> {
        let inputs = self.inputs()?.to_vec();
        let outputs: Vec<FileRecord> = outputs.iter().map(|p| FileRecord::of(p)).collect::<Result<_>>()?;
        let record = serde_json::json!({
            "command": self.command,
            "status": "done",
            "hypersynth_version": env!("CARGO_PKG_VERSION"),
            "started_unix": self.started_unix,
            "seconds": self.clock.elapsed().as_secs_f64(),
            "inputs": inputs,
            "parameters": self.parameters,
            "outputs": outputs,
            "details": details,
        });
        hypersynth_data::write_atomically(path, serde_json::to_string_pretty(&record)?.as_bytes())?;
        Ok(())
    }
}
