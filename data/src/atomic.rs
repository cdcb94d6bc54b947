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
    /// Prepares to write `target`; fails if its folder does not exist.
    pub fn new(target: &Path) -> Result<Self> {
        let folder = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !folder.is_dir() {
            return Err(Error::invalid(target, format!("output folder {} does not exist", folder.display())));
        }
        let name = target.file_name().ok_or_else(|| Error::invalid(target, "output path has no file name"))?.to_string_lossy();
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
    fn missing_folder_is_an_error() {
        let err = AtomicPath::new(Path::new("/no/such/folder/out.tif")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
