//! Batch jobs end to end: a job over real scenes and a corrupt file, reruns that skip
//! finished tasks, kills at random moments that a rerun recovers from byte for byte, and
//! job files with mistakes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::{RngExt, SeedableRng};

use crate::support::{TestDir, gdalinfo, python_check, run_json, sample};

/// Writes `job.toml` into `t` with the output root `out`: the bundled SalinasA scene, the
/// first two EnMAP tiles of the shared data set (by a glob, labels by a template) and a
/// truncated copy of SalinasA; stages convert, train (30 steps) and augment (to 300 per
/// class, no report). `None` without the shared data set.
fn job_file(t: &TestDir, out: &str) -> Option<PathBuf> {
    let enmap = hypersynth_data::fixtures::shared_data_dir()?.join("enmap_potsdam");
    let salinas = std::fs::read(sample("salinasA.tif")).unwrap();
    std::fs::write(t.join("corrupt.tif"), &salinas[..salinas.len() / 3]).unwrap();
    let text = format!(
        r#"output = "{out}"
seed = 3

[[scene]]
path = "{salinas}"
labels = "{salinas_gt}"
classes = "{salinas_classes}"

[[scene]]
glob = "{enmap}/images/enmap_potsdam_tile_128_[03]*.tif"
labels = "{enmap}/labels/{{name}}"
classes = "{enmap}/classes.csv"

[[scene]]
path = "corrupt.tif"
labels = "{salinas_gt}"

[convert]

[train]
generator = "gan"
steps = 30

[augment]
target_per_class = 300
report = false
"#,
        salinas = sample("salinasA.tif"),
        salinas_gt = sample("salinasA_gt.tif"),
        salinas_classes = sample("classes.csv"),
        enmap = enmap.display(),
    );
    let path = t.join("job.toml");
    std::fs::write(&path, text).unwrap();
    Some(path)
}

const GOOD_SCENES: [&str; 3] = ["salinasA", "enmap_potsdam_tile_128_0", "enmap_potsdam_tile_128_32"];
const STAGES: [&str; 3] = ["convert", "train", "augment"];

fn counts(out: &Path) -> serde_json::Value {
    run_json(&out.join("job-summary.json"))["counts"].clone()
}

#[test]
fn a_job_finishes_the_good_scenes_reports_the_bad_one_and_a_rerun_skips_finished_tasks() {
    let t = TestDir::new();
    let Some(_) = job_file(&t, "out") else { return };
    let first = t.run(&["run", "job.toml"]);
    assert_eq!(first.code, Some(3), "some tasks failed: exit 3\n{}", first.stderr);
    assert!(
        first.stderr.contains("corrupt convert: failed: ") && first.stderr.contains("corrupt.tif: not a raster GDAL can read"),
        "{}",
        first.stderr
    );
    let out = t.join("out");
    assert_eq!(counts(&out), serde_json::json!({"done": 9, "reused": 0, "failed": 1, "blocked": 2, "not_run": 0}));

    // Every good task's products, read back by other tools.
    for scene in GOOD_SCENES {
        let record = |stage: &str| run_json(&out.join(scene).join(stage).join("run.json"));
        for stage in STAGES {
            assert_eq!(record(stage)["status"], "done", "{scene} {stage}");
        }
        let cog = gdalinfo(&t, &format!("out/{scene}/convert/{scene}.tif"));
        assert_eq!(cog["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"], "COG", "{scene}");
        let synthetic = out.join(scene).join("augment/synthetic.parquet");
        let rows: f64 = python_check("import sys, pyarrow.parquet as pq\nprint(pq.read_metadata(sys.argv[1]).num_rows)", &[&synthetic])
            .parse()
            .unwrap();
        assert_eq!(rows, record("augment")["metrics"]["synthetic_spectra"].as_f64().unwrap(), "{scene}");
        assert!(rows > 0.0, "{scene}");
    }
    let failed = run_json(&out.join("corrupt/convert/run.json"));
    assert_eq!(failed["status"], "failed");
    assert!(!out.join("corrupt/train").exists(), "a blocked task writes nothing");
    // The summary table, read by pyarrow: one row per task.
    let table = python_check(
        "import sys, pyarrow.parquet as pq\nt = pq.read_table(sys.argv[1]).to_pydict()\nprint(len(t['scene']), sorted(set(t['status'])), t['status'][t['scene'].index('corrupt')])",
        &[&out.join("job-summary.parquet")],
    );
    assert_eq!(table, "12 ['blocked', 'done', 'failed'] failed");

    let again = t.run(&["run", "job.toml"]);
    assert_eq!(again.code, Some(3), "{}", again.stderr);
    assert_eq!(counts(&out), serde_json::json!({"done": 9, "reused": 9, "failed": 1, "blocked": 2, "not_run": 0}));
    // A changed option reruns the tasks it concerns and no other.
    let job = std::fs::read_to_string(t.join("job.toml")).unwrap().replace("target_per_class = 300", "target_per_class = 250");
    std::fs::write(t.join("job.toml"), job).unwrap();
    t.run(&["run", "job.toml"]);
    assert_eq!(counts(&out)["reused"], 6);
}

/// The products of every task under `out` (an absolute path; the files its run.json lists,
/// run records aside, as they hold timings), by path relative to `out`, with their hash.
fn products(out: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for scene in GOOD_SCENES {
        for stage in STAGES {
            let record = run_json(&out.join(scene).join(stage).join("run.json"));
            for output in record["outputs"].as_array().unwrap() {
                let path = PathBuf::from(output["path"].as_str().unwrap());
                if !path.to_string_lossy().ends_with("run.json") {
                    found.insert(path.strip_prefix(out).unwrap().display().to_string(), output["sha256"].as_str().unwrap().to_string());
                }
            }
        }
    }
    found
}

/// Runs `job.toml` once, uninterrupted, one scene at a time, and returns its output folder
/// (emptied again) and the products it held. Products record where they came from
/// (paths), so the runs compared with it write into the same folder.
fn reference_run(t: &TestDir) -> (PathBuf, BTreeMap<String, String>) {
    t.run(&["run", "job.toml", "-q"]);
    let out = t.join("out").canonicalize().unwrap();
    let found = products(&out);
    std::fs::remove_dir_all(&out).unwrap();
    (out, found)
}

#[test]
fn a_job_killed_at_random_moments_resumes_to_the_outputs_of_an_uninterrupted_run() {
    let t = TestDir::new();
    let Some(_) = job_file(&t, "out") else { return };
    let started = std::time::Instant::now();
    let (out, whole) = reference_run(&t);
    let uninterrupted = started.elapsed();
    // 3 good scenes x (COG and its STAC Item, model, metrics log, two spectra tables), run
    // records aside; resumed runs must give the same bytes, STAC Items included.
    assert_eq!(whole.len(), 18, "{whole:?}");

    // Kills at seeded moments, as shares of the uninterrupted run's time that add up to
    // less than it, so that work is left for the last run however fast the machine is.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for round in 0..4 {
        let mut child = t.command(&["run", "job.toml", "-q"]).spawn().unwrap();
        let delay = uninterrupted.mul_f64(rng.random_range(0.03..0.22));
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        eprintln!("round {round}: killed after {delay:?}");
    }
    let last = t.run(&["run", "job.toml", "-q"]);
    assert_eq!(last.code, Some(3), "{}", last.stderr);
    let reused = counts(&out)["reused"].as_u64().unwrap();
    assert!(reused < 9, "the kills must leave work for the last run; it reused all {reused} tasks");
    assert_eq!(products(&out), whole, "products after kills differ from an uninterrupted run");
    // Nothing half-written is left beside the products.
    let partial: Vec<String> = t.listing().lines().filter(|l| l.ends_with(".partial")).map(String::from).collect();
    assert!(partial.is_empty(), "{partial:?}");
}

#[test]
fn scenes_run_at_once_give_the_products_of_scenes_run_one_by_one() {
    let t = TestDir::new();
    let Some(_) = job_file(&t, "out") else { return };
    let (out, one_by_one) = reference_run(&t);
    let together = t.run(&["run", "job.toml", "--scenes-at-once", "2", "-q"]);
    assert_eq!(together.code, Some(3), "{}", together.stderr);
    assert_eq!(counts(&out), serde_json::json!({"done": 9, "reused": 0, "failed": 1, "blocked": 2, "not_run": 0}));
    assert_eq!(products(&out), one_by_one);
    // The summary keeps the job file's order of scenes.
    let scenes: Vec<String> = run_json(&out.join("job-summary.json"))["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scene"].as_str().unwrap().to_string())
        .collect();
    let order: Vec<&str> = scenes.iter().step_by(3).map(String::as_str).collect();
    assert_eq!(order, [GOOD_SCENES[0], GOOD_SCENES[1], GOOD_SCENES[2], "corrupt"]);
}

#[test]
fn a_job_file_with_a_mistake_is_refused_naming_the_line() {
    let t = TestDir::new();
    let text = format!("output = \"out\"\n[[scene]]\npath = \"{}\"\n\n[convert]\ncompress = \"lzw\"\n", sample("salinasA.tif"));
    std::fs::write(t.join("job.toml"), text).unwrap();
    t.refused(&t.run(&["run", "job.toml"]), "job.toml line 5", "compress must be deflate or zstd");
    assert!(!t.join("out").exists());
}

#[test]
fn a_job_super_resolves_its_scenes_and_stops_cleanly_on_sigterm() {
    let t = TestDir::new();
    crate::cyclegan::degraded_scenes(&t);
    crate::cyclegan::train(&t, "sr.onnx", &["--steps", "1"]);
    let job = "output = \"out\"\n\n[[scene]]\nglob = \"*lr.tif\"\n\n[super-resolve]\nmodel = \"sr.onnx\"\ntile = 24\noverlap = 4\n";
    std::fs::write(t.join("job.toml"), job).unwrap();
    t.ok(&t.run(&["run", "job.toml"]));
    for (scene, size) in [("eval_lr", [86, 26]), ("lr", [86, 82])] {
        let info = gdalinfo(&t, &format!("out/{scene}/super-resolve/{scene}.tif"));
        assert_eq!(info["size"], serde_json::json!(size), "{scene}");
        assert_eq!(info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"], "COG", "{scene}");
    }
    assert_eq!(counts(&t.join("out")), serde_json::json!({"done": 2, "reused": 0, "failed": 0, "blocked": 0, "not_run": 0}));

    // SIGTERM while the first of seven scenes is being super-resolved: the task at hand
    // finishes, no further one starts, and the exit code says the job was stopped.
    let every = "output = \"all\"\n\n[[scene]]\nglob = \"*.tif\"\n\n[super-resolve]\nmodel = \"sr.onnx\"\ntile = 24\noverlap = 4\n";
    std::fs::write(t.join("every.toml"), every).unwrap();
    let mut child = t.command(&["run", "every.toml", "-q"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !t.listing().contains(".partial") {
        assert!(std::time::Instant::now() < deadline, "no task started\n{}", t.listing());
        std::thread::sleep(Duration::from_millis(5));
    }
    let ok = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
    assert_eq!(child.wait().unwrap().code(), Some(4));
    let c = counts(&t.join("all"));
    let (done, not_run) = (c["done"].as_u64().unwrap(), c["not_run"].as_u64().unwrap());
    assert!(done >= 1 && not_run >= 1 && done + not_run == 7, "{c}");
}

#[test]
fn a_pooled_train_stage_makes_one_model_over_every_scene_that_each_scene_augments_with() {
    let t = TestDir::new();
    let Some(data) = hypersynth_data::fixtures::shared_data_dir() else { return };
    let enmap = data.join("enmap_potsdam");
    let tiles = ["enmap_potsdam_tile_128_0", "enmap_potsdam_tile_128_32"];
    let job = format!(
        "output = \"out\"\nseed = 3\n\n[[scene]]\nglob = \"{enmap}/images/enmap_potsdam_tile_128_[03]*.tif\"\nlabels = \"{enmap}/labels/{{name}}\"\nclasses = \"{enmap}/classes.csv\"\n\n[train]\npooled = true\n\n[augment]\ntarget_per_class = 50\nreport = false\n",
        enmap = enmap.display()
    );
    std::fs::write(t.join("job.toml"), job).unwrap();
    // Both scenes at once: both reach the pooled task; one trains, the other waits and
    // finds it done.
    t.ok(&t.run(&["run", "job.toml", "--scenes-at-once", "2", "-q"]));
    let summary = run_json(&t.join("out/job-summary.json"));
    assert_eq!(summary["counts"]["done"], 4, "{summary}");
    assert_eq!(summary["counts"]["reused"], 1, "one scene's train row finds the pooled model made: {summary}");
    let pooled = run_json(&t.join("out/_pooled/train/run.json"));
    assert_eq!((pooled["status"].as_str(), pooled["scene"].as_str()), (Some("done"), Some("_pooled")));
    let inputs: Vec<&str> = pooled["inputs"].as_array().unwrap().iter().map(|i| i["path"].as_str().unwrap()).collect();
    for tile in tiles {
        assert!(!t.join(&format!("out/{tile}/train")).exists(), "no per-scene model");
        for folder in ["images", "labels"] {
            assert!(inputs.iter().any(|p| p.ends_with(&format!("{folder}/{tile}.tif"))), "{folder} of {tile} in {inputs:?}");
        }
        let augment = run_json(&t.join(&format!("out/{tile}/augment/run.json")));
        assert!(augment["inputs"][0]["path"].as_str().unwrap().ends_with("out/_pooled/train/model.onnx"), "{augment}");
    }
    // The pooled model is the one `train spectral` makes from the same two scenes.
    let tile = |folder: &str, name: &str| enmap.join(folder).join(format!("{name}.tif")).display().to_string();
    let classes = enmap.join("classes.csv").display().to_string();
    let (cube_a, labels_a, cube_b, labels_b) =
        (tile("images", tiles[0]), tile("labels", tiles[0]), tile("images", tiles[1]), tile("labels", tiles[1]));
    let args = ["train", "spectral", "--cube", &cube_a, "--labels", &labels_a, "--cube", &cube_b, "--labels", &labels_b];
    t.ok(&t.run(&[&args[..], &["--classes", &classes, "--seed", "3", "--out", "cli.onnx", "-q"]].concat()));
    assert!(std::fs::read(t.join("cli.onnx")).unwrap() == std::fs::read(t.join("out/_pooled/train/model.onnx")).unwrap(), "the same model");

    // A rerun finds everything done.
    t.ok(&t.run(&["run", "job.toml", "-q"]));
    assert_eq!(run_json(&t.join("out/job-summary.json"))["counts"]["reused"], 4);
}

#[test]
fn a_job_fuses_each_scene_with_its_post_event_scene() {
    let t = TestDir::new();
    let Some(damage) = crate::pix2pix::Damage::find() else { return };
    damage.train(&t, "damage.onnx", "1");
    let job = format!(
        "output = \"out\"\n\n[[scene]]\npath = \"{}\"\npost = \"{}\"\nid = \"burn\"\n\n[fuse]\nmodel = \"damage.onnx\"\ntile = 32\noverlap = 8\nsamples = 3\nthreshold = 0.5\n",
        damage.pre, damage.post
    );
    std::fs::write(t.join("job.toml"), job).unwrap();
    t.ok(&t.run(&["run", "job.toml", "-q"]));
    let record = run_json(&t.join("out/burn/fuse/run.json"));
    assert_eq!(record["status"], "done");
    let outputs: Vec<&str> = record["outputs"].as_array().unwrap().iter().map(|o| o["path"].as_str().unwrap()).collect();
    assert!(outputs.iter().any(|p| p.ends_with("burn.tif")) && outputs.iter().any(|p| p.ends_with("burn.mask.tif")), "{outputs:?}");
    assert_eq!(gdalinfo(&t, "out/burn/fuse/burn.mask.tif")["size"], serde_json::json!([86, 83]));
    // Three dropout passes: the mean and its uncertainty band.
    assert_eq!(gdalinfo(&t, "out/burn/fuse/burn.tif")["bands"][1]["description"], "uncertainty");

    // A scene without `post` is refused when the job is read.
    let job = format!("output = \"out\"\n[[scene]]\npath = \"{}\"\n[fuse]\nmodel = \"damage.onnx\"\n", damage.pre);
    std::fs::write(t.join("job.toml"), job).unwrap();
    t.refused(&t.run(&["run", "job.toml"]), "job.toml line 4", "has no `post`");
}

#[test]
fn a_job_maps_each_scene_with_a_classifier_fitted_on_its_augmented_spectra() {
    let t = TestDir::new();
    let job = format!(
        "output = \"out\"\nseed = 2\n\n[[scene]]\npath = \"{}\"\nlabels = \"{}\"\nclasses = \"{}\"\nid = \"salinas\"\n\n[train]\n\n\
         [augment]\ntarget_per_class = 400\nreport = false\n\n[classify]\nclassifier = \"random-forest\"\n",
        sample("salinasA.tif"),
        sample("salinasA_gt.tif"),
        sample("classes.csv")
    );
    std::fs::write(t.join("job.toml"), job).unwrap();
    t.ok(&t.run(&["run", "job.toml", "-q"]));
    let record = run_json(&t.join("out/salinas/classify/run.json"));
    assert_eq!(record["status"], "done", "{record}");
    assert!(record["inputs"][0]["path"].as_str().unwrap().ends_with("out/salinas/augment/augmented.parquet"), "{record}");
    assert_eq!(record["parameters"]["classifier"], "random-forest");
    let info = gdalinfo(&t, "out/salinas/classify/salinas.tif");
    assert_eq!(info["bands"][0]["categories"][13], "Lettuce_romaine_6wk", "{}", info["bands"][0]);
    // The classifier file says what it was fitted on: the augmented table, 400 spectra of
    // each class below 400 and every real pixel of the others.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.join("out/salinas/classify/salinas.classifier.json")).unwrap()).unwrap();
    assert!(saved["card"]["classes"].as_array().unwrap().iter().all(|c| c["training_count"].as_u64().unwrap() >= 400), "{}", saved["card"]);
    assert_eq!(saved["classifier"]["kind"], "random-forest");
    t.ok(&t.run(&["run", "job.toml", "-q"]));
    assert_eq!(run_json(&t.join("out/job-summary.json"))["counts"]["reused"], 3, "a rerun finds every task done");

    // An unknown classifier is refused when the job is read, naming its line.
    std::fs::write(t.join("bad.toml"), std::fs::read_to_string(t.join("job.toml")).unwrap().replace("random-forest", "lda")).unwrap();
    t.refused(&t.run(&["run", "bad.toml", "-q"]), "bad.toml line", "classifier must be one of random-forest, rbf-svm, knn");
}

#[test]
fn a_scene_with_every_class_at_the_target_is_augmented_with_nothing_and_the_job_goes_on() {
    let t = TestDir::new();
    // The sample's smallest class has 391 labelled pixels: a target of 100 asks for nothing.
    let job = format!(
        "output = \"out\"\nseed = 2\n\n[[scene]]\npath = \"{}\"\nlabels = \"{}\"\nclasses = \"{}\"\nid = \"salinas\"\n\n[train]\n\n\
         [augment]\ntarget_per_class = 100\nreport = false\n\n[classify]\nclassifier = \"knn\"\n",
        sample("salinasA.tif"),
        sample("salinasA_gt.tif"),
        sample("classes.csv")
    );
    std::fs::write(t.join("job.toml"), job).unwrap();
    let out = t.run(&["run", "job.toml"]);
    t.ok(&out);
    let stderr = &out.stderr;
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN") && l.contains("nothing to generate")).collect();
    assert_eq!(warnings.len(), 1, "one warning says there is nothing to generate\n{stderr}");
    assert!(warnings[0].contains("target 100 is not above any class's training count"), "{}", warnings[0]);
    let augment = run_json(&t.join("out/salinas/augment/run.json"));
    assert_eq!(augment["status"], "done", "{augment}");
    assert_eq!(augment["metrics"]["synthetic_spectra"], 0.0, "{augment}");
    let rows = python_check(
        "import sys, pandas as pd; print(len(pd.read_parquet(sys.argv[1])))",
        &[&t.join("out/salinas/augment/augmented.parquet")],
    );
    assert_eq!(rows, "5348", "the real spectra, every labelled pixel");
    assert_eq!(run_json(&t.join("out/salinas/classify/run.json"))["status"], "done");
    // The command line still refuses it, with the same sentence.
    let refused = t.run(&[
        "augment",
        "--model",
        "out/salinas/train/model.onnx",
        "--cube",
        &sample("salinasA.tif"),
        "--labels",
        &sample("salinasA_gt.tif"),
        "--out",
        "aug",
        "--target-per-class",
        "100",
    ]);
    t.refused(&refused, "target 100", "is not above any class's training count");
}
