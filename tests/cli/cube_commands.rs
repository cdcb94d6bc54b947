//! `info`, `convert` and `demo` on real files, and their refusals of bad input.

use std::process::Command;

use hypersynth_data::fixtures::shared_data_dir;

use crate::support::{TestDir, gdalinfo, python_check, sample};

#[test]
fn info_reports_the_bundled_sample_as_text_and_json() {
    let t = TestDir::new();
    let out = t.run(&["info", &sample("salinasA.tif"), "--labels", &sample("salinasA_gt.tif"), "--classes", &sample("classes.csv")]);
    t.ok(&out);
    assert!(out.stdout.contains("83 rows x 86 cols x 204 bands"), "{}", out.stdout);
    assert!(out.stdout.contains("400.00 .. 2490.58 nm"), "{}", out.stdout);
    assert!(out.stdout.contains("1525 pixels  Lettuce_romaine_5wk"), "{}", out.stdout);

    let out = t.run(&["info", &sample("salinasA.tif"), "--json"]);
    t.ok(&out);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["bands"], 204);
    assert_eq!(json["dtype"], "Int16");
    assert_eq!(json["wavelengths_nm"][203], 2490.58);
}

#[test]
fn convert_neon_hdf5_gives_a_cog_with_wavelengths_and_the_source_pixels() {
    let Some(data) = shared_data_dir() else { return };
    let t = TestDir::new();
    let source = data.join("salinasA/salinasA_neon.h5");
    let before = std::fs::read(&source).unwrap();
    let out = t.run(&["convert", &source.display().to_string(), "neon.tif"]);
    t.ok(&out);
    assert_eq!(std::fs::read(&source).unwrap(), before, "the input is never modified");
    assert_eq!(t.listing(), "neon.stac.json\n  neon.tif", "nothing but the output and its STAC Item is left");

    let info = Command::new("gdalinfo").arg(t.join("neon.tif")).output().unwrap();
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("LAYOUT=COG") && text.contains("COMPRESSION=DEFLATE"), "{text}");
    assert!(text.contains("Scale:0.0001") && text.contains("NoData Value=-9999"), "{text}");
    assert!(text.contains("wavelength=400") && text.contains("wavelength_units=Nanometers"), "{text}");

    // A second pair of readers (h5py on the source, tifffile on the output) sees equal pixels.
    let script = "import sys, h5py, tifffile, numpy as np\n\
a = h5py.File(sys.argv[1])['SALA/Reflectance/Reflectance_Data'][:]\n\
page = tifffile.TiffFile(sys.argv[2]).pages[0]\n\
b = page.asarray()\n\
assert page.photometric == 1, page.photometric\n\
assert a.dtype == b.dtype and np.array_equal(a, b), (a.dtype, b.dtype)\n\
print('equal', a.shape)";
    assert_eq!(python_check(script, &[&source, &t.join("neon.tif")]), "equal (83, 86, 204)");
}

#[test]
fn every_cog_gets_a_stac_item_that_pystac_reads_and_validates() {
    let t = TestDir::new();
    // A georeferenced copy of the sample (UTM 33N, 30 m pixels near Potsdam), dated as a
    // TIFF states it, with scene metadata of its own.
    let georef = [
        ["-a_srs", "EPSG:32633", "-a_ullr", "360000", "5810000", "362580", "5807510"].as_slice(),
        &["-mo", "TIFFTAG_DATETIME=2024:07:15 10:21:00", "-mo", "PLATFORM=EnMAP", "-mo", "processing_level=L2A"],
    ]
    .concat();
    crate::support::translate(&t, &georef, &sample("salinasA.tif"), "scene.tif");
    t.ok(&t.run(&["convert", "scene.tif", "cog.tif", "-q"]));
    // The scene's metadata is carried into the COG.
    let metadata = gdalinfo(&t, "cog.tif")["metadata"][""].clone();
    for (key, value) in [("PLATFORM", "EnMAP"), ("processing_level", "L2A"), ("TIFFTAG_DATETIME", "2024:07:15 10:21:00")] {
        assert_eq!(metadata[key], value, "{key} in {metadata}");
    }
    // The Item's core fields against pystac's bundled STAC 1.1 schema (the extension schemas
    // live online), and its extensions through pystac's accessors.
    let script = "import sys, json, pystac, pystac.validation\n\
from pystac.extensions.eo import EOExtension\n\
from pystac.extensions.projection import ProjectionExtension\n\
item = pystac.Item.from_file(sys.argv[1])\n\
core = dict(item.to_dict(), stac_extensions=[])\n\
pystac.validation.validate_dict(core)\n\
bands = EOExtension.ext(item.assets['data']).bands\n\
lon, lat = (item.bbox[0] + item.bbox[2]) / 2, (item.bbox[1] + item.bbox[3]) / 2\n\
print(ProjectionExtension.ext(item).epsg, round(lon, 2), round(lat, 2), item.datetime.isoformat(), len(bands), bands[0].center_wavelength, bands[0].full_width_half_max, item.assets['data'].href, item.assets['data'].roles)";
    let seen = python_check(script, &[&t.join("cog.stac.json")]);
    // The footprint's centre: 138.7 km west of UTM 33N's central meridian (15° E) at 52.4° N.
    assert_eq!(seen, "32633 12.96 52.41 2024-07-15T10:21:00+00:00 204 0.4 0.01 ./cog.tif ['data']");
}

#[test]
fn convert_refuses_to_overwrite_unless_told() {
    let t = TestDir::new();
    std::fs::write(t.join("out.tif"), b"precious").unwrap();
    let out = t.run(&["convert", &sample("salinasA.tif"), "out.tif"]);
    t.refused(&out, "out.tif", "output exists");
    assert_eq!(std::fs::read(t.join("out.tif")).unwrap(), b"precious");
    t.ok(&t.run(&["convert", &sample("salinasA.tif"), "out.tif", "--overwrite", "--compress", "zstd"]));
}

#[test]
fn demo_runs_on_the_bundled_sample() {
    let t = TestDir::new();
    let out = t.run(&["demo", "--out", "demo"]);
    t.ok(&out);
    for product in [
        "salinasA_cog.tif",
        "salinasA_cgan.onnx",
        "salinasA_cgan.run.json",
        "augmented/synthetic.parquet",
        "augmented/augmented.parquet",
        "augmented/report/report.html",
    ] {
        assert!(t.join(&format!("demo/{product}")).exists(), "{product}\n{}\n{}", out.stdout, t.listing());
    }
    assert!(out.stdout.contains("class 1: 275 synthetic spectra"), "{}", out.stdout);
    // The lift table: every classifier on every training set.
    let lift_lines =
        out.stdout.lines().filter(|l| ["random_forest ", "rbf_svm ", "knn "].iter().any(|k| l.trim_start().starts_with(k))).count();
    assert_eq!(lift_lines, 12, "{}", out.stdout);
}

#[test]
fn an_installed_binary_runs_the_demo_away_from_its_checkout() {
    let t = TestDir::new();
    // PREFIX/bin/hypersynth, as `cargo install --root PREFIX` lays it out, run from a folder
    // outside the checkout: the sample is compiled in, ONNX Runtime is looked for beside it.
    let bin = t.join("prefix/bin/hypersynth");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_hypersynth"), &bin).unwrap();
    let run = || {
        let out = Command::new(&bin).args(["demo", "--out", "demo"]).current_dir(t.path()).env_remove("ORT_DYLIB_PATH").output().unwrap();
        crate::support::Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    };
    let prefix_lib = t.join("prefix/lib");
    t.refused(&run(), "ONNX Runtime library not found", &format!("copy that library into `{}`", prefix_lib.display()));
    assert!(!t.join("demo").exists(), "the runtime is looked for before any work");

    std::fs::create_dir_all(&prefix_lib).unwrap();
    let library = std::fs::canonicalize(crate::support::ort_library()).unwrap();
    std::fs::copy(&library, prefix_lib.join("libonnxruntime.so")).unwrap();
    let out = run();
    t.ok(&out);
    for product in ["sample/salinasA.tif", "sample/classes.csv", "salinasA_cgan.onnx", "augmented/report/report.html"] {
        assert!(t.join(&format!("demo/{product}")).exists(), "{product}\n{}\n{}", out.stdout, t.listing());
    }
    let bundled = std::fs::read(sample("salinasA.tif")).unwrap();
    assert!(std::fs::read(t.join("demo/sample/salinasA.tif")).unwrap() == bundled, "the sample written is the repository's");
}

#[test]
fn bad_cubes_and_labels_are_refused_with_one_clear_line() {
    let t = TestDir::new();
    let out = t.run(&["info", "missing.tif"]);
    t.refused(&out, "missing.tif", "file not found");

    std::fs::write(t.join("notes.txt"), "just some text\n").unwrap();
    let out = t.run(&["info", "notes.txt"]);
    t.refused(&out, "notes.txt", "not a raster GDAL can read");

    let whole = std::fs::read(sample("salinasA.tif")).unwrap();
    std::fs::write(t.join("truncated.tif"), &whole[..whole.len() / 2]).unwrap();
    let out = t.run(&["info", "truncated.tif"]);
    t.refused(&out, "truncated.tif", "not a raster GDAL can read");

    // Labels of another size: a 16 x 16 crop of the class raster.
    let crop = Command::new("gdal_translate")
        .args(["-q", "-srcwin", "0", "0", "16", "16", &sample("salinasA_gt.tif")])
        .arg(t.join("small_gt.tif"))
        .status()
        .unwrap();
    assert!(crop.success());
    let out = t.run(&["info", &sample("salinasA.tif"), "--labels", "small_gt.tif"]);
    t.refused(&out, "small_gt.tif", "labels are 16 x 16 pixels but the cube");
}

#[test]
fn hdf5_without_the_dataset_is_refused() {
    let Some(data) = shared_data_dir() else { return };
    let t = TestDir::new();
    let h5 = data.join("salinasA/salinasA_neon.h5").display().to_string();
    let out = t.run(&["info", &h5, "--dataset", "/SALA/Radiance"]);
    t.refused(&out, "salinasA_neon.h5", "no dataset \"/SALA/Radiance\"");
    let ok = t.run(&["info", &h5, "--dataset", "/SALA/Reflectance/Reflectance_Data", "--band-axis", "2"]);
    t.ok(&ok);
}
