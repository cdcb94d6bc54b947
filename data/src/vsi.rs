//! GDAL's virtual file systems (`/vsicurl/`, `/vsis3/`, `/vsigs/`, `/vsiaz/`, `/vsizip/`,
//! ...): such a path goes to GDAL as it is, never to the local disk, and its bytes can be
//! read through GDAL (to hash an input for `run.json`, say).

use std::ffi::CString;
use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// Whether `path` names a file in one of GDAL's virtual file systems (it starts with
/// `/vsi`): it is opened by GDAL as it is, not looked for on the local disk.
pub fn is_virtual(path: &Path) -> bool {
    path.to_str().is_some_and(|p| p.starts_with("/vsi"))
}

/// A reader of the bytes of `path`: the local file, or through GDAL's virtual file systems
/// for a `/vsi...` path.
pub fn open_bytes(path: &Path) -> Result<Box<dyn Read + Send>> {
    if !is_virtual(path) {
        return Ok(Box::new(std::fs::File::open(path).map_err(Error::io(path, "open"))?));
    }
    let name = CString::new(path.to_string_lossy().as_bytes()).map_err(|_| Error::invalid(path, "path holds a NUL byte"))?;
    // SAFETY: both strings are NUL-terminated and outlive the call.
    let handle = unsafe { gdal_sys::VSIFOpenL(name.as_ptr(), c"rb".as_ptr()) };
    if handle.is_null() {
        return Err(Error::invalid(path, format!("GDAL cannot open it: {}", last_gdal_error())));
    }
    Ok(Box::new(VsiFile { handle, path: path.to_path_buf() }))
}

/// GDAL's last error message, or a note that it gave none.
fn last_gdal_error() -> String {
    // SAFETY: GDAL returns a pointer to its thread-local, NUL-terminated message.
    let message = unsafe { std::ffi::CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()) }.to_string_lossy().into_owned();
    if message.is_empty() { "no such file".into() } else { message }
}

/// An open file of a GDAL virtual file system.
struct VsiFile {
    handle: *mut gdal_sys::VSILFILE,
    path: std::path::PathBuf,
}

// SAFETY: the handle is used by one thread at a time (the reader is moved, never shared),
// which GDAL's VSI layer allows.
unsafe impl Send for VsiFile {}

impl Read for VsiFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // SAFETY: `buf` holds `buf.len()` writable bytes; the handle is open until drop.
        let n = unsafe { gdal_sys::VSIFReadL(buf.as_mut_ptr().cast(), 1, buf.len(), self.handle) };
        // A short read before the end of the file is an error. SAFETY: the handle is open.
        if n < buf.len() && !buf.is_empty() && unsafe { gdal_sys::VSIFEofL(self.handle) } == 0 {
            return Err(std::io::Error::other(format!("{}: {}", self.path.display(), last_gdal_error())));
        }
        Ok(n)
    }
}

impl Drop for VsiFile {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by VSIFOpenL and is closed once.
        unsafe { gdal_sys::VSIFCloseL(self.handle) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_paths_are_read_through_gdal_and_local_ones_from_disk() {
        assert!(is_virtual(Path::new("/vsicurl/http://127.0.0.1/a.tif")) && is_virtual(Path::new("/vsizip//tmp/a.zip/a.tif")));
        assert!(!is_virtual(Path::new("/tmp/vsi.tif")) && !is_virtual(Path::new("vsi/a.tif")));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.bin");
        std::fs::write(&file, b"hypersynth").unwrap();
        let read = |path: &Path| {
            let mut bytes = Vec::new();
            open_bytes(path).unwrap().read_to_end(&mut bytes).unwrap();
            bytes
        };
        assert_eq!(read(&file), b"hypersynth");
        let through_gdal = format!("/vsisubfile/5_5,{}", file.display());
        assert_eq!(read(Path::new(&through_gdal)), b"synth");
        let missing = open_bytes(Path::new("/vsimem/missing.bin")).err().unwrap().to_string();
        assert!(missing.starts_with("/vsimem/missing.bin: GDAL cannot open it"), "{missing}");
    }
}
