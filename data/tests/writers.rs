//! Outputs written for real and read back, with a second tool where one is at hand.

use std::process::Command;

use hypersynth_data::fixtures::samples_dir;
use hypersynth_data::{CogWriter, Compression, Cube, CubeMeta, Overviews, SampleType, Window, read_spectra_table};
use ndarray::Array3;
use polars::prelude::*;

#[test]
fn cog_keeps_pixels_and_band_metadata_and_appears_only_when_finished() {
    let source = Cube::open(samples_dir().join("salinasA/salinasA.tif")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("salinas_cog.tif");
    let mut writer = CogWriter::create(&out, source.meta(), Compression::Zstd).unwrap();
    for window in source.row_windows(20) {
        writer.write(window, source.read_stored(window).unwrap().view()).unwrap();
        assert!(!out.exists(), "the output must not appear before it is finished");
    }
    writer.finish().unwrap();
    let mut names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    let expected = ["salinas_cog.stac.json", "salinas_cog.tif"].map(std::ffi::OsString::from);
    assert_eq!(names, expected, "the COG and its STAC Item, no temporary files left");

    let copy = Cube::open(&out).unwrap();
    let full = source.meta().full_window();
    assert_eq!(copy.read_stored(full).unwrap(), source.read_stored(full).unwrap());
    assert_eq!(copy.meta().wavelengths_nm, source.meta().wavelengths_nm);
    assert_eq!(copy.meta().fwhm_nm, source.meta().fwhm_nm);
    assert_eq!(copy.meta().dtype, source.meta().dtype);

    // gdalinfo, a second reader, agrees that it is a COG with the band metadata.
    let info = Command::new("gdalinfo").arg(&out).output().expect("gdalinfo (Debian gdal-bin) is installed by scripts/setup.sh");
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("LAYOUT=COG"), "{text}");
    assert!(text.contains("COMPRESSION=ZSTD"), "{text}");
    assert!(text.contains("wavelength=2490.58") && text.contains("wavelength_units=Nanometers"), "{text}");
}

/// The sample's georeferencing on a `rows x cols x bands` grid of `dtype`, nodata -9999.
fn grid_like_the_sample(rows: usize, cols: usize, bands: usize, dtype: SampleType) -> CubeMeta {
    let sample = Cube::open(samples_dir().join("salinasA/salinasA.tif")).unwrap().meta().clone();
    CubeMeta {
        rows,
        cols,
        bands,
        dtype,
        wavelengths_nm: sample.wavelengths_nm.map(|w| w[..bands].to_vec()),
        fwhm_nm: sample.fwhm_nm.map(|f| f[..bands].to_vec()),
        good_bands: vec![true; bands],
        scale: vec![1.0; bands],
        offset: vec![0.0; bands],
        nodata: Some(-9999.0),
        band_names: None,
        ..sample
    }
}

/// Runs `script` with the project's Python (scripts/setup.sh), a second reader, on `args`;
/// returns its stdout.
fn python(script: &str, args: &[&std::path::Path]) -> String {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let out = Command::new(&python).arg("-c").arg(script).args(args).output().expect("the project's .venv: run scripts/setup.sh");
    assert!(out.status.success(), "python check failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn cog_overviews_are_means_of_valid_pixels_and_labels_keep_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (600, 530); // two levels: 300 x 265, 150 x 133
    let meta = grid_like_the_sample(rows, cols, 3, SampleType::Float32);
    let value = |r: usize, c: usize, b: usize| {
        // A gap with odd edges, so that some blocks are partly nodata.
        if (101..141).contains(&r) && (201..263).contains(&c) {
            -9999.0
        } else {
            (r as f32 * 0.05).sin() + (c as f32 * 0.031).cos() * (b + 1) as f32 + ((r * 7 + c * 13) % 5) as f32 * 0.01
        }
    };
    let measured = dir.path().join("measured.tif");
    let mut writer = CogWriter::create(&measured, &meta, Compression::Deflate).unwrap();
    for (k, first) in (0..rows).step_by(50).enumerate() {
        let window = Window { row: first, col: 0, rows: 50, cols };
        // Half the blocks band-major in memory, as the tiled runs hand them over.
        let block = if k % 2 == 0 {
            Array3::from_shape_fn((50, cols, 3), |(r, c, b)| value(first + r, c, b))
        } else {
            Array3::from_shape_fn((3, 50, cols), |(b, r, c)| value(first + r, c, b)).permuted_axes([1, 2, 0])
        };
        writer.write(window, block.view()).unwrap();
    }
    writer.finish().unwrap();

    let labels = dir.path().join("labels.tif");
    let mut writer = CogWriter::create(&labels, &grid_like_the_sample(rows, cols, 1, SampleType::UInt8), Compression::Deflate)
        .unwrap()
        .with_overviews(Overviews::Mode);
    let classes = Array3::from_shape_fn((rows, cols, 1), |(r, c, _)| [0.0, 3.0, 7.0][(r / 3 + c / 2) % 3]);
    writer.write(meta.full_window(), classes.view()).unwrap();
    writer.finish().unwrap();

    // tifffile reads the COG's levels; numpy makes the means and checks the labels.
    let script = "import sys, tifffile, numpy as np
def levels(path):
    with tifffile.TiffFile(path) as f:
        return [level.asarray() for level in f.series[0].levels]
def halve(x, nodata):
    x = x.astype(np.float64)
    r, c = x.shape[:2]
    padded = np.full((r + r % 2, c + c % 2) + x.shape[2:], np.nan)
    padded[:r, :c] = np.where(x == nodata, np.nan, x)
    blocks = padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2, *x.shape[2:])
    with np.errstate(invalid='ignore'):
        mean = np.nanmean(blocks, axis=(1, 3))
    return np.where(np.isnan(mean), nodata, mean)
m = levels(sys.argv[1])
print([x.shape for x in m])
worst = max(float(np.abs(halve(m[i], -9999.0) - m[i + 1]).max()) for i in range(len(m) - 1))
print('means', worst < 1e-6, (m[1] == -9999.0).sum())
l = levels(sys.argv[2])
below = l[0][:l[1].shape[0] * 2, :l[1].shape[1] * 2].reshape(l[1].shape[0], 2, l[1].shape[1], 2)
print('labels', bool((below == l[1][:, None, :, None]).any(axis=(1, 3)).all()), sorted(np.unique(l[1]).tolist()))";
    let out = python(script, &[&measured, &labels]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "[(600, 530, 3), (300, 265, 3), (150, 133, 3)]", "{out}");
    // 19 x 30 overview pixels lie wholly in the gap (rows 102..140, columns 202..262 below),
    // in each of 3 bands.
    assert_eq!(lines[1], "means True 1710", "{out}");
    assert_eq!(lines[2], "labels True [0, 3, 7]", "{out}");
    // GDAL agrees that both are COGs with these levels (it prints width x height).
    for path in [&measured, &labels] {
        let info = Command::new("gdalinfo").arg(path).output().unwrap();
        let text = String::from_utf8_lossy(&info.stdout);
        assert!(text.contains("LAYOUT=COG") && text.contains("Overviews: 265x300, 133x150"), "{text}");
    }
}

#[test]
fn a_dropped_writer_leaves_nothing_behind() {
    let source = Cube::open(samples_dir().join("salinasA/salinasA.tif")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.tif");
    let mut writer = CogWriter::create(&out, source.meta(), Compression::Deflate).unwrap();
    let window = source.row_windows(10).next().unwrap();
    writer.write(window, source.read_stored(window).unwrap().view()).unwrap();
    drop(writer);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn spectra_tables_read_from_csv_and_parquet_alike() {
    let dir = tempfile::tempdir().unwrap();
    let wavelengths = [400.0, 500.5, 600.0];
    let rows = [(1u32, "grass", [0.1f32, 0.2, 0.3]), (2, "soil", [0.4, 0.5, 0.6]), (1, "grass", [0.15, 0.25, 0.35])];
    let csv_path = dir.path().join("spectra.csv");
    let mut text = String::from("class_id,class_name,400.0,500.5,600.0\n");
    for (id, name, s) in &rows {
        text.push_str(&format!("{id},{name},{},{},{}\n", s[0], s[1], s[2]));
    }
    std::fs::write(&csv_path, text).unwrap();

    let parquet_path = dir.path().join("spectra.parquet");
    let mut columns = vec![
        Column::new("class_id".into(), rows.iter().map(|r| r.0).collect::<Vec<_>>()),
        Column::new("class_name".into(), rows.iter().map(|r| r.1).collect::<Vec<_>>()),
    ];
    for (b, w) in wavelengths.iter().enumerate() {
        columns.push(Column::new(format!("{w:.1}").into(), rows.iter().map(|r| r.2[b]).collect::<Vec<_>>()));
    }
    let mut frame = DataFrame::new_infer_height(columns).unwrap();
    ParquetWriter::new(std::fs::File::create(&parquet_path).unwrap()).finish(&mut frame).unwrap();

    for path in [&csv_path, &parquet_path] {
        let lib = read_spectra_table(path).unwrap();
        assert_eq!(lib.wavelengths_nm.as_deref(), Some(&wavelengths[..]), "{}", path.display());
        assert_eq!(lib.labels, vec![1, 2, 1]);
        assert_eq!(lib.spectra[[1, 2]], 0.6);
        assert_eq!(lib.classes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), vec!["grass", "soil"]);
    }

    std::fs::write(&csv_path, "class_id,400.0\n1,abc\n").unwrap();
    let err = read_spectra_table(&csv_path).unwrap_err();
    assert!(err.to_string().contains("row 1, column \"400.0\": \"abc\" is not a number"), "{err}");
}
