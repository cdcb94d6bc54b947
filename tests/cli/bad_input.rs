//! Bad and unusual input across every command, table-driven: each case must exit with the
//! expected code, print exactly one `error:` line naming the file or option and the
//! problem, never panic, leave nothing behind and leave every input byte-identical.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hypersynth_data::Cube;

use crate::support::{TestDir, sample, translate};

/// One refused command: its arguments, exit code, and what its `error:` line must hold.
struct Case {
    args: &'static str,
    code: i32,
    culprit: &'static str,
    problem: &'static str,
}

const fn case(args: &'static str, code: i32, culprit: &'static str, problem: &'static str) -> Case {
    Case { args, code, culprit, problem }
}

/// `$DATA` in a case's arguments is `--cube cube.tif --labels gt.tif --classes classes.csv`;
/// `$FUSE` is `fuse --model dmg.onnx --pre pre.tif --post post.tif`; `$SR` is
/// `super-resolve --model sr.onnx --input cube.tif`; `$P2P` is `train pix2pix --pre pre.tif
/// --post post.tif --target target.tif`; `$CG` is `train cyclegan --domain-a cube.tif
/// --domain-b post.tif --scale 2`. Exit 2 is clap's bad usage, 1 a refusal by hypersynth.
const CASES: &[Case] = &[
    // --- outputs that would replace an input -------------------------------------------
    case("train spectral $DATA --out gt.tif", 1, "gt.tif", "would replace an input"),
    case("train spectral $DATA --out cube.tif", 1, "cube.tif", "would replace an input"),
    case("train spectral $DATA --out classes.csv", 1, "classes.csv", "would replace an input"),
    case("train spectral $DATA --out ./sub/../gt.tif", 1, "gt.tif", "would replace an input"),
    case("train spectral $DATA --out cube_link.tif", 1, "cube_link.tif", "would replace an input"),
    case("train spectral $DATA --out gt_hard.tif", 1, "gt_hard.tif", "would replace an input"),
    case(
        "train spectral --cube cube.tif --labels gt.tif --classes cls.metrics.csv --out cls.onnx",
        1,
        "cls.metrics.csv",
        "would replace an input",
    ),
    case("train spectral --cube cube.tif --labels gt.tif --classes m.run.json --out m.onnx", 1, "m.run.json", "would replace an input"),
    case("train spectral $DATA --out sub", 1, "sub", "output is a folder"),
    case("train spectral $DATA --out nowhere/m.onnx", 1, "nowhere/m.onnx", "does not exist"),
    case("$P2P --out pre.tif", 1, "pre.tif", "would replace an input"),
    case("$P2P --out target.tif", 1, "target.tif", "would replace an input"),
    case(
        "train pix2pix --pre pre.tif --post post.tif --target post.run.json --out post.onnx",
        1,
        "post.run.json",
        "would replace an input",
    ),
    case("$CG --out cube.tif", 1, "cube.tif", "would replace an input"),
    case("$CG --out post.tif", 1, "post.tif", "would replace an input"),
    case("$FUSE --out pre.tif", 1, "pre.tif", "would replace an input"),
    case("$FUSE --out post.tif", 1, "post.tif", "would replace an input"),
    case("$FUSE --out dmg.onnx", 1, "dmg.onnx", "would replace an input"),
    case("fuse --model dmg.onnx --pre x.mask.tif --post post.tif --out x.tif --threshold 0.5", 1, "x.mask.tif", "would replace an input"),
    case("$FUSE --out sub", 1, "sub", "output is a folder"),
    case("$SR --out cube.tif", 1, "cube.tif", "would replace an input"),
    case("$SR --out sr.onnx", 1, "sr.onnx", "would replace an input"),
    case("$SR --out post.tif --reference post.tif", 1, "post.tif", "would replace an input"),
    case(
        "augment --model m.onnx --table aug/synthetic.parquet --out aug --target-per-class 300",
        1,
        "synthetic.parquet",
        "would replace an input",
    ),
    case("augment --model m.onnx $DATA --out m.onnx --target-per-class 300", 1, "m.onnx", "output folder is a file"),
    case("report $DATA --synthetic rep/report/synthetic.parquet --out rep", 1, "synthetic.parquet", "which this command writes"),
    case("convert cube.tif cube.tif --overwrite", 1, "cube.tif", "would replace an input"),
    case("classify $DATA --scene cube.tif --out cube.tif", 1, "cube.tif", "would replace an input"),
    case("classify $DATA --scene cube.tif --out gt.tif", 1, "gt.tif", "would replace an input"),
    case("classify $DATA --scene cube.tif --out c.tif --check c.confusion.csv", 1, "c.confusion.csv", "would replace an input"),
    case("convert cube.tif cube_link.tif --overwrite", 1, "cube_link.tif", "would replace an input"),
    // --- numbers out of range, refused where they are parsed ----------------------------
    case("train spectral $DATA --out n.onnx --generator-widths 0", 2, "--generator-widths", "at least 1"),
    case("train spectral $DATA --out n.onnx --generator-widths 128,0", 2, "--generator-widths", "at least 1"),
    case("train spectral $DATA --out n.onnx --discriminator-widths 0", 2, "--discriminator-widths", "at least 1"),
    case(
        "train spectral $DATA --out n.onnx --loss wasserstein",
        2,
        "--loss",
        "unknown loss \"wasserstein\" (expected minimax, non-saturating, wgan-clip",
    ),
    case("train spectral $DATA --out n.onnx --lr-g NaN", 2, "--lr-g", "finite number above 0"),
    case("train spectral $DATA --out n.onnx --lr-g inf", 2, "--lr-g", "finite number above 0"),
    case("train spectral $DATA --out n.onnx --lr-d=-1", 2, "--lr-d", "finite number above 0"),
    case("train spectral $DATA --out n.onnx --steps 0", 2, "--steps", "at least 1"),
    case("train spectral $DATA --out n.onnx --batch-size 1", 2, "--batch-size", "at least 2"),
    case("train spectral $DATA --out n.onnx --d-steps 0", 2, "--d-steps", "at least 1"),
    case("train spectral $DATA --out n.onnx --latent 0", 2, "--latent", "at least 1"),
    case("train spectral $DATA --out n.onnx --components 0", 2, "--components", "at least 1"),
    case("train spectral $DATA --out n.onnx --validation 1", 2, "--validation", "less than 1"),
    case("train spectral $DATA --out n.onnx --test=-0.1", 2, "--test", "at least 0"),
    case("train spectral $DATA --out n.onnx --ema 1", 2, "--ema", "less than 1"),
    case("train spectral $DATA --out n.onnx --label-smoothing 1.5", 2, "--label-smoothing", "less than 1"),
    case("train spectral $DATA --out n.onnx --instance-noise NaN", 2, "--instance-noise", "finite number of at least 0"),
    case("train spectral $DATA --out n.onnx --feature-matching=-1", 2, "--feature-matching", "finite number of at least 0"),
    case("train spectral $DATA --out n.onnx --aux-classifier inf", 2, "--aux-classifier", "finite number of at least 0"),
    case("train spectral $DATA --out n.onnx --thin 1=x", 2, "--thin", "bad count"),
    case("train spectral $DATA --out n.onnx --thin 99=5", 1, "--thin", "class 99"),
    case("train spectral $DATA --out n.onnx --validation 0.6 --test 0.5", 1, "--validation", "nothing to train on"),
    case("train spectral $DATA --out n.onnx --threads 0", 2, "--threads", "at least 1"),
    case("augment --model nan.onnx $DATA --out a2 --target-per-class 3000", 1, "nan.onnx", "values that are not numbers"),
    case("augment --model m.onnx $DATA --out a2 --target-per-class 0", 2, "--target-per-class", "at least 1"),
    case("augment --model m.onnx $DATA --out a2 --target-per-class 300 --batch 0", 2, "--batch", "at least 1"),
    case("report $DATA --synthetic foreign_class.csv --out r2", 1, "foreign_class.csv", "class 99, which the real spectra do not have"),
    case("report $DATA --synthetic aug/synthetic.parquet --out r2 --test 1", 2, "--test", "above 0 and less than 1"),
    case("report $DATA --synthetic aug/synthetic.parquet --out r2 --test 0", 2, "--test", "above 0 and less than 1"),
    case("report $DATA --synthetic aug/synthetic.parquet --model m.onnx --out r2", 1, "m.onnx", "made from every labelled pixel"),
    case("report $DATA --synthetic aug/synthetic.parquet --out r2 --max-rows-per-class 0", 2, "--max-rows-per-class", "at least 2"),
    case("report $DATA --synthetic aug/synthetic.parquet --out r2 --max-rows-per-class 1", 2, "--max-rows-per-class", "at least 2"),
    case("$FUSE --out d.tif --threshold 1.5", 2, "--threshold", "between 0 and 1"),
    case("$FUSE --out d.tif --threshold NaN", 2, "--threshold", "between 0 and 1"),
    case("$FUSE --out d.tif --tile 0", 2, "--tile", "at least 1"),
    case("$FUSE --out d.tif --batch 0", 2, "--batch", "at least 1"),
    case("$FUSE --out d.tif --tile 32 --overlap 16", 1, "overlap", "less than half"),
    case("$SR --out hr.tif --scale 1", 2, "--scale", "at least 2"),
    case("$SR --out hr.tif --tile 32 --overlap 4 --reference small.tif", 1, "small.tif", "but the super-resolved scene has"),
    case("$P2P --out p.onnx --holdout 0", 2, "--holdout", "above 0 and less than 1"),
    case("$P2P --out p.onnx --holdout 1", 2, "--holdout", "above 0 and less than 1"),
    case("$P2P --out p.onnx --lr 0", 2, "--lr", "finite number above 0"),
    case("$P2P --out p.onnx --dropout 1", 2, "--dropout", "less than 1"),
    case("$P2P --out p.onnx --l1-weight NaN", 2, "--l1-weight", "finite number of at least 0"),
    case("$CG --out c.onnx --lr NaN", 2, "--lr", "finite number above 0"),
    case("train cyclegan --domain-a cube.tif --domain-b post.tif --scale 1 --out c.onnx", 2, "--scale", "at least 2"),
    case("run job_steps.toml --scenes-at-once 0", 2, "--scenes-at-once", "at least 1"),
    // --- labels and class tables ------------------------------------------------------
    case("train spectral --cube cube.tif --labels three_band.tif --out n.onnx", 1, "three_band.tif", "one band"),
    case("info cube.tif --labels three_band.tif", 1, "three_band.tif", "one band"),
    case("train spectral --cube cube.tif --labels gt.tif --classes dup.csv --out n.onnx", 1, "dup.csv", "listed twice"),
    case("train spectral --cube cube.tif --labels gt.tif --classes empty.csv --out n.onnx", 1, "empty.csv", "lists no classes"),
    case("train spectral --cube cube.tif --labels gt.tif --classes partial.csv --out n.onnx", 1, "gt.tif", "does not name"),
    case("train spectral --cube cube.tif --labels gt.tif --classes no_header.csv --out n.onnx", 1, "no_header.csv", "needs a header"),
    case("train spectral --cube no_data.tif --labels gt.tif --out n.onnx", 1, "no_data.tif", "holds no data"),
    case("report $DATA --synthetic no_rows.csv --out r2", 1, "no_rows.csv", "no labelled synthetic spectra"),
    case("models inspect bare.onnx", 1, "bare.onnx", "does not meet its contract"),
    case("classify --table no_rows.csv --scene cube.tif --out c.tif", 1, "no_rows.csv", "no labelled spectra"),
    case("classify --table one_spectrum.csv --scene cube.tif --out c.tif", 1, "one_spectrum.csv", "class 2 (class_2) has one spectrum"),
    case("classify --table far_bands.csv --scene cube.tif --out c.tif", 1, "cube.tif", "no band in common"),
    case("classify --classifier-file classes.csv --scene cube.tif --out c.tif", 1, "classes.csv", "not a hypersynth classifier file"),
    case(
        "classify --classifier-file torn.classifier.json --scene cube.tif --out c.tif",
        1,
        "torn.classifier.json",
        "not a whole classifier",
    ),
    // --- job files ----------------------------------------------------------------------
    case("run job_steps.toml", 1, "job_steps.toml line", "steps must be at least 1"),
    case("run job_overlap.toml", 1, "job_overlap.toml line", "less than half of tile"),
    case("run job_target.toml", 1, "job_target.toml line", "target_per_class must be at least 1"),
    case("run job_threshold.toml", 1, "job_threshold.toml line", "threshold must lie between 0 and 1"),
];

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path.clone());
                files.insert(path, Vec::new());
            } else {
                let bytes = if kind.is_symlink() {
                    std::fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes()
                } else {
                    std::fs::read(&path).unwrap()
                };
                files.insert(path, bytes);
            }
        }
    }
    files
}

/// The arguments of `case`, its placeholders filled in.
fn arguments(case: &Case) -> Vec<String> {
    let text = case
        .args
        .replace("$DATA", "--cube cube.tif --labels gt.tif --classes classes.csv")
        .replace("$FUSE", "fuse --model dmg.onnx --pre pre.tif --post post.tif")
        .replace("$SR", "super-resolve --model sr.onnx --input cube.tif")
        .replace("$P2P", "train pix2pix --pre pre.tif --post post.tif --target target.tif")
        .replace("$CG", "train cyclegan --domain-a cube.tif --domain-b post.tif --scale 2");
    std::iter::once("-q".to_string()).chain(text.split_whitespace().map(String::from)).collect()
}

/// The inputs the cases read: copies of the bundled sample, small models trained on it,
/// links, broken class tables and job files.
fn fixture(t: &TestDir) {
    for (from, to) in
        [("salinasA.tif", "cube.tif"), ("salinasA.tif", "pre.tif"), ("salinasA.tif", "post.tif"), ("salinasA.tif", "x.mask.tif")]
    {
        std::fs::copy(sample(from), t.join(to)).unwrap();
    }
    std::fs::copy(sample("salinasA_gt.tif"), t.join("gt.tif")).unwrap();
    std::fs::copy(sample("classes.csv"), t.join("classes.csv")).unwrap();
    std::fs::copy(sample("classes.csv"), t.join("cls.metrics.csv")).unwrap();
    std::fs::copy(sample("classes.csv"), t.join("post.run.json")).unwrap();
    std::fs::create_dir(t.join("sub")).unwrap();
    std::os::unix::fs::symlink("cube.tif", t.join("cube_link.tif")).unwrap();
    std::fs::hard_link(t.join("gt.tif"), t.join("gt_hard.tif")).unwrap();
    let classes = std::fs::read_to_string(sample("classes.csv")).unwrap();
    let mut rows = classes.lines();
    let header = rows.next().unwrap();
    let first = rows.next().unwrap();
    std::fs::write(t.join("dup.csv"), format!("{classes}{first}\n")).unwrap();
    std::fs::write(t.join("empty.csv"), format!("{header}\n")).unwrap();
    std::fs::write(t.join("partial.csv"), format!("{header}\n{first}\n")).unwrap();
    std::fs::write(t.join("no_header.csv"), classes.lines().skip(1).collect::<Vec<_>>().join("\n")).unwrap();
    // Synthetic spectra of the sample's good bands, of class 99, which its labels lack.
    let meta = Cube::open(t.join("cube.tif")).unwrap().meta().clone();
    let good: Vec<f64> = meta.wavelengths_nm.unwrap().into_iter().zip(&meta.good_bands).filter(|(_, g)| **g).map(|(w, _)| w).collect();
    let foreign = format!(
        "class_id,{}\n99,{}\n",
        good.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(","),
        vec!["0.1"; good.len()].join(",")
    );
    std::fs::write(t.join("foreign_class.csv"), foreign).unwrap();
    std::fs::write(t.join("no_rows.csv"), "class_id,400.0,410.0\n").unwrap();
    std::fs::write(t.join("one_spectrum.csv"), "class_id,400.0,410.0\n1,0.1,0.2\n1,0.2,0.3\n2,0.3,0.1\n").unwrap();
    std::fs::write(t.join("far_bands.csv"), "class_id,3000.0,3010.0\n1,0.1,0.2\n1,0.2,0.3\n2,0.3,0.1\n2,0.4,0.1\n").unwrap();
    // A classifier file whose feature map lacks a principal axis (2 bands by 1 feature).
    let torn = r#"{"card": {"format": "hypersynth-classifier", "version": 1, "software": "a hand", "classes":
        [{"id": 1, "name": "a", "training_count": 1}, {"id": 2, "name": "b", "training_count": 1}],
        "wavelengths_nm": [400.0, 410.0], "trained_on": [], "data_fingerprint": "", "seed": 0},
        "classifier": {"kind": "nearest-neighbours", "classes": [1, 2],
        "features": {"mean": [0.0, 0.0], "std": [1.0, 1.0], "centre": [0.0, 0.0], "axes": [1.0], "features": 1},
        "model": {"nearest-neighbours": {"rows": [0.0, 1.0], "labels": [0, 1]}}}}"#;
    std::fs::write(t.join("torn.classifier.json"), torn).unwrap();
    std::fs::copy(sample("classes.csv"), t.join("c.confusion.csv")).unwrap();
    translate(t, &["-b", "1", "-b", "1", "-b", "1"], "gt.tif", "three_band.tif");
    translate(t, &["-srcwin", "0", "0", "10", "10"], "cube.tif", "small.tif");
    translate(t, &["-scale", "-32768", "32767", "0", "0", "-a_nodata", "0"], "cube.tif", "no_data.tif");
    std::fs::write(t.join("bare.onnx"), crate::tiny_model::bytes(false)).unwrap();
    damage_target(t);

    let train = |args: &[&str]| t.ok(&t.run(&[&["-q"][..], args].concat()));
    train(&[
        "train",
        "spectral",
        "--cube",
        "cube.tif",
        "--labels",
        "gt.tif",
        "--classes",
        "classes.csv",
        "--out",
        "m.onnx",
        "--steps",
        "5",
    ]);
    train(&["train", "pix2pix", "--pre", "pre.tif", "--post", "post.tif", "--target", "target.tif", "--out", "dmg.onnx", "--steps", "1"]);
    train(&["train", "cyclegan", "--domain-a", "cube.tif", "--domain-b", "post.tif", "--scale", "2", "--out", "sr.onnx", "--steps", "1"]);
    train(&["augment", "--model", "m.onnx", "--cube", "cube.tif", "--labels", "gt.tif", "--out", "aug", "--balance", "--no-report"]);
    // m.onnx whose output is multiplied by NaN (the onnx package as the second writer).
    crate::support::python_check(
        "import sys, numpy as np, onnx; from onnx import helper, numpy_helper\n\
         m = onnx.load(sys.argv[1]); g = m.graph; out = g.output[0].name\n\
         for n in g.node:\n    n.output[:] = [o + '_pre' if o == out else o for o in n.output]\n\
         g.initializer.append(numpy_helper.from_array(np.array([np.nan], dtype=np.float32), 'nan'))\n\
         g.node.append(helper.make_node('Mul', [out + '_pre', 'nan'], [out])); onnx.save(m, sys.argv[2])",
        &[&t.join("m.onnx"), &t.join("nan.onnx")],
    );
    std::fs::create_dir_all(t.join("rep/report")).unwrap();
    std::fs::copy(t.join("aug/synthetic.parquet"), t.join("rep/report/synthetic.parquet")).unwrap();

    let scene = "output = \"out\"\n[[scene]]\npath = \"cube.tif\"\nlabels = \"gt.tif\"\npost = \"post.tif\"\n".to_string();
    for (name, stage) in [
        ("job_steps.toml", "[train]\nsteps = 0\n"),
        ("job_overlap.toml", "[fuse]\nmodel = \"dmg.onnx\"\ntile = 32\noverlap = 16\n"),
        ("job_target.toml", "[augment]\nmodel = \"m.onnx\"\ntarget_per_class = 0\n"),
        ("job_threshold.toml", "[fuse]\nmodel = \"dmg.onnx\"\nthreshold = 2.0\n"),
    ] {
        std::fs::write(t.join(name), format!("{scene}{stage}")).unwrap();
    }
}

/// `target.tif`: the sample's class 1 as a 0/1 damage raster on its grid.
fn damage_target(t: &TestDir) {
    let cube = Cube::open(t.join("cube.tif")).unwrap();
    let labels = hypersynth_data::ClassRaster::read(&t.join("gt.tif"), cube.meta(), None).unwrap();
    crate::support::write_uint8_raster(&t.join("target.tif"), cube.meta(), &labels.ids.mapv(|id| u8::from(id == 1)));
}

#[test]
fn every_bad_input_is_refused_in_one_line_and_changes_nothing() {
    let t = TestDir::new();
    fixture(&t);
    let before = snapshot(t.path());
    let mut failures = Vec::new();
    for case in CASES {
        let args = arguments(case);
        let out = t.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let errors: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
        let after = snapshot(t.path());
        let mut wrong = Vec::new();
        if out.code != Some(case.code) {
            wrong.push(format!("exit {:?}, expected {}", out.code, case.code));
        }
        if errors.len() != 1 || !errors[0].contains(case.culprit) || !errors[0].contains(case.problem) {
            wrong.push(format!("expected one error line with {:?} and {:?}", case.culprit, case.problem));
        }
        if out.stderr.contains("panicked") {
            wrong.push("panicked".into());
        }
        let changed: Vec<String> = before.iter().filter(|(p, b)| after.get(*p) != Some(b)).map(|(p, _)| p.display().to_string()).collect();
        let added: Vec<String> = after.keys().filter(|p| !before.contains_key(*p)).map(|p| p.display().to_string()).collect();
        if !changed.is_empty() {
            wrong.push(format!("inputs changed or removed: {changed:?}"));
        }
        if !added.is_empty() {
            wrong.push(format!("left behind: {added:?}"));
            for path in &added {
                let _ = std::fs::remove_dir_all(path).or_else(|_| std::fs::remove_file(path));
            }
        }
        if !wrong.is_empty() {
            failures.push(format!("hypersynth {}\n  {}\n  stderr: {}", args.join(" "), wrong.join("\n  "), out.stderr.trim()));
        }
    }
    assert!(CASES.len() >= 60, "the suite must keep at least 60 cases");
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), CASES.len(), failures.join("\n\n"));
}

#[test]
fn a_job_whose_product_would_land_on_its_scene_fails_that_task_and_keeps_the_scene() {
    let t = TestDir::new();
    let scene = t.join("out/cube/convert/cube.tif");
    std::fs::create_dir_all(scene.parent().unwrap()).unwrap();
    std::fs::copy(sample("salinasA.tif"), &scene).unwrap();
    std::fs::write(t.join("job.toml"), "output = \"out\"\n[[scene]]\npath = \"out/cube/convert/cube.tif\"\n[convert]\n").unwrap();
    let out = t.run(&["run", "job.toml", "-q"]);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("would replace an input"), "{}", out.stderr);
    assert_eq!(std::fs::read(&scene).unwrap(), std::fs::read(sample("salinasA.tif")).unwrap());
}

#[test]
fn more_threads_than_cores_are_capped_with_a_warning() {
    let t = TestDir::new();
    let out = t.run(&["info", &sample("salinasA.tif"), "--threads", "100000"]);
    t.ok(&out);
    assert!(out.stderr.contains("--threads 100000 is more than this machine's"), "{}", out.stderr);
}
