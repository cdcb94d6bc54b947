//! One model over many scenes: the 14 EnMAP Potsdam training tiles pooled through
//! `--scenes train_files.csv`, scored on the test tiles; and a `gdalbuildvrt` mosaic, which
//! drops the band wavelengths, given them back with `--wavelengths`.

use std::path::Path;
use std::process::Command;

use hypersynth_data::Cube;

use crate::support::{TestDir, python_check, run_json};

#[test]
fn the_training_tiles_pool_into_one_model_scored_on_the_test_tiles() {
    let Some(data) = hypersynth_data::fixtures::shared_data_dir() else { return };
    let enmap = data.join("enmap_potsdam");
    let t = TestDir::new();
    let (train_list, test_list, classes) = (enmap.join("train_files.csv"), enmap.join("test_files.csv"), enmap.join("classes.csv"));
    let (train_list, test_list, classes) = (train_list.to_str().unwrap(), test_list.to_str().unwrap(), classes.to_str().unwrap());
    t.ok(&t.run(&["train", "spectral", "--scenes", train_list, "--classes", classes, "--test", "0", "--out", "m.onnx", "-q"]));
    t.ok(&t.run(&[
        "augment",
        "--model",
        "m.onnx",
        "--scenes",
        train_list,
        "--classes",
        classes,
        "--target-per-class",
        "300",
        "--out",
        "aug",
        "--no-report",
        "-q",
    ]));
    let run = run_json(&t.join("m.run.json"));
    assert_eq!(run["inputs"].as_array().unwrap().len(), 29, "14 tiles, their labels and the list");
    // The list is an input: no output may replace it.
    let tile = |folder: &str, name: &str| enmap.join(folder).join(name).display().to_string();
    let list =
        format!("image,mask\n{},{}\n", tile("images", "enmap_potsdam_tile_128_0.tif"), tile("labels", "enmap_potsdam_tile_128_0.tif"));
    std::fs::write(t.join("list.csv"), &list).unwrap();
    let out = t.run(&["train", "spectral", "--scenes", "list.csv", "--out", "list.csv"]);
    t.refused(&out, "list.csv", "output would replace an input");
    assert_eq!(std::fs::read_to_string(t.join("list.csv")).unwrap(), list);

    // scikit-learn with tifffile and gdalinfo, reading the tiles itself: augmented.parquet's
    // real rows are every labelled pixel of the 14 training tiles (per class), each at the
    // scene, row and column it names (synthetic rows name none), a random
    // forest trained on them scores the test tiles, and the synthetic spectra cost it at
    // most 3 points of OA (measured: OA 0.748 real, 0.735 with the synthetic spectra).
    let script = r#"
import sys, os, csv, json, subprocess, numpy as np, pyarrow.parquet as pq, tifffile
from sklearn.ensemble import RandomForestClassifier
def bands_of(tif):
    info = json.loads(subprocess.run(["gdalinfo", "-json", tif], capture_output=True, text=True, check=True).stdout)
    b = info["bands"]
    return [float(x["metadata"][""]["wavelength"]) for x in b], np.array([x.get("scale", 1.0) for x in b]), np.array([x.get("offset", 0.0) for x in b])
def pixels(listing, bands):
    xs, ys, cubes = [], [], []
    folder = os.path.dirname(listing)
    for row in csv.DictReader(open(listing)):
        tif = os.path.join(folder, row["image"])
        cube = tifffile.imread(tif).astype(np.float32)
        w, scale, offset = bands_of(tif)
        if cube.shape[0] == len(w):
            cube = np.moveaxis(cube, 0, -1)
        cube = cube * scale + offset
        pick = [min(range(len(w)), key=lambda i: abs(w[i] - b)) for b in bands]
        labels = tifffile.imread(os.path.join(folder, row["mask"]))
        keep = labels > 0
        xs.append(cube[keep][:, pick]); ys.append(labels[keep]); cubes.append(cube[:, :, pick])
    return np.concatenate(xs), np.concatenate(ys), cubes
table = pq.read_table(sys.argv[3]).to_pandas()
bands = [c for c in table.columns if c not in ("class_id", "class_name", "source", "scene", "row", "col")]
centres = [float(c) for c in bands]
_, ytr, tiles = pixels(sys.argv[1], centres)
xte, yte, _ = pixels(sys.argv[2], centres)
real = table[table.source == "real"]
same = dict(zip(*np.unique(ytr, return_counts=True))) == {int(k): int(v) for k, v in real.class_id.value_counts().items()}
# Each real row's scene, row and column hold its spectrum; synthetic rows have no pixel.
at = real[["scene", "row", "col"]].to_numpy(np.int64)
same = same and all(np.allclose(tiles[s][r, c], v, rtol=1e-6) for (s, r, c), v in zip(at, real[bands].to_numpy()))
same = same and table[table.source != "real"][["scene", "row", "col"]].isna().all().all() and len(set(at[:, 0])) == len(tiles)
def oa(frame):
    model = RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=2).fit(frame[bands].to_numpy(), frame.class_id.to_numpy())
    return float((model.predict(xte) == yte).mean())
print(same, len(real), round(oa(real), 3), round(oa(table), 3))
"#;
    let seen = python_check(script, &[Path::new(train_list), Path::new(test_list), &t.join("aug/augmented.parquet")]);
    let fields: Vec<&str> = seen.split_whitespace().collect();
    assert_eq!(&fields[..2], ["True", "3806"], "{seen}");
    let (real, augmented): (f64, f64) = (fields[2].parse().unwrap(), fields[3].parse().unwrap());
    assert!(real >= 0.70 && augmented >= real - 0.03, "{seen}");
}

#[test]
fn a_mosaic_without_wavelengths_is_given_them_by_a_band_table() {
    let Some(data) = hypersynth_data::fixtures::shared_data_dir() else { return };
    let enmap = data.join("enmap_potsdam");
    let t = TestDir::new();
    let tiles = ["enmap_potsdam_tile_128_0.tif", "enmap_potsdam_tile_128_32.tif"];
    let vrt = |folder: &str, out: &str| {
        let ok = Command::new("gdalbuildvrt")
            .arg("-q")
            .arg(t.join(out))
            .args(tiles.iter().map(|tile| enmap.join(folder).join(tile)))
            .status()
            .expect("run gdalbuildvrt");
        assert!(ok.success());
    };
    vrt("images", "mosaic.vrt");
    vrt("labels", "mosaic_labels.vrt");
    let train = |extra: &[&str]| {
        t.run(&[&["train", "spectral", "--cube", "mosaic.vrt", "--labels", "mosaic_labels.vrt", "--out", "m.onnx", "-q"], extra].concat())
    };
    t.refused(&train(&[]), "mosaic.vrt", "states no wavelengths");

    let tile = Cube::open(enmap.join("images").join(tiles[0])).unwrap();
    let meta = tile.meta();
    let (centres, widths) = (meta.wavelengths_nm.clone().unwrap(), meta.fwhm_nm.clone().unwrap());
    let rows: String = centres.iter().zip(&widths).zip(&meta.good_bands).map(|((c, w), g)| format!("{c},{w},{}\n", u8::from(*g))).collect();
    std::fs::write(t.join("bands.csv"), format!("wavelength_nm,fwhm_nm,bbl\n{rows}")).unwrap();
    t.ok(&train(&["--wavelengths", "bands.csv"]));
    assert!(
        run_json(&t.join("m.run.json"))["inputs"].as_array().unwrap().iter().any(|i| i["path"] == "bands.csv"),
        "the band table is an input"
    );
    // convert writes them into the mosaic's COG for good.
    t.ok(&t.run(&["convert", "mosaic.vrt", "mosaic.tif", "--wavelengths", "bands.csv", "-q"]));
    t.refused(
        &t.run(&["convert", "mosaic.vrt", "bands.csv", "--wavelengths", "bands.csv", "--overwrite"]),
        "bands.csv",
        "replace an input",
    );
    assert_eq!(Cube::open(t.join("mosaic.tif")).unwrap().meta().wavelengths_nm.as_ref(), Some(&centres));
    // A table of another length is refused, naming it.
    std::fs::write(t.join("short.csv"), "wavelength_nm\n500\n600\n").unwrap();
    t.refused(&train(&["--wavelengths", "short.csv"]), "short.csv", "lists 2 bands, but mosaic.vrt has 224");
}
