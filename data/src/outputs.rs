//! The check every command makes before it starts work: no output may land on an input,
//! and every output must be writable where it is named.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Refuses, before any work, outputs that would replace an input or could not be written.
///
/// Every path in `outputs` (products and side files alike) is checked against every path
/// in `inputs`: the same file reached through another spelling (`./`, `..`, a symbolic
/// link) or through a hard link is refused. An output must not be an existing folder, its
/// folder must exist and take new files, and two outputs must not be the same file.
/// Inputs that are not local files (GDAL's `/vsi…` paths, missing files) cannot be
/// replaced and are skipped.
pub fn check_outputs(inputs: &[impl AsRef<Path>], outputs: &[impl AsRef<Path>]) -> Result<()> {
    let inputs: Vec<Identity> = inputs.iter().filter_map(|p| Identity::of_existing(p.as_ref())).collect();
    let mut seen: Vec<(Identity, &Path)> = Vec::with_capacity(outputs.len());
    let mut probed: Vec<PathBuf> = Vec::new();
    for out in outputs {
        let out = out.as_ref();
        if out.is_dir() {
            return Err(Error::invalid(out, "output is a folder; name a file"));
        }
        let folder = folder_of(out);
        if !folder.is_dir() {
            return Err(Error::invalid(out, format!("output folder {} does not exist", folder.display())));
        }
        let identity = Identity::of_output(out, &folder)?;
        if inputs.iter().any(|input| input.same_file(&identity)) {
            return Err(Error::invalid(out, "output would replace an input; name another output"));
        }
        if let Some((_, earlier)) = seen.iter().find(|(other, _)| other.same_file(&identity)) {
            return Err(Error::invalid(out, format!("output is the same file as the output {}", earlier.display())));
        }
        if !probed.contains(&identity.canonical_folder) {
            probe_writable(&folder, out)?;
            probed.push(identity.canonical_folder.clone());
        }
        seen.push((identity, out));
    }
    Ok(())
}

/// [`check_outputs`] for a command that writes into an output folder: `names` are the
/// files it writes there (relative paths), and a name ending in `/` is a subfolder it
/// fills, inside which no input may lie. The folder need not exist yet (nothing inside
/// it can be an input then); when it exists it must be a folder that takes new files.
pub fn check_output_folder(inputs: &[impl AsRef<Path>], folder: &Path, names: &[&str]) -> Result<()> {
    if folder.exists() && !folder.is_dir() {
        return Err(Error::invalid(folder, "the output folder is a file; name a folder"));
    }
    if !folder.is_dir() {
        return Ok(());
    }
    let (subfolders, files): (Vec<&str>, Vec<&str>) = names.iter().partition(|n| n.ends_with('/'));
    for sub in subfolders {
        let Ok(sub) = std::fs::canonicalize(folder.join(sub)) else { continue };
        if let Some(input) = inputs.iter().find(|p| std::fs::canonicalize(p.as_ref()).is_ok_and(|c| c.starts_with(&sub))) {
            return Err(Error::invalid(
                input.as_ref(),
                format!("input lies in {}, which this command writes; move it or name another output folder", sub.display()),
            ));
        }
    }
    let files: Vec<PathBuf> = files.iter().map(|n| folder.join(n)).collect();
    check_outputs(inputs, &files)
}

/// The folder `path` is written into (`.` for a bare file name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates and removes a file in `folder`, so that a read-only folder is found before work.
fn probe_writable(folder: &Path, out: &Path) -> Result<()> {
    let probe = folder.join(format!(".hypersynth-write-test.{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(Error::invalid(out, format!("cannot write into {} ({e})", folder.display()))),
    }
}

/// What makes two paths the same file: the canonical path, and for existing files the
/// device and inode (which hard links share).
#[derive(Debug, Clone, PartialEq)]
struct Identity {
    canonical: PathBuf,
    canonical_folder: PathBuf,
    inode: Option<(u64, u64)>,
}

impl Identity {
    fn of_existing(path: &Path) -> Option<Self> {
        let canonical = std::fs::canonicalize(path).ok()?;
        let canonical_folder = canonical.parent().map(Path::to_path_buf).unwrap_or_default();
        Some(Self { inode: inode(&canonical), canonical, canonical_folder })
    }

    /// An output, which need not exist yet: its folder resolved, its name kept. An existing
    /// output that is a symbolic link resolves to what it points at (writing replaces that).
    fn of_output(path: &Path, folder: &Path) -> Result<Self> {
        if let Some(existing) = Self::of_existing(path) {
            return Ok(existing);
        }
        let canonical_folder = std::fs::canonicalize(folder).map_err(Error::io(folder, "resolve the output folder"))?;
        let name = path.file_name().ok_or_else(|| Error::invalid(path, "output path has no file name"))?;
        Ok(Self { canonical: canonical_folder.join(name), canonical_folder, inode: None })
    }

    fn same_file(&self, other: &Identity) -> bool {
        self.canonical == other.canonical || (self.inode.is_some() && self.inode == other.inode)
    }
}

#[cfg(unix)]
fn inode(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn inode(_: &Path) -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(inputs: &[impl AsRef<Path>], outputs: &[impl AsRef<Path>], problem: &str) {
        let err = check_outputs(inputs, outputs).expect_err("must be refused").to_string();
        assert!(err.contains(problem), "{err}");
    }

    #[test]
    fn an_output_on_an_input_is_refused_however_it_is_spelled() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("gt.tif");
        std::fs::write(&input, b"labels").unwrap();
        let dotted = dir.path().join(".").join("gt.tif");
        refused(&[&input], &[&dotted], "would replace an input");
        let link = dir.path().join("link.tif");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        refused(&[&input], &[&link], "would replace an input");
        refused(&[&link], &[&input], "would replace an input");
        let hard = dir.path().join("hard.tif");
        std::fs::hard_link(&input, &hard).unwrap();
        refused(&[&input], &[&hard], "would replace an input");
        assert_eq!(std::fs::read(&input).unwrap(), b"labels");
    }

    #[test]
    fn folders_missing_folders_and_twin_outputs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        refused(&[] as &[&Path], &[dir.path()], "output is a folder");
        let none: [&Path; 0] = [];
        refused(&none, &[&dir.path().join("no/such/out.tif")], "does not exist");
        let a = dir.path().join("a.tif");
        refused(&none, &[&a, &dir.path().join("./a.tif")], "same file as the output");
    }

    #[test]
    fn an_output_folder_holding_an_input_where_it_writes_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let table = dir.path().join("synthetic.parquet");
        std::fs::write(&table, b"spectra").unwrap();
        let err = check_output_folder(&[&table], dir.path(), &["synthetic.parquet", "report/"]).unwrap_err().to_string();
        assert!(err.contains("would replace an input"), "{err}");
        std::fs::create_dir(dir.path().join("report")).unwrap();
        let inside = dir.path().join("report/metrics.csv");
        std::fs::write(&inside, b"x").unwrap();
        let err = check_output_folder(&[&inside], dir.path(), &["run.json", "report/"]).unwrap_err().to_string();
        assert!(err.contains("which this command writes"), "{err}");
        check_output_folder(&[&table], dir.path(), &["run.json", "report/"]).unwrap();
        check_output_folder(&[&table], &dir.path().join("new"), &["synthetic.parquet"]).unwrap();
        let err = check_output_folder(&[] as &[&Path], &table, &["run.json"]).unwrap_err().to_string();
        assert!(err.contains("output folder is a file"), "{err}");
    }

    #[test]
    fn distinct_outputs_in_a_writable_folder_pass_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.tif");
        std::fs::write(&input, b"x").unwrap();
        let (a, b) = (dir.path().join("a.tif"), dir.path().join("a.run.json"));
        check_outputs(&[&input, Path::new("/vsicurl/https://example.invalid/x.tif")], &[&a, &b]).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
