//! Every format of the real data set that hypersynth reads, checked against values taken
//! with independent tools (gdalinfo / gdallocationinfo, h5dump, the data set's README).

use hypersynth_data::fixtures::{samples_dir, shared_data_dir};
use hypersynth_data::{ClassRaster, Cube, CubeSource, Resampling, ResamplingKernel, SampleType, StoredPlanes, Window, read_envi_library};

macro_rules! shared {
    () => {
        match shared_data_dir() {
            Some(dir) => dir,
            None => return,
        }
    };
}

#[test]
fn salinas_geotiff_envi_and_neon_hdf5_read_identically() {
    let data = shared!();
    let tif = Cube::open(data.join("salinasA/salinasA.tif")).unwrap();
    let envi = Cube::open(data.join("salinasA/salinasA_envi.img")).unwrap();
    let neon = Cube::open(data.join("salinasA/salinasA_neon.h5")).unwrap();
    for cube in [&tif, &envi, &neon] {
        let m = cube.meta();
        assert_eq!((m.rows, m.cols, m.bands), (83, 86, 204), "{}", m.path.display());
        assert_eq!(m.dtype, SampleType::Int16);
        let w = m.wavelengths_nm.as_ref().unwrap();
        // The GeoTIFF and ENVI header round to 0.01 nm; the HDF5 stores float32 centres.
        assert!((w[0] - 400.0).abs() < 1e-9 && (w[203] - 2490.58).abs() < 0.005, "{:?}", (w[0], w[203]));
        for (a, b) in w.iter().zip(tif.meta().wavelengths_nm.as_ref().unwrap()) {
            assert!((a - b).abs() <= 0.005, "{a} vs {b}");
        }
        assert_eq!(m.fwhm_nm.as_ref().unwrap()[0], 10.0);
    }
    // Stored values are identical; only the NEON file declares a scale (Scale_Factor 10000).
    let full = tif.meta().full_window();
    let reference = tif.read_stored(full).unwrap();
    assert_eq!(envi.read_stored(full).unwrap(), reference);
    assert_eq!(neon.read_stored(full).unwrap(), reference);
    assert_eq!(tif.meta().scale[0], 1.0);
    assert_eq!(neon.meta().scale[0], 1e-4);
    assert_eq!(neon.meta().nodata, Some(-9999.0));
    // A known pixel (row 10, col 20), read with gdallocationinfo: band 1 = 367, band 204 = -1.
    assert_eq!(reference[[10, 20, 0]], 367.0);
    assert_eq!(reference[[10, 20, 203]], -1.0);
    let physical = neon.read(Window { row: 10, col: 20, rows: 1, cols: 1 }).unwrap();
    assert!((physical.data[[0, 0, 0]] - 0.0367).abs() < 1e-7);
}

#[test]
fn blocks_cover_the_scene_and_match_a_whole_read() {
    let cube = Cube::open(samples_dir().join("salinasA/salinasA.tif")).unwrap();
    let whole = cube.read(cube.meta().full_window()).unwrap();
    let mut rows = 0;
    for block in cube.blocks(10) {
        let block = block.unwrap();
        let expected = whole.data.slice(ndarray::s![block.window.row..block.window.row + block.window.rows, .., ..]);
        assert_eq!(block.data, expected);
        rows += block.window.rows;
    }
    assert_eq!(rows, 83);
    assert!(whole.valid.iter().all(|&v| v), "SalinasA has no nodata");
}

/// Whether two blocks hold the same pixels: equal values (NaN where both are NaN) and mask.
fn same_block(a: &hypersynth_data::Block, b: &hypersynth_data::Block) -> bool {
    a.valid == b.valid
        && a.data.shape() == b.data.shape()
        && a.data.iter().zip(b.data.iter()).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

#[test]
fn streamed_windows_cover_the_scene_once_on_block_edges_and_read_as_plain_reads() {
    let mut cubes = vec![Cube::open(samples_dir().join("salinasA/salinasA.tif")).unwrap()];
    if let Some(data) = shared_data_dir() {
        // Nodata, scale and bad bands, in 64 x 64 tiles; raw ENVI lines; HDF5 with a scale.
        cubes.push(Cube::open(data.join("enmap_potsdam/mosaic/enmap_potsdam_mosaic.tif")).unwrap());
        cubes.push(Cube::open(data.join("salinasA/salinasA_envi.img")).unwrap());
        cubes.push(Cube::open(data.join("salinasA/salinasA_neon.h5")).unwrap());
    }
    for cube in &cubes {
        let m = cube.meta();
        let name = m.path.display();
        let mut seen = ndarray::Array2::<u8>::zeros((m.rows, m.cols));
        for w in cube.stream_windows() {
            assert!(w.row % cube.block_rows() == 0 && w.col % cube.read_chunk_cols() == 0, "{name}: {w:?} off the block edges");
            assert!(w.rows * w.cols * m.bands <= hypersynth_data::STREAM_SAMPLES.max(cube.block_rows() * cube.read_chunk_cols() * m.bands));
            seen.slice_mut(ndarray::s![w.row..w.row + w.rows, w.col..w.col + w.cols]).mapv_inplace(|n| n + 1);
            assert!(same_block(&cube.read_once(w).unwrap(), &cube.read(w).unwrap()), "{name}: {w:?} reads differently");
            assert_eq!(cube.read_stored_once(w).unwrap(), cube.read_stored(w).unwrap(), "{name}: {w:?}");
        }
        assert!(seen.iter().all(|&n| n == 1), "{name}: every pixel in exactly one window");
    }
}

#[test]
fn enmap_tiles_carry_scale_nodata_bad_bands_and_georeferencing() {
    let data = shared!();
    let tiles: Vec<_> = std::fs::read_dir(data.join("enmap_potsdam/images")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(tiles.len(), 18);
    let cube = Cube::open(data.join("enmap_potsdam/images/enmap_potsdam_tile_128_0.tif")).unwrap();
    let m = cube.meta();
    assert_eq!((m.rows, m.cols, m.bands), (32, 32, 224));
    let w = m.wavelengths_nm.as_ref().unwrap();
    assert_eq!((w[0], w[223]), (418.24, 2445.53));
    assert!(m.scale.iter().all(|&s| s == 1e-4) && m.offset.iter().all(|&o| o == 0.0));
    assert_eq!(m.nodata, Some(-32768.0));
    let bad: Vec<usize> = m.good_bands.iter().enumerate().filter(|(_, g)| !**g).map(|(i, _)| i + 1).collect();
    assert_eq!(bad, vec![130, 131, 132, 133, 134, 135]);
    assert!(m.georef.crs_wkt.contains("32633"), "{}", m.georef.crs_wkt);
    assert_eq!(m.georef.geotransform, Some([366015.0, 30.0, 0.0, 5809965.0, 0.0, -30.0]));
    // Nodata sits only in the bad bands: every pixel stays valid, those bands become NaN.
    let block = cube.read(m.full_window()).unwrap();
    assert!(block.valid.iter().all(|&v| v));
    assert!(block.data[[7, 5, 129]].is_nan());
    // Pixel (row 7, col 5), by gdallocationinfo: band 1 = 333, band 224 = 879 (x 1e-4).
    assert!((block.data[[7, 5, 0]] - 0.0333).abs() < 1e-7);
    assert!((block.data[[7, 5, 223]] - 0.0879).abs() < 1e-7);
}

#[test]
fn class_rasters_count_and_name_classes() {
    let samples = samples_dir().join("salinasA");
    let cube = Cube::open(samples.join("salinasA.tif")).unwrap();
    let labels = ClassRaster::read(&samples.join("salinasA_gt.tif"), cube.meta(), Some(&samples.join("classes.csv"))).unwrap();
    let counts: Vec<(u32, usize)> = labels.counts().into_iter().collect();
    // The data set's README.
    assert_eq!(counts, vec![(1, 391), (10, 1343), (11, 616), (12, 1525), (13, 674), (14, 799)]);
    assert_eq!(labels.classes[0].name, "Brocoli_green_weeds_1");
    assert_eq!(labels.classes[5].name, "Lettuce_romaine_7wk");
}

#[test]
fn enmap_float_labels_read_as_class_ids_and_misaligned_labels_are_refused() {
    let data = shared!();
    let tile = Cube::open(data.join("enmap_potsdam/images/enmap_potsdam_tile_128_128.tif")).unwrap();
    let labels = ClassRaster::read(
        &data.join("enmap_potsdam/labels/enmap_potsdam_tile_128_128.tif"),
        tile.meta(),
        Some(&data.join("enmap_potsdam/classes.csv")),
    )
    .unwrap();
    // Counted independently with tifffile + numpy.unique.
    let counts: Vec<(u32, usize)> = labels.counts().into_iter().collect();
    assert_eq!(counts, vec![(1, 14), (2, 7), (3, 93), (4, 76), (5, 2), (6, 207)]);
    assert_eq!(labels.classes.last().unwrap().name, "water");

    let salinas = Cube::open(data.join("salinasA/salinasA.tif")).unwrap();
    let err = ClassRaster::read(&data.join("enmap_potsdam/labels/enmap_potsdam_tile_128_128.tif"), salinas.meta(), None).unwrap_err();
    assert!(err.to_string().contains("labels are 32 x 32 pixels"), "{err}");
}

#[test]
fn berlin_library_reads_micrometres_and_json_class_ids() {
    let data = shared!();
    let dir = data.join("enmapbox_berlin_speclib");
    let lib = read_envi_library(&dir.join("library_berlin.sli"), Some(&dir.join("library_berlin.csv")), Some("level_3")).unwrap();
    assert_eq!(lib.spectra.dim(), (75, 177));
    let w = lib.wavelengths_nm.as_ref().unwrap();
    assert!((w[176] - 2409.0).abs() < 1e-6, "last band {} nm", w[176]);
    assert_eq!(lib.names[0], "red clay tile 1");
    let named: Vec<(String, usize)> = lib.classes.iter().map(|c| (c.name.clone(), lib.counts().get(&c.id).copied().unwrap_or(0))).collect();
    // The data set's README: roof 23, pavement 15, low vegetation 18, tree 13, soil 4, water 2.
    let expect = [("roof", 23), ("pavement", 15), ("low vegetation", 18), ("tree", 13), ("soil", 4), ("water", 2)];
    for (name, n) in expect {
        assert!(named.contains(&(name.to_string(), n)), "{name}: {named:?}");
    }
    // Ids come from the EnMAP-Box JSON (roof = 1 ... water = 6).
    assert_eq!(lib.classes.iter().find(|c| c.name == "water").unwrap().id, 6);

    let err = read_envi_library(&dir.join("library_berlin.sli"), Some(&dir.join("library_berlin.csv")), None).unwrap_err();
    assert!(err.to_string().contains("--class-column"), "{err}");
}

#[test]
fn earthlib_library_reads_all_spectra_with_level_2_classes() {
    let data = shared!();
    let dir = data.join("earthlib_speclib");
    let lib = read_envi_library(&dir.join("spectra.sli"), Some(&dir.join("spectra.csv")), Some("LEVEL_2")).unwrap();
    assert_eq!(lib.spectra.dim(), (7261, 180));
    let w = lib.wavelengths_nm.as_ref().unwrap();
    assert!((w[0] - 400.0).abs() < 1e-9 && (w[179] - 2450.0).abs() < 1e-6);
    let counts: Vec<(String, usize)> = lib.classes.iter().map(|c| (c.name.clone(), lib.counts()[&c.id])).collect();
    // Counted with awk over spectra.csv.
    assert_eq!(
        counts,
        vec![("bare".into(), 4248), ("built".into(), 888), ("burned".into(), 21), ("npv".into(), 104), ("vegetation".into(), 2000)]
    );
    assert!(lib.spectra.iter().all(|v| v.is_finite() && *v > -1.0 && *v < 2.0), "reflectance 0-1");
}

#[test]
fn hdf5_named_dataset_with_band_axis_zero() {
    let data = shared!();
    let tif = Cube::open(data.join("salinasA/salinasA.tif")).unwrap();
    let reference = tif.read_stored(tif.meta().full_window()).unwrap();
    // A band-sequential [bands, rows, cols] copy written with the HDF5 library.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bsq.h5");
    let bsq = reference.mapv(|v| v as i16).permuted_axes([2, 0, 1]).as_standard_layout().into_owned();
    let file = hdf5::File::create(&path).unwrap();
    let ds = file.new_dataset_builder().with_data(&bsq).create("cube/data").unwrap();
    ds.new_attr::<f64>().create("scale_factor").unwrap().write_scalar(&0.5).unwrap();
    drop(file);

    let source = CubeSource { path: path.clone(), dataset: Some("cube/data".into()), band_axis: Some(0), wavelengths: None };
    let cube = Cube::open_source(&source).unwrap();
    assert_eq!((cube.meta().rows, cube.meta().cols, cube.meta().bands), (83, 86, 204));
    assert_eq!(cube.read_stored(cube.meta().full_window()).unwrap(), reference);
    assert_eq!(cube.meta().scale[0], 0.5);

    let missing = CubeSource { path, dataset: Some("cube/nope".into()), band_axis: None, wavelengths: None };
    let err = Cube::open_source(&missing).unwrap_err();
    assert!(err.to_string().contains("no dataset \"cube/nope\""), "{err}");
}

/// `read_stored_planes` gives `read_stored`'s values band by band, in the file's own type
/// where it keeps it, at the offset and band spacing asked for: through GDAL's all-band
/// reads (GeoTIFF int16, ENVI, EnMAP float32 with nodata; the EnMAP mosaic's window spans
/// more block columns than one read of two decoding threads takes) and the HDF5 reader.
#[test]
fn stored_planes_hold_the_stored_values_band_by_band() {
    let mut files = vec![samples_dir().join("salinasA/salinasA.tif")];
    if let Some(data) = shared_data_dir() {
        files.push(data.join("salinasA/salinasA_envi.img"));
        files.push(data.join("salinasA/salinasA_neon.h5"));
        let first = std::fs::read_dir(data.join("enmap_potsdam/images")).unwrap().flatten().map(|e| e.path()).min().unwrap();
        files.push(first);
        files.push(data.join("enmap_potsdam/mosaic/enmap_potsdam_mosaic.tif"));
    }
    for file in files {
        let cube = Cube::open(&file).unwrap();
        let m = cube.meta();
        let window = Window { row: 3, col: 5, rows: m.rows - 7, cols: m.cols - 9 };
        let (at, plane) = (11, window.rows * window.cols + 13);
        let mut planes = StoredPlanes::for_type(m.dtype, at + m.bands * plane);
        cube.read_stored_planes(window, &mut planes, at, plane).unwrap();
        let values: Vec<f32> = match &planes {
            StoredPlanes::UInt8(v) => v.iter().map(|&x| f32::from(x)).collect(),
            StoredPlanes::Int16(v) => v.iter().map(|&x| f32::from(x)).collect(),
            StoredPlanes::UInt16(v) => v.iter().map(|&x| f32::from(x)).collect(),
            StoredPlanes::Float32(v) => v.clone(),
        };
        assert_eq!(matches!(planes, StoredPlanes::Int16(_)), m.dtype == SampleType::Int16, "{}", file.display());
        let pixels = cube.read_stored(window).unwrap();
        for ((r, c, b), &v) in pixels.indexed_iter() {
            let got = values[at + b * plane + r * window.cols + c];
            assert!(got == v || (got.is_nan() && v.is_nan()), "{}: ({r}, {c}, {b}) {got} vs {v}", file.display());
        }
        let too_small = StoredPlanes::for_type(m.dtype, (m.bands - 1) * plane + window.rows * window.cols - 1);
        assert!(cube.read_stored_planes(window, &mut too_small.clone(), 0, plane).is_err(), "{}", file.display());
    }
}

/// A cube resampled x2 on the fly equals gdal_translate's cubic resampling, whole and by
/// windows, with the pixel size halved; with Lanczos and a PSF offset it equals
/// gdal_translate's Lanczos over a source window shifted by the offset.
#[test]
fn resampled_cube_matches_gdal_translate_cubic_and_lanczos_with_a_psf_offset() {
    let dir = tempfile::tempdir().unwrap();
    // A georeferenced copy of the sample: 30 m pixels in UTM 33N.
    let path = dir.path().join("source.tif");
    let ok = std::process::Command::new("gdal_translate")
        .args(["-q", "-a_srs", "EPSG:32633", "-a_ullr", "300000", "5800000", "302580", "5797510"])
        .arg(samples_dir().join("salinasA/salinasA.tif"))
        .arg(&path)
        .status()
        .unwrap();
    assert!(ok.success());
    let reference = dir.path().join("x2.tif");
    let ok = std::process::Command::new("gdal_translate")
        .args(["-q", "-ot", "Float32", "-r", "cubic", "-outsize", "200%", "200%"])
        .arg(&path)
        .arg(&reference)
        .status()
        .unwrap();
    assert!(ok.success());
    let fine = Cube::open_resampled(&path, &Resampling::cubic(2)).unwrap();
    let m = fine.meta();
    assert_eq!((m.rows, m.cols, m.bands, m.dtype), (166, 172, 204, SampleType::Float32));
    assert_eq!(m.wavelengths_nm, Cube::open(&path).unwrap().meta().wavelengths_nm);
    assert_eq!(m.georef.geotransform.unwrap(), [300000.0, 15.0, 0.0, 5800000.0, 0.0, -15.0]);
    assert_eq!(m.georef.crs_wkt, Cube::open(&path).unwrap().meta().georef.crs_wkt);
    let expected = Cube::open(&reference).unwrap().read_stored(m.full_window()).unwrap();
    let whole = fine.read_stored(m.full_window()).unwrap();
    let worst = (&whole - &expected).mapv(f32::abs).fold(0f32, |a, &b| a.max(b));
    assert!(worst < 1e-2, "max |on the fly - gdal_translate| = {worst}");
    let window = Window { row: 37, col: 50, rows: 40, cols: 33 };
    let part = fine.read_stored(window).unwrap();
    let same = whole.slice(ndarray::s![37..77, 50..83, ..]);
    let worst = (&part - &same).mapv(f32::abs).fold(0f32, |a, &b| a.max(b));
    assert!(worst < 1e-2, "max |window - whole| = {worst}");
    assert!(Cube::open_resampled(samples_dir().join("salinasA/salinasA_gt.tif"), &Resampling::cubic(0)).is_err());

    // Lanczos, with the coarse values placed half a fine pixel up and right of their
    // blocks' centres: GDAL's own window shifted by a quarter of a coarse pixel.
    let shifted = dir.path().join("x2_shifted.tif");
    let ok = std::process::Command::new("gdal_translate")
        .args(["-q", "-ot", "Float32", "-r", "lanczos", "-srcwin", "-0.25", "0.25", "86", "83", "-outsize", "172", "166"])
        .arg(&path)
        .arg(&shifted)
        .status()
        .unwrap();
    assert!(ok.success());
    let how = Resampling::cubic(2).with_kernel(ResamplingKernel::Lanczos).with_psf_offset([-0.5, 0.5]);
    let fine = Cube::open_resampled(&path, &how).unwrap();
    let whole = fine.read_stored(m.full_window()).unwrap();
    let expected = Cube::open(&shifted).unwrap().read_stored(m.full_window()).unwrap();
    let worst = (&whole - &expected).mapv(f32::abs).fold(0f32, |a, &b| a.max(b));
    assert!(worst < 1e-2, "max |on the fly - gdal_translate| = {worst}");
    let unshifted = Cube::open_resampled(&path, &how.with_psf_offset([0.0, 0.0])).unwrap().read_stored(m.full_window()).unwrap();
    let moved = (&whole - &unshifted).mapv(f32::abs).fold(0f32, |a, &b| a.max(b));
    assert!(moved > 1.0, "the offset changed nothing (max difference {moved})");
}
