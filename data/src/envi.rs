//! ENVI header (`.hdr`) parsing, for spectral libraries, which GDAL does not read.

use std::collections::BTreeMap;
use std::path::Path;

use crate::{Error, Result};

/// An ENVI header: lower-cased keys with their raw values (braces removed for lists).
#[derive(Debug, Clone, Default)]
pub struct EnviHeader {
    fields: BTreeMap<String, String>,
}

impl EnviHeader {
    /// Reads and parses the header at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        crate::error::ensure_exists(path)?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut crate::vsi::open_bytes(path)?, &mut text).map_err(Error::io(path, "read ENVI header"))?;
        Self::parse(&text).map_err(|problem| Error::invalid(path, problem))
    }

    /// Parses header text. Values in braces may span lines.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut lines = text.lines();
        if lines.next().map(str::trim) != Some("ENVI") {
            return Err("not an ENVI header (the first line is not \"ENVI\")".into());
        }
        let mut fields = BTreeMap::new();
        while let Some(line) = lines.next() {
            let Some((key, value)) = line.split_once('=') else { continue };
            let mut value = value.trim().to_string();
            if value.starts_with('{') {
                while !value.contains('}') {
                    let Some(more) = lines.next() else {
                        return Err(format!("unclosed brace in the value of {:?}", key.trim()));
                    };
                    value.push('\n');
                    value.push_str(more);
                }
                value = value.trim().trim_start_matches('{').trim_end_matches('}').trim().to_string();
            }
            fields.insert(key.trim().to_ascii_lowercase(), value);
        }
        Ok(Self { fields })
    }

    /// The raw value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(&key.to_ascii_lowercase()).map(String::as_str)
    }

    /// `key` as an integer.
    pub fn integer(&self, key: &str) -> Option<usize> {
        self.get(key)?.trim().parse().ok()
    }

    /// `key` as a comma-separated list of strings, each trimmed.
    pub fn strings(&self, key: &str) -> Option<Vec<String>> {
        Some(self.get(key)?.split(',').map(|s| s.trim().to_string()).collect())
    }

    /// `key` as a comma-separated list of numbers.
    pub fn numbers(&self, key: &str) -> Option<Vec<f64>> {
        self.get(key)?.split(',').map(|s| s.trim().parse::<f64>().ok()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_may_span_lines() {
        let h = EnviHeader::parse("ENVI\nsamples = 3\nwavelength = {\n 0.4, 0.5,\n 0.6}\nspectra names = { a , b }\n").unwrap();
        assert_eq!(h.integer("SAMPLES"), Some(3));
        assert_eq!(h.numbers("wavelength"), Some(vec![0.4, 0.5, 0.6]));
        assert_eq!(h.strings("spectra names"), Some(vec!["a".to_string(), "b".to_string()]));
    }

    #[test]
    fn rejects_non_headers() {
        assert!(EnviHeader::parse("hello\n").is_err());
        assert!(EnviHeader::parse("ENVI\nwavelength = { 1, 2\n").is_err());
    }
}
