//! Outputs that appear only when complete: written under a temporary name in the target
//! folder, then renamed into place.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A file being written: a temporary path beside the final one, renamed into place by
/// [`AtomicPath::commit`] and removed if dropped before that.
///
/// The temporary name starts with a dot and ends in `.partial`, so a killed run leaves
/// nothing that looks finished.
#[derive(Debug)]
pub struct AtomicPath {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl AtomicPath {
    /// Prepares to write `target`; fails if its folder does not exist. Temporary files of
    /// the same target left by runs that were killed (their process is gone) are removed.
    pub fn new(target: &Path) -> Result<Self> {
        let folder = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !folder.is_dir() {
            return Err(Error::invalid(target, format!("output folder {} does not exist", folder.display())));
        }
        let name = target.file_name().ok_or_else(|| Error::invalid(target, "output path has no file name"))?.to_string_lossy();
        remove_stale_partials(&folder, &name);
        let temp = folder.join(format!(".{name}.{}.partial", std::process::id()));
        Ok(Self { temp, target: target.to_path_buf(), committed: false })
    }

    /// The temporary path to write to.
    pub fn temp(&self) -> &Path {
        &self.temp
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the finished temporary file to its final name.
    pub fn commit(mut self) -> Result<PathBuf> {
        std::fs::rename(&self.temp, &self.target).map_err(Error::io(&self.target, "rename into place"))?;
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for AtomicPath {
    fn drop(&mut self) {
        if !self.committed {
            // The temporary file may never have been created; nothing to report then.
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Removes `.NAME.PID.partial` files in `folder` whose process no longer runs: what a
/// killed run of the same output left behind. Those of running processes are kept, so two
/// runs never remove each other's work.
fn remove_stale_partials(folder: &Path, name: &str) {
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(folder) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)).and_then(|rest| rest.strip_suffix(".partial")) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if pid != std::process::id() && !process_runs(pid) {
            tracing::debug!("removing {}, left by a run that was stopped", entry.path().display());
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether a process with this id runs on this machine (Linux: it has a `/proc` entry).
fn process_runs(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Writes `bytes` to `target` atomically.
pub fn write_atomically(target: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let out = AtomicPath::new(target)?;
    std::fs::write(out.temp(), bytes).map_err(Error::io(out.temp(), "write"))?;
    out.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_left_when_not_committed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        {
            let out = AtomicPath::new(&target).unwrap();
            std::fs::write(out.temp(), b"half").unwrap();
        }
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn commit_renames_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        write_atomically(&target, b"whole").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn partial_files_of_stopped_runs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.tif");
        // No process has an id above the kernel's maximum (4194304).
        let stale = dir.path().join(".out.tif.99999999.partial");
        // Process 1 always runs.
        let running = dir.path().join(".out.tif.1.partial");
        let other = dir.path().join(".other.tif.99999999.partial");
        for path in [&stale, &running, &other] {
            std::fs::write(path, b"half").unwrap();
        }
        let _out = AtomicPath::new(&target).unwrap();
        assert!(!stale.exists(), "a stopped run's partial file stays");
        assert!(other.exists(), "another output's partial file was removed");
        assert!(running.exists(), "a running process's partial file was removed");
    }

    #[test]
    fn missing_folder_is_an_error() {
        let err = AtomicPath::new(Path::new("/no/such/folder/out.tif")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
