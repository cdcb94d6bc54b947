//! `classify`: a classifier fitted on a tenth of a scene's labelled pixels maps the scene;
//! scikit-learn, fitted on the same pixels with the same features, is the second reader of
//! the map (SVM predictions pixel for pixel, random forest accuracy); GDAL reads the map's
//! category names; bad input is refused before anything is written.

use std::path::Path;

use hypersynth_data::Cube;
use ndarray::Array2;

use crate::support::{TestDir, gdalinfo, python_check, run_json, sample, translate, write_uint8_raster};

/// Fits scikit-learn's StandardScaler -> PCA(30) -> SVC(C=100, gamma="scale") and
/// RandomForestClassifier() on the training raster's pixels of the cube (bands as the run
/// record says), and prints the SVM's agreement with our SVM map, then the overall
/// accuracies of our forest map and of scikit-learn's forest on the check pixels (labelled,
/// not trained on), then the share of pixels whose no-data state agrees.
const AGREEMENT: &str = r#"
import json, sys
import numpy as np, tifffile
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
cube_path, train_path, truth_path, svm_map, svm_run, forest_map = sys.argv[1:]
def read(path):
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        data = series.asarray()
        nodata = tif.pages[0].tags.get(42113)
        if series.axes.startswith("S"):
            data = np.moveaxis(data, 0, -1)
        return data, (float(nodata.value) if nodata else None)
cube, nodata = read(cube_path)
bands = [b - 1 for b in json.load(open(svm_run))["details"]["scene_bands_used"]]
x = cube.reshape(-1, cube.shape[-1])[:, bands].astype(np.float64)
valid = np.isfinite(x).all(axis=1)
if nodata is not None:
    valid &= (x != nodata).all(axis=1)
train = read(train_path)[0].reshape(-1)
truth = read(truth_path)[0].reshape(-1)
fit = (train > 0) & valid
svm = make_pipeline(StandardScaler(), PCA(30), SVC(C=100, gamma="scale")).fit(x[fit], train[fit])
ours = read(svm_map)[0].reshape(-1)
print(np.mean(svm.predict(x[valid]) == ours[valid]))
forest = make_pipeline(StandardScaler(), PCA(30), RandomForestClassifier(random_state=0)).fit(x[fit], train[fit])
check = (truth > 0) & (train == 0) & valid
print(np.mean(read(forest_map)[0].reshape(-1)[check] == truth[check]), np.mean(forest.predict(x[check]) == truth[check]))
print(np.mean(valid == (ours > 0)))
"#;

/// A tenth of the labelled pixels of `labels` (every tenth in row order within each class),
/// written as a class raster beside it.
fn training_tenth(t: &TestDir, cube: &str, labels: &str) -> std::path::PathBuf {
    let meta = Cube::open(cube).unwrap().meta().clone();
    let raster = hypersynth_data::ClassRaster::read(Path::new(labels), &meta, None).unwrap();
    let mut seen = std::collections::HashMap::<u32, usize>::new();
    let train = Array2::from_shape_fn(raster.ids.dim(), |(r, c)| {
        let id = raster.ids[[r, c]];
        let k = seen.entry(id).or_default();
        *k += 1;
        if id > 0 && *k % 10 == 1 { id as u8 } else { 0 }
    });
    let path = t.join("train.tif");
    write_uint8_raster(&path, &meta, &train);
    path
}

/// Maps `cube` with an SVM and a forest fitted on a tenth of `labels`, checks both against
/// scikit-learn; returns the test folder (`svm.tif`, `forest.tif` and their files).
fn agrees_with_scikit_learn(cube: &str, labels: &str, classes: Option<&str>) -> TestDir {
    let t = TestDir::new();
    let train = training_tenth(&t, cube, labels);
    let train = train.to_str().unwrap();
    for (classifier, out) in [("rbf-svm", "svm.tif"), ("random-forest", "forest.tif")] {
        let mut args = vec!["classify", "--cube", cube, "--labels", train, "--scene", cube, "--out", out, "--check", labels];
        args.extend(["--classifier", classifier]);
        if let Some(classes) = classes {
            args.extend(["--classes", classes]);
        }
        t.ok(&t.run(&args));
    }
    let printed = python_check(
        AGREEMENT,
        &[Path::new(cube), Path::new(train), Path::new(labels), &t.join("svm.tif"), &t.join("svm.run.json"), &t.join("forest.tif")],
    );
    let lines: Vec<Vec<f64>> = printed.lines().map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect()).collect();
    let (svm_agreement, forest, sklearn_forest, nodata_agreement) = (lines[0][0], lines[1][0], lines[1][1], lines[2][0]);
    eprintln!("{cube}: SVM agreement {svm_agreement:.4}; forest OA {forest:.4} against scikit-learn's {sklearn_forest:.4}");
    assert_eq!(nodata_agreement, 1.0, "the map's no-data pixels are not the scene's");
    assert!(svm_agreement >= 0.995, "the SVM map agrees with scikit-learn's SVC on {svm_agreement:.4} of the pixels");
    assert!((forest - sklearn_forest).abs() <= 0.01, "forest OA {forest:.4}, scikit-learn's {sklearn_forest:.4}");
    // The check scored exactly the labelled pixels the training did not take.
    let record = run_json(&t.join("forest.run.json"));
    let check = &record["details"]["check"];
    let accuracy = python_check(
        "import sys, pandas as pd; t = pd.read_parquet(sys.argv[1]); \
         print(t[(t.class_name == 'overall') & (t.metric == 'overall_accuracy')].value.iloc[0])",
        &[&t.join("forest.check.parquet")],
    );
    assert!((accuracy.parse::<f64>().unwrap() - forest).abs() < 1e-9, "check table {accuracy}, map {forest}");
    assert!(check["trained_on"].as_u64().unwrap() > 0, "{check}");
    t
}

#[test]
fn the_svm_and_forest_maps_of_salinas_agree_with_scikit_learn() {
    let _ = agrees_with_scikit_learn(&sample("salinasA.tif"), &sample("salinasA_gt.tif"), Some(&sample("classes.csv")));
}

#[test]
fn the_svm_and_forest_maps_of_the_enmap_mosaic_agree_with_scikit_learn() {
    let Some(data) = hypersynth_data::fixtures::shared_data_dir() else { return };
    let mosaic = data.join("enmap_potsdam/mosaic");
    let path = |name: &str| mosaic.join(name).display().to_string();
    let t =
        agrees_with_scikit_learn(&path("enmap_potsdam_mosaic.tif"), &path("enmap_potsdam_mosaic_labels.tif"), Some(&path("classes.csv")));
    // The map keeps the scene's grid and CRS (EPSG:32633).
    let (map, scene) = (gdalinfo(&t, "svm.tif"), gdalinfo(&t, &path("enmap_potsdam_mosaic.tif")));
    assert_eq!(map["geoTransform"], scene["geoTransform"]);
    assert!(map["coordinateSystem"]["wkt"].as_str().unwrap().contains("32633"), "{}", map["coordinateSystem"]);
}

#[test]
fn the_map_names_its_classes_for_gdal_and_a_saved_classifier_maps_again_alike() {
    let t = TestDir::new();
    let (cube, labels, classes) = (sample("salinasA.tif"), sample("salinasA_gt.tif"), sample("classes.csv"));
    let args = ["classify", "--cube", &cube, "--labels", &labels, "--classes", &classes, "--scene", &cube, "--out", "map.tif"];
    t.ok(&t.run(&args));
    let info = gdalinfo(&t, "map.tif");
    let band = &info["bands"][0];
    let names: Vec<&str> = band["categories"].as_array().expect("category names").iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(names[1], "Brocoli_green_weeds_1", "{names:?}");
    assert_eq!(names[0], "no data");
    assert_eq!(band["colorInterpretation"], "Palette");
    assert_eq!(band["noDataValue"], 0.0);
    assert_eq!(gdalinfo(&t, "map.confidence.tif")["bands"][0]["type"], "Float32");
    // The saved classifier maps the scene (a copy elsewhere) to the same classes.
    t.ok(&t.run(&["classify", "--classifier-file", "map.classifier.json", "--scene", &cube, "--out", "again.tif"]));
    let same = python_check(
        "import sys, numpy as np, tifffile; print(np.array_equal(tifffile.imread(sys.argv[1]), tifffile.imread(sys.argv[2])))",
        &[&t.join("map.tif"), &t.join("again.tif")],
    );
    assert_eq!(same, "True");
    let card: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(t.join("map.classifier.json")).unwrap()).unwrap();
    assert_eq!(card["card"]["classes"].as_array().unwrap().len(), 6);
    assert_eq!(card["card"]["wavelengths_nm"].as_array().unwrap().len(), 204);
}

#[test]
fn a_killed_classify_leaves_nothing_that_looks_finished_and_its_rerun_matches_an_uninterrupted_one() {
    let t = TestDir::new();
    let (cube, labels) = (sample("salinasA.tif"), sample("salinasA_gt.tif"));
    t.ok(&t.run(&["classify", "--cube", &cube, "--labels", &labels, "--scene", &cube, "--out", "fit.tif"]));
    // The sample at 4 x 4 the pixels, so that mapping lasts long enough to be killed.
    translate(&t, &["-outsize", "400%", "400%", "-co", "TILED=YES"], &cube, "scene.tif");
    let args = |out: &'static str| {
        ["classify", "--classifier-file", "fit.classifier.json", "--scene", "scene.tif", "--out", out, "--threads", "1"]
    };
    t.ok(&t.run(&args("whole.tif")));

    let partial = || t.listing().lines().any(|l| l.contains(".cut.") && l.ends_with(".partial"));
    let mut child = t.command(&args("cut.tif")).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !partial() {
        assert!(std::time::Instant::now() < deadline, "classify wrote no partial file\n{}", t.listing());
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // (A run with --classifier-file writes no classifier file of its own.)
    for name in ["cut.tif", "cut.confidence.tif", "cut.tif.aux.xml", "cut.run.json"] {
        assert!(!t.join(name).exists(), "killed mid-run, {name} looks finished\n{}", t.listing());
    }

    t.ok(&t.run(&args("cut.tif")));
    for name in ["cut.tif", "cut.confidence.tif", "cut.tif.aux.xml"] {
        let whole = name.replace("cut", "whole");
        assert!(std::fs::read(t.join(&whole)).unwrap() == std::fs::read(t.join(name)).unwrap(), "{name} differs from {whole}");
    }
    assert!(!partial(), "the rerun left the killed run's partial files\n{}", t.listing());
}

#[test]
fn a_model_adds_the_synthetic_spectra_augment_makes_to_the_training() {
    let t = TestDir::new();
    let (cube, labels, classes) = (sample("salinasA.tif"), sample("salinasA_gt.tif"), sample("classes.csv"));
    let data = ["--cube", &cube, "--labels", &labels, "--classes", &classes];
    t.ok(&t.run(&[&["train", "spectral"][..], &data, &["--out", "m.onnx"]].concat()));
    let with_model = ["--model", "m.onnx", "--target-per-class", "1500"];
    t.ok(&t.run(&[&["classify"][..], &data, &["--scene", &cube, "--out", "map.tif"], &with_model].concat()));
    t.ok(&t.run(&[&["augment"][..], &data, &with_model, &["--out", "aug", "--no-report"]].concat()));
    // The card counts, per class, the spectra augment writes with the same model, target and seed.
    let written = python_check(
        "import sys, json, pandas as pd; print(json.dumps({str(k): int(v) for k, v in pd.read_parquet(sys.argv[1]).class_id.value_counts().items()}))",
        &[&t.join("aug/synthetic.parquet")],
    );
    let written: serde_json::Value = serde_json::from_str(&written).unwrap();
    let card: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(t.join("map.classifier.json")).unwrap()).unwrap();
    let mut added = 0;
    for class in card["card"]["classes"].as_array().unwrap() {
        let (id, real, synthetic) =
            (class["id"].to_string(), class["training_count"].as_u64().unwrap(), class["synthetic_count"].as_u64().unwrap());
        assert_eq!(synthetic, written.get(&id).and_then(serde_json::Value::as_u64).unwrap_or(0), "class {id}");
        assert!(real >= 1500 || synthetic > 0, "class {id}: {real} real spectra and none added");
        added += synthetic;
    }
    assert!(added > 0);
    assert!(card["card"]["synthetic_from"].as_str().unwrap().ends_with("m.onnx"));
    assert!(!t.listing().contains(".classify-synthetic"), "the working folder is left\n{}", t.listing());
}
