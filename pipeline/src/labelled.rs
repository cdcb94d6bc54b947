//! Labelled spectra for training and augmentation: from a cube with a class raster, or from
//! a spectral library or spectra table; bad bands and pixels without data dropped.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use hypersynth_data::{ClassInfo, ClassRaster, Cube, CubeSource, PixelPosition, read_envi_library, read_spectra_table};
use hypersynth_spectral::{Split, SplitConfig, split_rows};
use ndarray::Array2;
use sha2::{Digest, Sha256};

/// Where labelled spectra come from.
#[derive(Debug, Clone)]
pub enum LabelSource {
    /// Cubes, each with a class raster aligned with it (0 = unlabelled), with optional
    /// names; the labelled pixels of every scene are pooled (the scenes must have the
    /// same bands).
    Raster {
        /// The scenes: a cube and its class raster.
        scenes: Vec<(CubeSource, PathBuf)>,
        /// `class_id,name` CSV, for every scene.
        names: Option<PathBuf>,
        /// The `--scenes` CSV the scenes were listed in.
        listed_in: Option<PathBuf>,
    },
    /// An ENVI spectral library with a class table.
    Library {
        /// The `.sli` file.
        sli: PathBuf,
        /// The class table CSV.
        table: PathBuf,
        /// The class column of the table.
        column: Option<String>,
    },
    /// A CSV or Parquet spectra table.
    Table(PathBuf),
}

impl LabelSource {
    /// The files the source reads (for the check that no output replaces one of them),
    /// an ENVI library's header included.
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            Self::Raster { scenes, names, listed_in } => {
                let mut files: Vec<PathBuf> = Vec::new();
                let listed = scenes.iter().flat_map(|(cube, labels)| cube.files().into_iter().chain([labels.clone()]));
                for file in listed.chain(names.clone()).chain(listed_in.clone()) {
                    // Every scene may name the same band table.
                    if !files.contains(&file) {
                        files.push(file);
                    }
                }
                files
            }
            Self::Library { sli, table, .. } => vec![sli.clone(), sli.with_extension("hdr"), table.clone()],
            Self::Table(path) => vec![path.clone()],
        }
    }
}

/// Labelled spectra of the good bands, in physical units.
#[derive(Debug, Clone)]
pub struct Labelled {
    /// `[n, good bands]`.
    pub spectra: Array2<f32>,
    /// Class id per row.
    pub labels: Vec<u32>,
    /// Where each row came from: `row * cols + col` of its cube (plus the scene's number
    /// times 2^40 from the second scene on), or the library row.
    pub ids: Vec<u64>,
    /// Each row's pixel (row, column) in its cube, rows of the k-th scene offset by k x
    /// 2^32 so that no block spans two scenes; `None` for library and table rows.
    pub positions: Option<Vec<(usize, usize)>>,
    /// The classes present.
    pub classes: Vec<ClassInfo>,
    /// Wavelengths of the kept bands, nm.
    pub wavelengths_nm: Vec<f64>,
    /// 1-based numbers of the bad bands that were dropped.
    pub dropped_bands: Vec<usize>,
    /// Labelled pixels dropped because they hold no data.
    pub dropped_pixels: usize,
    /// Classes taken out by [`Labelled::leave_out`].
    pub left_out_classes: Vec<ClassInfo>,
    /// The input files.
    pub inputs: Vec<PathBuf>,
}

impl Labelled {
    /// A fingerprint of the spectra and labels (SHA-256, hex).
    pub fn fingerprint(&self) -> String {
        self.fingerprint_of(&self.classes.iter().map(|c| c.id).collect::<Vec<_>>())
    }

    /// A fingerprint of the spectra and labels of the classes `ids` only: that of data
    /// which hold these rows alone (what a model of these classes was made from).
    pub fn fingerprint_of(&self, ids: &[u32]) -> String {
        let rows: Vec<usize> = (0..self.labels.len()).filter(|&r| ids.contains(&self.labels[r])).collect();
        let mut hash = Sha256::new();
        for &r in &rows {
            for v in self.spectra.row(r) {
                hash.update(v.to_le_bytes());
            }
        }
        for &r in &rows {
            hash.update(self.labels[r].to_le_bytes());
        }
        crate::run_record::to_hex(&hash.finalize())
    }

    /// Takes the classes `ids` and their rows out, and records them in
    /// [`Labelled::left_out_classes`].
    pub fn leave_out(&mut self, ids: &[u32]) {
        let keep: Vec<usize> = (0..self.labels.len()).filter(|&r| !ids.contains(&self.labels[r])).collect();
        self.spectra = self.spectra.select(ndarray::Axis(0), &keep);
        self.labels = keep.iter().map(|&r| self.labels[r]).collect();
        self.ids = keep.iter().map(|&r| self.ids[r]).collect();
        if let Some(positions) = &mut self.positions {
            *positions = keep.iter().map(|&r| positions[r]).collect();
        }
        let (out, kept): (Vec<ClassInfo>, Vec<ClassInfo>) = self.classes.drain(..).partition(|c| ids.contains(&c.id));
        self.classes = kept;
        self.left_out_classes.extend(out);
    }

    /// The rows of each split as `config` says (by spatial blocks only for spectra from a
    /// cube, whose pixel positions are known).
    pub fn split(&self, config: &SplitConfig) -> Result<Split> {
        let source = self.inputs.first().map_or_else(String::new, |p| p.display().to_string());
        split_rows(&self.labels, self.positions.as_deref(), config).map_err(|e| anyhow::anyhow!("{source}: {e}"))
    }

    /// The pixel that `row` of the spectra was read from: its scene, row and column; `None`
    /// for library and table rows.
    pub fn pixel(&self, row: usize) -> Option<PixelPosition> {
        let &(r, col) = self.positions.as_ref()?.get(row)?;
        let scene = r >> SCENE_ROW_SHIFT;
        Some(PixelPosition { scene: scene as u32, row: (r - (scene << SCENE_ROW_SHIFT)) as u32, col: col as u32 })
    }

    /// The name of class `id`.
    pub fn class_name(&self, id: u32) -> &str {
        self.classes.iter().find(|c| c.id == id).map_or("", |c| c.name.as_str())
    }

    /// Gives the classes whose labels came without a name (`class_ID`) the name `named`
    /// has for their id (a model card's classes, say).
    pub fn name_unnamed<'a>(&mut self, named: impl IntoIterator<Item = (u32, &'a str)>) {
        let named: std::collections::BTreeMap<u32, &str> = named.into_iter().collect();
        for class in &mut self.classes {
            if class.name == format!("class_{}", class.id)
                && let Some(name) = named.get(&class.id)
            {
                class.name = (*name).to_string();
            }
        }
    }
}

/// Reads labelled spectra from `source`.
pub fn load(source: &LabelSource) -> Result<Labelled> {
    match source {
        LabelSource::Raster { scenes, names, listed_in } => {
            let mut pooled = from_rasters(scenes, names.as_deref())?;
            pooled.inputs.extend(listed_in.clone());
            Ok(pooled)
        }
        LabelSource::Library { sli, table, column } => {
            let lib = read_envi_library(sli, Some(table), column.as_deref())?;
            from_library(lib, vec![sli.clone(), table.clone()])
        }
        LabelSource::Table(path) => from_library(read_spectra_table(path)?, vec![path.clone()]),
    }
}

/// The k-th scene's offsets of pixel ids and of position rows.
const SCENE_ID_SHIFT: u32 = 40;
const SCENE_ROW_SHIFT: u32 = 32;

/// Pools the labelled pixels of `scenes` (cube and class raster each): every cube must
/// have the first one's good bands.
fn from_rasters(scenes: &[(CubeSource, PathBuf)], names: Option<&Path>) -> Result<Labelled> {
    let Some(((first_cube, first_labels), rest)) = scenes.split_first() else { bail!("no scene given") };
    let mut pooled = from_raster(first_cube, first_labels, names)?;
    for (k, (cube, labels)) in rest.iter().enumerate() {
        let k = k + 1;
        let scene = from_raster(cube, labels, names)?;
        if scene.wavelengths_nm != pooled.wavelengths_nm || scene.dropped_bands != pooled.dropped_bands {
            bail!(
                "{}: its good bands ({} of them) differ from those of {} ({}); every scene needs the same bands",
                cube.path.display(),
                scene.wavelengths_nm.len(),
                first_cube.path.display(),
                pooled.wavelengths_nm.len()
            );
        }
        pooled.spectra.append(ndarray::Axis(0), scene.spectra.view())?;
        pooled.labels.extend(scene.labels);
        pooled.ids.extend(scene.ids.iter().map(|id| id + ((k as u64) << SCENE_ID_SHIFT)));
        if let (Some(all), Some(more)) = (&mut pooled.positions, scene.positions) {
            all.extend(more.into_iter().map(|(r, c)| (r + (k << SCENE_ROW_SHIFT), c)));
        }
        for class in scene.classes {
            if !pooled.classes.iter().any(|c| c.id == class.id) {
                pooled.classes.push(class);
            }
        }
        pooled.classes.sort_by_key(|c| c.id);
        pooled.dropped_pixels += scene.dropped_pixels;
        for input in scene.inputs {
            // Every scene may name the same band table.
            if !pooled.inputs.contains(&input) {
                pooled.inputs.push(input);
            }
        }
    }
    if scenes.len() > 1 {
        tracing::info!("pooled {} labelled pixels of {} scenes", pooled.labels.len(), scenes.len());
    }
    Ok(pooled)
}

fn from_raster(source: &CubeSource, labels: &Path, names: Option<&Path>) -> Result<Labelled> {
    let cube = Cube::open_source(source)?;
    let meta = cube.meta();
    let Some(wavelengths) = meta.wavelengths_nm.clone() else {
        bail!("{}: the cube states no wavelengths; hypersynth needs them to describe its spectra", meta.path.display());
    };
    let raster = ClassRaster::read(labels, meta, names)?;
    let good: Vec<usize> = (0..meta.bands).filter(|&b| meta.good_bands[b]).collect();
    let mut values = Vec::new();
    let (mut labels_out, mut ids, mut positions) = (Vec::new(), Vec::new(), Vec::new());
    let mut dropped_pixels = 0;
    for block in cube.blocks(64) {
        let block = block?;
        for r in 0..block.window.rows {
            for c in 0..block.window.cols {
                let (row, col) = (block.window.row + r, block.window.col + c);
                let label = raster.ids[[row, col]];
                if label == 0 {
                    continue;
                }
                if !block.valid[[r, c]] {
                    dropped_pixels += 1;
                    continue;
                }
                for &b in &good {
                    let v = block.data[[r, c, b]];
                    if !v.is_finite() {
                        bail!(
                            "{}: value {v} at row {row}, column {col}, band {} is not a number and not the nodata value",
                            meta.path.display(),
                            b + 1
                        );
                    }
                    values.push(v);
                }
                labels_out.push(label);
                ids.push((row * meta.cols + col) as u64);
                positions.push((row, col));
            }
        }
    }
    if dropped_pixels > 0 {
        tracing::info!("dropped {dropped_pixels} labelled pixels without data");
    }
    let spectra = Array2::from_shape_vec((labels_out.len(), good.len()), values)?;
    Ok(Labelled {
        spectra,
        labels: labels_out,
        ids,
        positions: Some(positions),
        classes: raster.classes,
        wavelengths_nm: good.iter().map(|&b| wavelengths[b]).collect(),
        dropped_bands: (1..=meta.bands).filter(|&b| !meta.good_bands[b - 1]).collect(),
        dropped_pixels,
        left_out_classes: Vec::new(),
        inputs: [meta.path.clone(), labels.to_path_buf()].into_iter().chain(source.wavelengths.clone()).collect(),
    })
}

fn from_library(lib: hypersynth_data::SpectralLibrary, inputs: Vec<PathBuf>) -> Result<Labelled> {
    let Some(wavelengths) = lib.wavelengths_nm.clone() else {
        bail!("{}: the library states no wavelengths", lib.path.display());
    };
    let keep: Vec<usize> = (0..lib.labels.len()).filter(|&i| lib.labels[i] != 0).collect();
    if let Some(&row) = keep.iter().find(|&&i| lib.spectra.row(i).iter().any(|v| !v.is_finite())) {
        bail!("{}: spectrum {:?} holds a value that is not a number", lib.path.display(), lib.names[row]);
    }
    Ok(Labelled {
        spectra: lib.spectra.select(ndarray::Axis(0), &keep),
        labels: keep.iter().map(|&i| lib.labels[i]).collect(),
        ids: keep.iter().map(|&i| i as u64).collect(),
        positions: None,
        classes: lib.classes,
        wavelengths_nm: wavelengths,
        dropped_bands: Vec::new(),
        dropped_pixels: 0,
        left_out_classes: Vec::new(),
        inputs,
    })
}

/// Wavelengths of two sources may differ by this much (nm) and still be the same band.
pub(crate) const WAVELENGTH_TOLERANCE_NM: f64 = 0.01;

/// Refuses `path` unless its wavelengths equal `expected` band for band.
pub fn check_same_bands(path: &Path, found: &[f64], expected: &[f64], what: &str) -> Result<()> {
    let same = found.len() == expected.len() && found.iter().zip(expected).all(|(a, b)| (a - b).abs() <= WAVELENGTH_TOLERANCE_NM);
    if !same {
        let describe = |w: &[f64]| match (w.first(), w.last()) {
            (Some(a), Some(b)) => format!("{} bands, {a:.2}..{b:.2} nm", w.len()),
            _ => "no bands".into(),
        };
        bail!("{}: its bands ({}) differ from {what} ({})", path.display(), describe(found), describe(expected));
    }
    Ok(())
}
