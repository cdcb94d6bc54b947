//! `hypersynth report` end to end on the bundled sample: its numbers agree with numpy and
//! scipy computed independently from the same pixels, copies and shifts are flagged, the
//! tables open in pyarrow with the documented columns, and the HTML carries its plots. On
//! the shared earthlib library and EnMAP mosaic, its RBF SVM and verdict agree with
//! scikit-learn's.

use std::path::{Path, PathBuf};

use hypersynth_data::{ClassRaster, Cube, SpectraRows, write_spectra_parquet};
use hypersynth_spectral::{SplitConfig, stratified_split};
use ndarray::Array2;

use crate::support::{TestDir, python_check, sample, sample_args};

/// The report's split in the test below: 30 % of each class for test, seed 0.
const TEST_FRACTION: f64 = 0.3;

/// Synthetic rows for the report: every labelled pixel of class 1 brightened by 20 % (a
/// shifted distribution), and copies of the training pixels of class 13 (the report's
/// own split, recomputed here).
fn write_synthetic(path: &Path) {
    let cube = Cube::open(sample("salinasA.tif")).unwrap();
    let block = cube.read(cube.meta().full_window()).unwrap();
    let labels = ClassRaster::read(Path::new(&sample("salinasA_gt.tif")), cube.meta(), None).unwrap();
    let flat: Vec<u32> = labels.ids.iter().copied().collect();
    let split = stratified_split(&flat, &SplitConfig { validation: 0.0, test: TEST_FRACTION, ..SplitConfig::default() });
    let mut is_train = vec![false; flat.len()];
    split.train.iter().for_each(|&i| is_train[i] = true);
    let (mut values, mut ids) = (Vec::new(), Vec::new());
    for (i, ((r, c), &class)) in labels.ids.indexed_iter().enumerate() {
        let gain = match class {
            1 => 1.2,
            13 if is_train[i] => 1.0,
            _ => continue,
        };
        values.extend(block.data.slice(ndarray::s![r, c, ..]).iter().map(|v| v * gain));
        ids.push(class);
    }
    let bands = cube.meta().bands;
    let spectra = Array2::from_shape_vec((ids.len(), bands), values).unwrap();
    let names = vec![""; ids.len()];
    let wavelengths = cube.meta().wavelengths_nm.clone().unwrap();
    let rows = SpectraRows {
        spectra: spectra.view(),
        class_ids: &ids,
        class_names: &names,
        sources: &names,
        wavelengths_nm: &wavelengths,
        positions: None,
    };
    write_spectra_parquet(path, rows, &[]).unwrap();
}

/// Recomputes per class, from the cube, the run's test pixel ids and the synthetic table,
/// the spectral angle, KS (scipy), MMD, diversity and DCR, and compares them with the
/// report's Parquet; checks the documented columns and that the CSV holds the same rows.
/// Prints the DCR of class 13 and the random-forest C2ST of class 1.
const INDEPENDENT_CHECK: &str = r#"
import sys, json, numpy as np, pyarrow.parquet as pq, pyarrow.csv as pc, tifffile
from scipy.stats import ks_2samp
cube_path, gt_path, run_path, syn_path, parquet_path, csv_path = sys.argv[1:]
cube = tifffile.imread(cube_path).astype(np.float64)
cube = np.moveaxis(cube, 0, -1) if cube.shape[0] == 204 else cube
gt = tifffile.imread(gt_path).reshape(-1)
x = cube.reshape(-1, cube.shape[-1])
test_ids = np.array(json.load(open(run_path))["details"]["test_pixel_ids"])
is_test = np.zeros(len(gt), bool); is_test[test_ids] = True
syn = pq.read_table(syn_path).to_pandas()
table = pq.read_table(parquet_path)
assert table.column_names == ["class_id", "class_name", "family", "metric", "classifier", "training_set", "value"], table.column_names
assert str(table.schema.field("value").type) == "double", table.schema
frame = table.to_pandas()
csv = pc.read_csv(csv_path).to_pandas()
assert len(csv) == len(frame) and np.allclose(csv["value"].fillna(-1), frame["value"].fillna(-1), rtol=1e-9), "CSV differs from Parquet"
def value(cls, family, metric, classifier=None):
    rows = frame[(frame.class_id == cls) & (frame.family == family) & (frame.metric == metric)]
    if classifier is not None: rows = rows[rows.classifier == classifier]
    assert len(rows) == 1, (cls, family, metric, rows)
    return float(rows.value.iloc[0])
def angle(a, b): return np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))
def mean_pairwise_angle(s):
    u = s / np.linalg.norm(s, axis=1, keepdims=True); c = np.clip(u @ u.T, -1, 1)
    return np.degrees(np.arccos(c[np.triu_indices(len(s), 1)])).mean()
def sq(a, b): return (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
def mmd(a, b):
    p = np.vstack([a, b]); d = np.maximum(sq(p, p), 0)[np.triu_indices(len(p), 1)]
    gamma = 1 / np.sort(d)[len(d) // 2]
    k = lambda u, v: np.exp(-gamma * np.maximum(sq(u, v), 0))
    within = lambda u: (k(u, u).sum() - len(u)) / (len(u) * (len(u) - 1))
    return within(a) + within(b) - 2 * k(a, b).mean()
def closest(a, b): return np.sqrt(np.maximum(sq(a, b), 0).min(1)).mean()
for cls in (1, 13):
    real = x[(gt == cls) & is_test]; train = x[(gt == cls) & ~is_test]
    fake = syn[syn.class_id == cls].filter(regex=r"^\d").to_numpy(np.float64)
    ks = [ks_2samp(fake[:, b], real[:, b]).statistic for b in range(real.shape[1])]
    expected = {("spectral_angle", "mean_angle_deg"): angle(real.mean(0), fake.mean(0)), ("ks", "max"): max(ks), ("ks", "mean"): np.mean(ks),
                ("mmd", "mmd2_rbf"): mmd(real, fake), ("diversity", "ratio"): mean_pairwise_angle(fake) / mean_pairwise_angle(real),
                ("dcr", "ratio"): closest(fake, train) / closest(real, train), ("counts", "real_test"): len(real)}
    for (family, metric), e in expected.items():
        got = value(cls, family, metric)
        assert abs(got - e) <= 1e-4 * max(1, abs(e)), (cls, family, metric, got, e)
lift = frame[frame.class_id.isna() & (frame.family == "lift") & (frame.metric == "macro_f1")]
assert len(lift) == 12 and set(lift.training_set) == {"real", "real+oversampling", "real+smote", "real+gan"}, lift
print(json.dumps({"dcr13": value(13, "dcr", "ratio"), "c2st1": value(1, "c2st", "balanced_accuracy", "random_forest")}))
"#;

#[test]
fn report_agrees_with_numpy_and_scipy_flags_copies_and_shifts_and_draws_its_plots() {
    let t = TestDir::new();
    write_synthetic(&t.join("synthetic.parquet"));
    let (cube, labels) = (sample("salinasA.tif"), sample("salinasA_gt.tif"));
    let test_fraction = TEST_FRACTION.to_string();
    let mut args = vec!["report".to_string()];
    args.extend(sample_args(&[
        "--synthetic",
        "synthetic.parquet",
        "--out",
        "rep",
        "--test",
        &test_fraction,
        "--max-rows-per-class",
        "5000",
        "-q",
    ]));
    let out = t.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    t.ok(&out);
    let dir = t.join("rep/report");
    let printed = python_check(
        INDEPENDENT_CHECK,
        &[
            Path::new(&cube),
            Path::new(&labels),
            &t.join("rep/run.json"),
            &t.join("synthetic.parquet"),
            &dir.join("metrics.parquet"),
            &dir.join("metrics.csv"),
        ],
    );
    let numbers: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert!(numbers["dcr13"].as_f64().unwrap() < 0.05, "copies must get a DCR ratio near 0: {numbers}");
    assert!(numbers["c2st1"].as_f64().unwrap() > 0.9, "a 20 % brightening must be told apart: {numbers}");

    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    // Two lift charts, the augmented classes' F1 against real and against SMOTE, the KS
    // curves, per class its spectra and its principal-component scatter.
    assert_eq!(html.matches("<svg").count(), 9, "{}", &html[..html.len().min(2000)]);
    for needle in ["real+oversampling", "real+smote", "real+gan", "Brocoli_green_weeds_1", "wavelength (nm)"] {
        assert!(html.contains(needle), "report.html lacks {needle:?}");
    }
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert_eq!(summary.lines().filter(|l| l.starts_with("| real")).count(), 12, "{summary}");
    // The verdict comes first: one sentence per classifier, and the copies of class 13 are
    // pointed out.
    let (verdict, rest) = summary.split_once("## Synthetic vs real").unwrap();
    assert!(verdict.contains("## Verdict") && !rest.contains("## Verdict"), "{summary}");
    assert_eq!(verdict.lines().filter(|l| l.contains(": the synthetic spectra ") && l.contains("95 % interval")).count(), 3, "{verdict}");
    let copying = verdict.lines().find(|l| l.starts_with("- warning: class 13 ") && l.contains("nearer the training pixels"));
    assert!(copying.is_some_and(|l| l.contains("(DCR 0.0")), "{verdict}");
    assert!(html.find("<h2>Verdict</h2>") < html.find("<h2>Augmentation lift"), "the verdict opens report.html");
}

#[test]
fn report_refuses_synthetic_spectra_of_other_bands() {
    let t = TestDir::new();
    write_synthetic(&t.join("synthetic.parquet"));
    // Keep the first 100 band columns only.
    python_check(
        "import sys, pyarrow.parquet as pq\nt = pq.read_table(sys.argv[1])\nbands = [c for c in t.column_names if c[0].isdigit()]\n\
pq.write_table(t.select([c for c in t.column_names if c not in bands] + bands[:100]), sys.argv[2])",
        &[&t.join("synthetic.parquet"), &t.join("short.parquet")],
    );
    let out = t.run(&[
        "report",
        "--cube",
        &sample("salinasA.tif"),
        "--labels",
        &sample("salinasA_gt.tif"),
        "--synthetic",
        "short.parquet",
        "--out",
        "rep",
    ]);
    t.refused(&out, "short.parquet", "its bands (100 bands, 400.00..");
    assert!(!t.join("rep/report").exists(), "nothing may be written:\n  {}", t.listing());
}

/// Writes `real.parquet` for `report --real`, read independently of hypersynth: `library
/// DIR` (the earthlib spectral library's 13 classes of at least 30 spectra, urban and natural
/// materials, 400-2450 nm) or `scene CUBE LABELS` (a GeoTIFF's labelled pixels, its good
/// bands scaled as its band metadata says).
const REAL_TABLE: &str = r#"
import sys, re, numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq, tifffile
out, kind, *paths = sys.argv[1:]
if kind == "library":
    lib = paths[0]
    header = open(lib + "/spectra.sli.hdr").read()
    field = lambda name: re.search(name + r"\s*=\s*(\S+)", header).group(1)
    x = np.fromfile(lib + "/spectra.sli", "<f4").reshape(int(field("lines")), int(field("samples")))
    w = np.array([float(v) for v in re.search(r"wavelength\s*=\s*\{([^}]*)\}", header).group(1).split(",")])
    w = np.round(w * 1000.0, 4) if "micrometers" in header.lower() else w
    level3 = pd.read_csv(lib + "/spectra.csv")["LEVEL_3"].astype(str).to_numpy()
    counts = pd.Series(level3).value_counts()
    ids = {name: i + 1 for i, name in enumerate(n for n, c in counts.items() if c >= 30)}
    y = np.array([ids.get(v, 0) for v in level3], np.uint32)
else:
    cube_path, labels_path = paths
    with tifffile.TiffFile(cube_path) as tif:
        xml = tif.pages[0].tags[42112].value
    items = {}
    for m in re.finditer(r'<Item name="(\w+)" sample="(\d+)"[^>]*>([^<]*)</Item>', xml):
        items.setdefault(m.group(1).lower(), {})[int(m.group(2))] = m.group(3)
    bands = len(items["wavelength"])
    item = lambda name, default: np.array([float(items.get(name, {}).get(b, default)) for b in range(bands)])
    cube = tifffile.imread(cube_path)
    cube = np.moveaxis(cube, 0, -1) if cube.shape[0] == bands else cube
    good = item("bbl", "1") != 0
    labels = tifffile.imread(labels_path).reshape(-1)
    x = (cube.reshape(-1, bands)[:, good] * item("scale", "1")[good] + item("offset", "0")[good]).astype(np.float32)
    w, y = item("wavelength", "0")[good], labels.astype(np.uint32)
x, y = x[y > 0], y[y > 0]
columns = {"class_id": pa.array(y)}
columns.update({str(float(v)): pa.array(x[:, b]) for b, v in enumerate(w)})
pq.write_table(pa.table(columns), out + "/real.parquet")
print(len(y))
"#;

/// The report's RBF SVM against scikit-learn's `SVC` (standardised bands, 30 principal
/// components, C = 100, gamma "scale") trained on the same rows, on real only and on real +
/// synthetic: the F1 of every augmented class and the macro-F1, then the verdict's SVM
/// sentence (the augmented classes' mean F1 with and without the synthetic spectra).
/// Prints the largest difference from scikit-learn of the SVM's numbers, and of the random
/// forest's on the same rows (which shows the check tells classifiers apart).
const SVM_CHECK: &str = r#"
import sys, re, json, numpy as np, pyarrow.parquet as pq
from sklearn.decomposition import PCA
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
real_path, syn_path, run_path, report_dir = sys.argv[1:]
real, syn = pq.read_table(real_path).to_pandas(), pq.read_table(syn_path).to_pandas()
bands = [c for c in real.columns if c != "class_id"]
x, y = real[bands].to_numpy(np.float64), real.class_id.to_numpy()
is_test = np.zeros(len(y), bool)
is_test[json.load(open(run_path))["details"]["test_pixel_ids"]] = True
frame = pq.read_table(report_dir + "/metrics.parquet").to_pandas()
sets = {"real": (x[~is_test], y[~is_test]),
        "real+gan": (np.vstack([x[~is_test], syn[bands].to_numpy(np.float64)]), np.concatenate([y[~is_test], syn.class_id.to_numpy()]))}
classes, augmented = np.unique(y), np.unique(syn.class_id)
worst, versus_forest, mean_f1 = 0.0, 0.0, {}
for name, (a, b) in sets.items():
    model = make_pipeline(StandardScaler(), PCA(30, svd_solver="full"), SVC(C=100, gamma="scale")).fit(a, b)
    f1 = dict(zip(classes, f1_score(y[is_test], model.predict(x[is_test]), labels=classes, average=None)))
    mean_f1[name] = np.mean([f1[c] for c in augmented])
    at = frame[(frame.family == "lift") & (frame.training_set == name)]
    expected = [("f1", c, f1[c]) for c in augmented] + [("macro_f1", None, np.mean(list(f1.values())))]
    for metric, cls, e in expected:
        rows = at[(at.metric == metric) & (at.class_id.isna() if cls is None else at.class_id == cls)]
        got, forest = (rows[rows.classifier == k].value.iloc[0] for k in ("rbf_svm", "random_forest"))
        worst, versus_forest = max(worst, abs(got - e)), max(versus_forest, abs(forest - e))
line = next(l for l in open(report_dir + "/summary.md") if l.startswith("rbf_svm: the synthetic spectra "))
with_them, real_only = (float(v) for v in re.search(r"mean F1 with them is ([0-9.]+), [-+0-9.]+ points against real pixels only \(([0-9.]+);", line).groups())
worst = max(worst, abs(with_them - mean_f1["real+gan"]), abs(real_only - mean_f1["real"]))
print(json.dumps({"svm_vs_sklearn": worst, "forest_vs_sklearn_svm": versus_forest, "verdict": line.strip()}))
"#;

/// On the bundled SalinasA sample as the demo makes it (classes 1 and 13 thinned to 25
/// training pixels, augmented to 300), the earthlib library and the EnMAP mosaic (augmented
/// to 200): hypersynth makes synthetic spectra (default `train spectral`, then `augment`) and
/// reports on them with a fresh half-and-half split; scikit-learn's SVC, trained on the same
/// rows, gives the report's SVM numbers and its verdict sentence to within 0.002.
#[test]
fn the_report_svm_and_its_verdict_agree_with_scikit_learn_on_salinas_a_library_and_enmap() {
    let Some(data) = hypersynth_data::fixtures::shared_data_dir() else { return };
    let (mosaic, library) = (data.join("enmap_potsdam/mosaic"), data.join("earthlib_speclib"));
    let cases: [(&str, Vec<PathBuf>, &[&str], &str); 3] = [
        (
            "salinasA",
            vec!["scene".into(), sample("salinasA.tif").into(), sample("salinasA_gt.tif").into()],
            &["--thin", "1=25", "--thin", "13=25"],
            "300",
        ),
        ("earthlib", vec!["library".into(), library], &[], "200"),
        (
            "enmap",
            vec!["scene".into(), mosaic.join("enmap_potsdam_mosaic.tif"), mosaic.join("enmap_potsdam_mosaic_labels.tif")],
            &[],
            "200",
        ),
    ];
    for (name, table, thin, target) in cases {
        let t = TestDir::new();
        let table_args: Vec<&Path> = std::iter::once(t.path()).chain(table.iter().map(PathBuf::as_path)).collect();
        python_check(REAL_TABLE, &table_args);
        t.ok(&t.run(&[&["train", "spectral", "--table", "real.parquet", "--out", "m.onnx", "-q"][..], thin].concat()));
        t.ok(&t.run(&[
            "augment",
            "--model",
            "m.onnx",
            "--table",
            "real.parquet",
            "--out",
            "aug",
            "--target-per-class",
            target,
            "--no-report",
            "-q",
        ]));
        let synthetic = t.join("aug/synthetic.parquet");
        let synthetic = synthetic.to_str().unwrap();
        let out = t.run(&[
            "report",
            "--real",
            "real.parquet",
            "--synthetic",
            synthetic,
            "--test",
            "0.5",
            "--max-rows-per-class",
            "10000",
            "--out",
            "rep",
            "-q",
        ]);
        t.ok(&out);
        let printed = python_check(
            SVM_CHECK,
            &[&t.join("real.parquet"), &t.join("aug/synthetic.parquet"), &t.join("rep/run.json"), &t.join("rep/report")],
        );
        let numbers: serde_json::Value = serde_json::from_str(&printed).unwrap();
        eprintln!("{name}: {numbers}");
        assert!(numbers["svm_vs_sklearn"].as_f64().unwrap() <= 0.002, "{name}: {numbers}");
        // The check tells classifiers apart where scores are not all near 1 (on SalinasA
        // every classifier is within 0.02 of the others): the report's forest misses the
        // SVM's bound by far (measured 0.045 on EnMAP, 0.43 on earthlib).
        assert!(name == "salinasA" || numbers["forest_vs_sklearn_svm"].as_f64().unwrap() > 10.0 * 0.002, "{name}: {numbers}");
    }
}
