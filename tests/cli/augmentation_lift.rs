//! The measure of the product: synthetic spectra must make classifiers better on pixels
//! nobody trained on. As a user would: a training label raster of the bundled SalinasA
//! sample (a seeded fifth of each class's pixels held out, three classes thinned to 10
//! training pixels) goes to `train spectral` with its defaults and to `augment`; then
//! scikit-learn (an RBF SVM and a random forest, a second implementation independent of
//! ours) is trained on the real training pixels alone and on them plus `augment`'s
//! spectra, and scored on the held-out pixels. A generator made from shuffled labels must
//! miss the same bar.

use std::path::Path;

use hypersynth_data::{ClassRaster, Cube};
use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::support::{TestDir, python_check, sample};

/// The classes thinned to [`SCARCE_PIXELS`] training pixels.
const SCARCE: [u32; 3] = [10, 11, 14];
const SCARCE_PIXELS: usize = 10;

/// `--thin`'s value that thins the [`SCARCE`] classes to [`SCARCE_PIXELS`] training pixels.
fn thin_scarce() -> String {
    SCARCE.map(|c| format!("{c}={SCARCE_PIXELS}")).join(",")
}
/// The share of each class's pixels held out, untouched, for scoring.
const HELD_OUT: f64 = 0.2;

/// The least lift of the scarce classes' mean F1 (points, mean of the SVM and the random
/// forest, over [`SEEDS`]) that the default generator and `augment` must give: measured
/// +3.6 (SVM +1.7, random forest +5.5), where a generator of shuffled labels gives -0.5
/// (`augment`'s selection by the nearest real spectrum keeps only its spectra that lie by
/// real pixels of their class, so it is nearly harmless; without the selection it gave
/// -24.7; docs/TRAINING.md).
const MIN_LIFT_POINTS: f64 = 2.0;

/// Scarce-class F1 lift (points) of real + synthetic over real only, mean of the two
/// classifiers, computed by scikit-learn from the files.
const SCORE: &str = r#"
import sys, json, numpy as np, pyarrow.parquet as pq, tifffile
from sklearn.svm import SVC
from sklearn.ensemble import RandomForestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline
from sklearn.metrics import f1_score
cube, gt, table, untouched = sys.argv[1:5]
scarce = [int(c) for c in sys.argv[5].split(",")]
x = tifffile.imread(cube).astype(np.float64)
x = x.reshape(x.shape[0], -1).T
y = tifffile.imread(gt).reshape(-1).astype(int)
test = np.array(json.load(open(untouched)))
t = pq.read_table(table).to_pandas()
bands = [c for c in t.columns if c not in ("class_id", "class_name", "source", "scene", "row", "col")]
real = t[t.source == "real"]
def f1(train, model):
    model.fit(train[bands].to_numpy(), train["class_id"].to_numpy())
    return f1_score(y[test], model.predict(x[test]), labels=scarce, average="macro")
lifts = []
for make in (lambda: make_pipeline(StandardScaler(), SVC(C=100, gamma="scale")), lambda: RandomForestClassifier(200, random_state=0, n_jobs=2)):
    lifts.append(100 * (f1(t, make()) - f1(real, make())))
print(f"{np.mean(lifts):.2f} {lifts[0]:.2f} {lifts[1]:.2f}")
"#;

/// The seeds (of the held-out pixels, the thinning and the generator) the lift is
/// averaged over.
const SEEDS: [u64; 3] = [1, 2, 3];

/// The sample's labels, `[rows, cols]`.
fn true_labels() -> Array2<u32> {
    let cube = Cube::open(sample("salinasA.tif")).unwrap();
    ClassRaster::read(Path::new(&sample("salinasA_gt.tif")), cube.meta(), None).unwrap().ids
}

/// Writes `labels` as a label raster of the sample at `name` in `t`; returns its path.
fn write_labels(t: &TestDir, name: &str, labels: &Array2<u32>) -> String {
    let cube = Cube::open(sample("salinasA.tif")).unwrap();
    let path = t.join(name);
    crate::support::write_uint8_raster(&path, cube.meta(), &labels.mapv(|v| v as u8));
    path.display().to_string()
}

/// For `seed`: the training labels (each class's pixels but a seeded [`HELD_OUT`] share,
/// the [`SCARCE`] classes' thinned to [`SCARCE_PIXELS`]; 0 elsewhere) and the held-out
/// pixels (row-major indices), which no training sees.
fn training_split(seed: u64) -> (Array2<u32>, Vec<usize>) {
    let truth = true_labels();
    let cols = truth.ncols();
    let mut train = Array2::<u32>::zeros(truth.dim());
    let mut held_out = Vec::new();
    let mut classes: Vec<u32> = truth.iter().copied().filter(|&c| c != 0).collect();
    classes.sort_unstable();
    classes.dedup();
    for class in classes {
        let mut pixels: Vec<usize> = truth.iter().enumerate().filter(|(_, c)| **c == class).map(|(i, _)| i).collect();
        pixels.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed * 1000 + u64::from(class)));
        let test = (HELD_OUT * pixels.len() as f64).round() as usize;
        held_out.extend_from_slice(&pixels[..test]);
        let keep = if SCARCE.contains(&class) { SCARCE_PIXELS } else { pixels.len() };
        for &i in pixels[test..].iter().take(keep) {
            train[[i / cols, i % cols]] = class;
        }
    }
    held_out.sort_unstable();
    (train, held_out)
}

/// `labels` with the classes of labelled pixels shuffled among them.
fn shuffled(labels: &Array2<u32>) -> Array2<u32> {
    let mut ids: Vec<u32> = labels.iter().copied().filter(|&id| id != 0).collect();
    ids.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(5));
    let mut next = ids.into_iter();
    labels.mapv(|id| if id == 0 { 0 } else { next.next().unwrap() })
}

/// The lift (mean, SVM, random forest) averaged over [`SEEDS`] of the generator of
/// `train spectral`'s defaults plus `generator` (its arguments) made from the training
/// labels (`shuffle`: with their classes shuffled), each seed's training labels augmented
/// to 200 per class with it.
fn lift(t: &TestDir, name: &str, shuffle: bool, generator: &[&str]) -> (f64, f64, f64) {
    let runs: Vec<(f64, f64, f64)> = SEEDS
        .iter()
        .map(|&seed| {
            let (train, held_out) = training_split(seed);
            let labels = write_labels(t, &format!("{name}{seed}_gt.tif"), &train);
            let model_labels =
                if shuffle { write_labels(t, &format!("{name}{seed}_model_gt.tif"), &shuffled(&train)) } else { labels.clone() };
            let untouched = t.join(&format!("{name}{seed}_untouched.json"));
            std::fs::write(&untouched, serde_json::to_string(&held_out).unwrap()).unwrap();
            lift_for_seed(t, (&model_labels, &labels), &untouched, &format!("{name}{seed}"), &seed.to_string(), generator)
        })
        .collect();
    let mean = |f: fn(&(f64, f64, f64)) -> f64| runs.iter().map(f).sum::<f64>() / runs.len() as f64;
    (mean(|r| r.0), mean(|r| r.1), mean(|r| r.2))
}

/// Makes the generator of `generator`'s arguments from `model_labels` with `seed`,
/// augments `labels` to 200 per class, and returns the lift (mean, SVM, random forest) on
/// the `untouched` pixels.
fn lift_for_seed(
    t: &TestDir,
    (model_labels, labels): (&str, &str),
    untouched: &Path,
    name: &str,
    seed: &str,
    generator: &[&str],
) -> (f64, f64, f64) {
    let model = format!("{name}.onnx");
    let cube = sample("salinasA.tif");
    let train = ["train", "spectral", "--cube", &cube, "--labels", model_labels, "--out", &model, "--seed", seed, "-q"];
    t.ok(&t.run(&[&train[..], generator].concat()));
    let out = format!("{name}_aug");
    let augment = ["augment", "--model", &model, "--cube", &cube, "--labels", labels, "--out", &out];
    t.ok(&t.run(&[&augment[..], &["--target-per-class", "200", "--no-report", "--seed", seed, "-q"]].concat()));
    let scarce = SCARCE.map(|c| c.to_string()).join(",");
    let table = t.join(&format!("{out}/augmented.parquet"));
    let truth = sample("salinasA_gt.tif");
    let printed = python_check(SCORE, &[Path::new(&cube), Path::new(&truth), &table, untouched, Path::new(&scarce)]);
    let v: Vec<f64> = printed.split_whitespace().map(|s| s.parse().unwrap()).collect();
    (v[0], v[1], v[2])
}

#[test]
fn default_synthesis_lifts_scarce_classes_on_untouched_pixels_and_shuffled_labels_do_not() {
    let t = TestDir::new();
    let (trained, svm, rf) = lift(&t, "default", false, &[]);
    eprintln!("scarce-class F1 lift: {trained:+.2} points (SVM {svm:+.2}, random forest {rf:+.2})");
    let (broken, svm_b, rf_b) = lift(&t, "shuffled", true, &[]);
    eprintln!("shuffled labels: {broken:+.2} points (SVM {svm_b:+.2}, random forest {rf_b:+.2})");
    assert!(trained >= MIN_LIFT_POINTS, "lift {trained:+.2} points below {MIN_LIFT_POINTS}");
    assert!(broken < MIN_LIFT_POINTS, "a generator of shuffled labels passes too: {broken:+.2}");
}

/// The least lift (as [`MIN_LIFT_POINTS`]) the exemplar GAN (`--generator dagan`) must
/// give with its defaults: measured +1.37 (SVM +0.78, random forest +1.95), where an
/// untrained one (one step) gives +0.31 and one trained on shuffled labels -0.05 (measured
/// once; not run here, to spare CI four minutes). It misses the default generator's bar of
/// 2.0, which is one reason the exemplar model stays the default (docs/TRAINING.md).
const MIN_DAGAN_LIFT_POINTS: f64 = 1.0;

/// The exemplar GAN with its default settings (4000 steps, about 85 s a model) lifts the
/// scarce classes; an untrained one misses the same bar.
#[test]
fn the_exemplar_gan_lifts_scarce_classes_and_an_untrained_one_does_not() {
    let t = TestDir::new();
    let (trained, svm, rf) = lift(&t, "dagan", false, &["--generator", "dagan"]);
    eprintln!("exemplar GAN: {trained:+.2} points (SVM {svm:+.2}, random forest {rf:+.2})");
    let (untrained, svm_u, rf_u) = lift(&t, "dagan_untrained", false, &["--generator", "dagan", "--steps", "1"]);
    eprintln!("untrained: {untrained:+.2} points (SVM {svm_u:+.2}, random forest {rf_u:+.2})");
    assert!(trained >= MIN_DAGAN_LIFT_POINTS, "lift {trained:+.2} points below {MIN_DAGAN_LIFT_POINTS}");
    assert!(untrained < MIN_DAGAN_LIFT_POINTS, "an untrained exemplar GAN passes too: {untrained:+.2}");
}

/// The default model saw every given pixel, so `augment`'s report fits its recipe again
/// without a test share and scores that: a recipe that helps is said to help, one that
/// hurts is said to hurt.
#[test]
fn augment_checks_the_recipe_of_a_model_made_from_every_pixel_on_pixels_held_out_of_a_refit() {
    let t = TestDir::new();
    let cube = sample("salinasA.tif");
    let verdict = |name: &str, labels: &str, recipe: &[&str], keep: &[&str]| {
        let model = format!("{name}.onnx");
        let train = ["train", "spectral", "--cube", &cube, "--labels", labels, "--out", &model, "-q"];
        t.ok(&t.run(&[&train[..], recipe].concat()));
        let args = ["augment", "--model", &model, "--cube", &cube, "--labels", labels, "--out", name, "--target-per-class", "200"];
        let out = t.run(&[&args[..], keep].concat());
        t.ok(&out);
        let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(t.join(&format!("{name}/run.json"))).unwrap()).unwrap();
        assert_eq!(run["details"]["report_scores"], "the recipe fitted again without a test share", "{name}");
        let summary = std::fs::read_to_string(t.join(&format!("{name}/report/summary.md"))).unwrap();
        assert!(summary.starts_with(&format!("# Quality of the synthetic spectra of {model}'s recipe, fitted again without")), "{summary}");
        out.stderr
    };
    // The default recipe, the scarce classes thinned to 10 pixels by `train spectral`, so
    // that the fifth the refit holds out comes from every labelled pixel (measured: 0.966
    // with the synthetic spectra against 0.909 without).
    let thin = thin_scarce();
    let good = verdict("default", &sample("salinasA_gt.tif"), &["--thin", &thin], &[]);
    assert!(good.contains("mean F1 of the augmented classes on test pixels held out of the recipe fitted again"), "{good}");
    assert!(!good.contains("do not help"), "{good}");
    // Values varied additively with a spread of 4, every spectrum kept, on a label raster
    // already thinned, whose scarce classes keep 2 pixels each out of the refit: the
    // report's classifiers then lose.
    let (train, _) = training_split(1);
    let thinned = write_labels(&t, "train_gt.tif", &train);
    let bad = verdict("wide", &thinned, &["--linear", "--spread", "4"], &["--keep-all"]);
    assert!(bad.contains("the synthetic spectra do not help: mean F1 of the augmented classes on test pixels held out"), "{bad}");
}

#[test]
fn the_exported_exemplar_model_computes_what_the_model_samples_and_passes_onnx_checker() {
    use hypersynth_onnx::{Input, OnnxSession, SessionOptions};
    use hypersynth_spectral::{ExemplarConfig, ExemplarModel};
    use rand_distr::{Distribution, StandardNormal};
    let t = TestDir::new();
    // Three classes of 5-band spectra, one of them scarce (3 spectra).
    let counts = [40usize, 25, 3];
    let mut rows = Vec::new();
    let mut classes = Vec::new();
    for (c, &n) in counts.iter().enumerate() {
        for i in 0..n {
            rows.extend((0..5).map(|b| (100 * (c + 1) + 7 * b) as f32 + ((i * 13 + b * 5) % 11) as f32));
            classes.push(c as u32);
        }
    }
    let x = ndarray::Array2::from_shape_vec((classes.len(), 5), rows).unwrap();
    let path = t.join("exemplar.onnx");
    crate::support::runtime();
    // The default borrows nothing (no pooled factor in the graph); own weight 0.5 borrows.
    // The default varies logarithms; --linear the values.
    for (own_weight, log_space) in [(1.0, true), (0.5, true), (1.0, false), (0.5, false)] {
        let config = ExemplarConfig { brightness: 0.05, own_rows: 8, pooled_rows: 16, own_weight, log_space, ..ExemplarConfig::default() };
        let model = ExemplarModel::fit(x.view(), &classes, 3, &config).unwrap();
        let proto = hypersynth_models::export::exemplar_generator(&model, &[], "test").unwrap();
        std::fs::write(&path, hypersynth_onnx_format::encode_model(&proto)).unwrap();
        let n = 60;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let z = ndarray::Array2::from_shape_fn((n, model.latent()), |_| StandardNormal.sample(&mut rng));
        let class_index = ndarray::Array1::from_shape_fn(n, |i| (i % 3) as i64);
        let mut session = OnnxSession::open(&path, &SessionOptions::default()).unwrap();
        let z32 = z.mapv(|v: f64| v as f32);
        let onnx = session
            .run(vec![("z", Input::F32(z32.view().into_dyn())), ("class_index", Input::I64(class_index.view().into_dyn()))])
            .unwrap()
            .remove(0);
        assert_eq!(onnx.shape(), &[n, 5]);
        let mut worst = 0f64;
        for i in 0..n {
            let expected = model.sample(i % 3, &z.row(i).mapv(|v| f64::from(v as f32)).to_vec());
            for b in 0..5 {
                worst = worst.max((f64::from(onnx[[i, b]]) - expected[b]).abs() / expected[b].abs().max(1.0));
            }
        }
        assert!(worst < 1e-4, "own weight {own_weight}, log space {log_space}: max relative |ONNX - model| = {worst}");
        let exps = proto
            .graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .filter(|n| n.name.as_deref() == Some("spectra") && n.op_type.as_deref() == Some("Exp"))
            .count();
        assert_eq!(exps, usize::from(log_space), "a model of logarithms ends by exponentiating");
        let factors = proto.graph.as_ref().unwrap().initializer.iter().filter(|t| t.name.as_deref() == Some("ex.pooled")).count();
        assert_eq!(factors, usize::from(own_weight < 1.0), "the pooled factor is exported only when it weighs");
    }
    let script = "import sys, onnx\nonnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)\nprint('ok')";
    assert_eq!(python_check(script, &[&path]), "ok");
}

/// Per synthetic row of an `augmented.parquet`, checked with scikit-learn: is its nearest
/// real row (bands standardised by the real rows) of another class by a clear margin?
/// Prints that count, the synthetic rows, and the run record's generated and candidate totals.
const NEAREST: &str = r#"
import sys, json, numpy as np, pyarrow.parquet as pq
from sklearn.neighbors import NearestNeighbors
table, run = sys.argv[1:3]
t = pq.read_table(table).to_pandas()
bands = [c for c in t.columns if c not in ("class_id", "class_name", "source", "scene", "row", "col")]
real, fake = t[t.source == "real"], t[t.source != "real"]
x = real[bands].to_numpy(np.float64)
mean, sd = x.mean(0), x.std(0)
sd[sd == 0] = 1
z = lambda a: (a[bands].to_numpy(np.float64) - mean) / sd
wrong = 0
for c in sorted(fake.class_id.unique()):
    own = NearestNeighbors(n_neighbors=1).fit(z(real[real.class_id == c])).kneighbors(z(fake[fake.class_id == c]))[0][:, 0]
    other = NearestNeighbors(n_neighbors=1).fit(z(real[real.class_id != c])).kneighbors(z(fake[fake.class_id == c]))[0][:, 0]
    wrong += int((own > other * (1 + 1e-4)).sum())
d = json.load(open(run))["details"]
print(wrong, len(fake), sum(d["generated"].values()), sum(d["candidates"].values()))
"#;

#[test]
fn augment_writes_only_spectra_nearest_a_real_spectrum_of_their_own_class_unless_told_to_keep_all() {
    let t = TestDir::new();
    let (cube, truth) = (sample("salinasA.tif"), sample("salinasA_gt.tif"));
    let thin = thin_scarce();
    // A wide spread, so that some variations reach other classes.
    t.ok(&t.run(&["train", "spectral", "--cube", &cube, "--labels", &truth, "--out", "m.onnx", "--thin", &thin, "--spread", "2", "-q"]));
    let check = |out: &str, extra: &[&str]| -> Vec<usize> {
        let args = [&["augment", "--model", "m.onnx", "--cube", &cube, "--labels", &truth, "--out", out][..], extra].concat();
        t.ok(&t.run(&[&args[..], &["--target-per-class", "200", "--no-report", "-q"]].concat()));
        let table = t.join(&format!("{out}/augmented.parquet"));
        let printed = python_check(NEAREST, &[&table, &t.join(&format!("{out}/run.json"))]);
        printed.split_whitespace().map(|s| s.parse().unwrap()).collect()
    };
    let all = check("all", &["--keep-all"]);
    let (wrong, rows, generated, candidates) = (all[0], all[1], all[2], all[3]);
    eprintln!("--keep-all: {wrong} of {rows} spectra nearest another class");
    assert!(wrong * 50 > rows, "with --keep-all, {wrong} of {rows} spectra nearest another class: too few for the check to mean anything");
    assert_eq!((generated, candidates), (rows, rows), "--keep-all writes what it generates");
    let kept = check("kept", &[]);
    let (wrong, rows, generated, candidates) = (kept[0], kept[1], kept[2], kept[3]);
    eprintln!("default: {wrong} of {rows} spectra nearest another class; {candidates} generated");
    assert_eq!(wrong, 0, "{wrong} of {rows} written spectra lie nearest another class's real spectra");
    assert_eq!(generated, rows);
    assert!(candidates > rows && rows * 10 > all[1] * 9, "{rows} kept of {candidates} generated (at least 90 % of the {} wanted)", all[1]);
}
