//! Spectral math and quality metrics for hypersynth: pure functions on spectra, no I/O.
//! Units are stated on each item (wavelengths in nm, reflectance as the cube gives it).
#![deny(missing_docs)]
