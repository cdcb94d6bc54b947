//! Outputs written for real and read back, with a second tool where one is at hand.

use std::process::Command;

use hypersynth_data::fixtures::samples_dir;
use hypersynth_data::{CogWriter, Compression, Cube, read_spectra_table};
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
