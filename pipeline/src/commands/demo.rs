//! `hypersynth demo`: the main job on the sample data bundled in the repository.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hypersynth_data::{Compression, CubeSource};

/// The bundled SalinasA sample (see `data/samples/README.md`).
pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/samples/salinasA")
}

/// Shows the sample cube's metadata and converts it to a COG in `out`.
pub fn run(out: &Path) -> Result<()> {
    let cube = CubeSource::file(sample_dir().join("salinasA.tif"));
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create the output folder", out.display()))?;
    println!("== hypersynth info {}", cube.path.display());
    let labels = super::info::Labels { raster: sample_dir().join("salinasA_gt.tif"), names: Some(sample_dir().join("classes.csv")) };
    super::info::run(&cube, Some(&labels), false)?;
    let cog = out.join("salinasA_cog.tif");
    println!("\n== hypersynth convert {} {}", cube.path.display(), cog.display());
    super::convert::run(&cube, &cog, Compression::Deflate, true)?;
    println!("wrote {}", cog.display());
    Ok(())
}
