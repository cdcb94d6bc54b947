//! The spectral cGAN end to end: training on the bundled sample with two classes made
//! scarce, ONNX export parity, augmentation, and refusals of bad input.

use std::collections::BTreeMap;
use std::path::Path;

use hypersynth_data::{CogWriter, Compression, Cube, SampleType, read_spectra_table};
use hypersynth_models::rng;
use hypersynth_models::spectral_cgan::{Generator, SpectralCganArchitecture, SpectralCganConfig, class_tensor};
use hypersynth_onnx::{Input, OnnxSession, SessionOptions};
use hypersynth_spectral::{ClassifierKind, Layout, Normaliser, mean_spectrum, spectral_angle_deg};
use ndarray::{Array1, Array2, Axis};

use crate::support::{TestDir, python_check, runtime, sample, sample_args};

/// SalinasA's classes; 1 and 13 are made scarce (25 training pixels each), as in the demo.
const CLASSES: [u32; 6] = [1, 10, 11, 12, 13, 14];

fn train_args(out: &str, steps: &str) -> Vec<String> {
    let mut args = vec!["train".to_string(), "spectral".to_string()];
    args.extend(sample_args(&["--out", out, "--thin", "1=25,13=25", "--steps", steps, "--generator", "gan", "-q"]));
    args
}

/// Held-out test spectra of `class` (from the run's `test_pixel_ids`) and as many
/// generated ones, both in physical units.
fn real_and_synthetic(model: &Path, run_json: &Path, class: u32) -> (Array2<f32>, Array2<f32>) {
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run_json).unwrap()).unwrap();
    let cube = Cube::open(sample("salinasA.tif")).unwrap();
    let block = cube.read(cube.meta().full_window()).unwrap();
    let labels = hypersynth_data::ClassRaster::read(Path::new(&sample("salinasA_gt.tif")), cube.meta(), None).unwrap();
    let cols = cube.meta().cols as u64;
    let rows: Vec<Vec<f32>> = run["details"]["test_pixel_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_u64().unwrap())
        .filter(|id| labels.ids[[(id / cols) as usize, (id % cols) as usize]] == class)
        .map(|id| block.data.slice(ndarray::s![(id / cols) as usize, (id % cols) as usize, ..]).to_vec())
        .collect();
    let n = rows.len();
    let real = Array2::from_shape_vec((n, rows[0].len()), rows.concat()).unwrap();

    runtime();
    let mut session = OnnxSession::open(model, &SessionOptions::default()).unwrap();
    let card = session.card.clone().unwrap();
    let index = card.classes.iter().position(|c| c.id == class).unwrap() as i64;
    let latent = session.inputs[0].shape[1] as usize;
    let z = rng::normal(&mut rng::stream(99, 0, 0), n, latent).unwrap().to_vec2::<f32>().unwrap().concat();
    let z = Array2::from_shape_vec((n, latent), z).unwrap().into_dyn();
    let c = Array1::from_elem(n, index).into_dyn();
    let out = session.run(vec![("z", Input::F32(z.view())), ("class_index", Input::I64(c.view()))]).unwrap();
    (real, out[0].clone().into_dimensionality().unwrap())
}

/// The quality bar, measured on this data (see docs/TRAINING.md), for every class: the
/// spectral angle between the class means of synthetic and held-out real spectra, in
/// degrees, and the balanced accuracy of the report's random forest told to separate them
/// (classifier two-sample test, 5 folds).
const MAX_MEAN_ANGLE_DEG: f64 = 2.0;
const MAX_C2ST: f64 = 0.85;

#[test]
fn trained_generator_matches_every_class_and_an_untrained_one_does_not() {
    let t = TestDir::new();
    let trained = t.run(
        &train_args("trained.onnx", &hypersynth_models::training::TrainConfig::default().steps.to_string())
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    t.ok(&trained);
    let untrained = t.run(&train_args("untrained.onnx", "1").iter().map(String::as_str).collect::<Vec<_>>());
    t.ok(&untrained);
    let mut report = String::new();
    for class in CLASSES {
        let (real, good) = real_and_synthetic(&t.join("trained.onnx"), &t.join("trained.run.json"), class);
        let (_, bad) = real_and_synthetic(&t.join("untrained.onnx"), &t.join("untrained.run.json"), class);
        let angle = |s: &Array2<f32>| {
            spectral_angle_deg(mean_spectrum(real.view()).as_slice().unwrap(), mean_spectrum(s.view()).as_slice().unwrap())
        };
        let c2st = |s: &Array2<f32>| hypersynth_spectral::c2st(real.view(), s.view(), ClassifierKind::RandomForest, 5, 0).unwrap();
        let (good_angle, bad_angle, good_c2st, bad_c2st) = (angle(&good), angle(&bad), c2st(&good), c2st(&bad));
        report.push_str(&format!(
            "class {class} ({} test pixels): angle {good_angle:.2} vs untrained {bad_angle:.2}; C2ST {good_c2st:.2} vs {bad_c2st:.2}\n",
            real.nrows()
        ));
        assert!(good_angle <= MAX_MEAN_ANGLE_DEG && good_c2st <= MAX_C2ST, "{report}");
        assert!(bad_angle > MAX_MEAN_ANGLE_DEG && bad_c2st > MAX_C2ST, "the untrained model must fail the same bar\n{report}");
    }
    eprintln!("{report}");
}

#[test]
fn exported_generator_matches_candle_and_passes_onnx_checker() {
    let t = TestDir::new();
    // The generator learns 20 principal components of 204 bands.
    let config = SpectralCganConfig::new(20, 6, SpectralCganArchitecture { generator_widths: vec![32, 48], ..Default::default() });
    let mut generator = Generator::new(&config, &mut rng::stream(5, 0, 0)).unwrap();
    // A few training-mode passes give BatchNorm running statistics that are not 0/1.
    for step in 0..5 {
        let z = rng::normal(&mut rng::stream(5, 1, step), 64, config.architecture.latent).unwrap();
        let classes: Vec<u32> = (0..64).map(|i| i % 6).collect();
        generator.forward(&z, &class_tensor(&classes).unwrap(), true).unwrap();
    }
    // A principal-component normaliser: a dense basis exercises the whole denormalising
    // Gemm, and the 184 components it leaves out the residual noise.
    let noise = rng::normal(&mut rng::stream(5, 3, 0), 300, 204).unwrap().to_vec2::<f32>().unwrap().concat();
    let spectra = Array2::from_shape_vec((300, 204), noise).unwrap().mapv(|v| 1000.0 + 50.0 * v);
    let normaliser = Normaliser::fit(spectra.view(), Layout::PrincipalComponents(20), 0.05).unwrap();
    let spectra_classes: Vec<u32> = (0..300).map(|i| i % 6).collect();
    let spread = normaliser.residual_spread(spectra.view(), &spectra_classes, 6);
    let proto = hypersynth_models::export::spectral_generator(&generator, &config, &normaliser, &spread, &[], "test").unwrap();
    let path = t.join("parity.onnx");
    std::fs::write(&path, hypersynth_onnx_format::encode_model(&proto)).unwrap();

    let n = 50;
    let z = rng::normal(&mut rng::stream(5, 2, 0), n, config.architecture.latent).unwrap();
    let classes: Vec<u32> = (0..n as u32).map(|i| i % 6).collect();
    let candle = generator.forward(&z, &class_tensor(&classes).unwrap(), false).unwrap().to_vec2::<f32>().unwrap();
    runtime();
    let mut session = OnnxSession::open(&path, &SessionOptions::default()).unwrap();
    let residual = normaliser.residual_axes.nrows();
    let mut run = |noise: &Array2<f32>| {
        let z_gan = Array2::from_shape_vec((n, config.architecture.latent), z.to_vec2::<f32>().unwrap().concat()).unwrap();
        let z_nd = ndarray::concatenate(Axis(1), &[z_gan.view(), noise.view()]).unwrap().as_standard_layout().into_owned().into_dyn();
        let c_nd = Array1::from_iter(classes.iter().map(|&c| i64::from(c))).into_dyn();
        let out = session.run(vec![("z", Input::F32(z_nd.view())), ("class_index", Input::I64(c_nd.view()))]).unwrap().remove(0);
        out.into_dimensionality::<ndarray::Ix2>().unwrap()
    };
    let clean = run(&Array2::zeros((n, residual)));
    // Compared in normalised units: physical values near 1000 carry float32 rounding of
    // about 1e-4 on their own.
    let normalised = normaliser.apply(clean.view());
    let mut worst = 0f64;
    for (i, row) in normalised.axis_iter(Axis(0)).enumerate() {
        for (b, &v) in row.iter().enumerate() {
            worst = worst.max(f64::from(v - candle[i][b]).abs());
        }
    }
    assert!(worst <= 1e-4, "max |ONNX - candle| = {worst} (normalised units)");

    // The residual part of z comes out as noise of each class's spread along the residual axes.
    let noise = Array2::from_shape_fn((n, residual), |(i, k)| ((i * 31 + k * 7) % 13) as f32 / 6.0 - 1.0);
    let along_axes = (&run(&noise) - &clean).mapv(f64::from).dot(&normaliser.residual_axes.t());
    for ((i, k), &v) in along_axes.indexed_iter() {
        let expected = f64::from(noise[[i, k]]) * spread[[classes[i] as usize, k]];
        assert!((v - expected).abs() <= 1e-3 * (1.0 + expected.abs()), "row {i}, residual axis {k}: {v} vs {expected}");
    }

    // The official checker, and ONNX Runtime from Python, accept the file.
    let script = "import sys, onnx, onnxruntime as ort, numpy as np\n\
onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)\n\
s = ort.InferenceSession(sys.argv[1])\n\
out = s.run(None, {'z': np.zeros((3, 216), np.float32), 'class_index': np.array([0, 1, 5])})[0]\n\
print(out.shape)";
    assert_eq!(python_check(script, &[&path]), "(3, 204)");
}

#[test]
fn augment_brings_scarce_classes_to_the_target_and_writes_readable_tables() {
    let t = TestDir::new();
    t.ok(&t.run(&train_args("m.onnx", "30").iter().map(String::as_str).collect::<Vec<_>>()));
    let (cube, labels) = (sample("salinasA.tif"), sample("salinasA_gt.tif"));
    let out = t.run(&[
        "augment",
        "--model",
        "m.onnx",
        "--cube",
        &cube,
        "--labels",
        &labels,
        "--out",
        "aug",
        "--target-per-class",
        "300",
        "--hdf5",
        // A 30-step GAN's spectra mostly lie nearer other classes; the tables are the point here.
        "--keep-all",
        "-q",
    ]);
    t.ok(&out);
    let synthetic = read_spectra_table(&t.join("aug/synthetic.parquet")).unwrap();
    let counts: BTreeMap<u32, usize> = synthetic.counts();
    assert_eq!(counts, BTreeMap::from([(1, 275), (13, 275)]), "25 real + 275 synthetic = 300 each");
    assert_eq!(synthetic.wavelengths_nm.as_ref().unwrap().len(), 204);
    let augmented = read_spectra_table(&t.join("aug/augmented.parquet")).unwrap();
    assert_eq!(augmented.counts()[&1], 300);
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(t.join("aug/run.json")).unwrap()).unwrap();
    assert_eq!(run["status"], "done");
    // synthetic.parquet, augmented.parquet, synthetic.h5 and the report's four files.
    assert_eq!(run["outputs"].as_array().unwrap().len(), 7);
    for file in ["metrics.parquet", "metrics.csv", "summary.md", "report.html"] {
        assert!(t.join("aug/report").join(file).exists(), "{file}\n  {}", t.listing());
    }

    // pyarrow and h5py read what polars and the HDF5 library wrote.
    let script = "import sys, json, pyarrow.parquet as pq, h5py\n\
t = pq.read_table(sys.argv[1])\n\
w = json.loads(pq.read_metadata(sys.argv[1]).metadata[b'hypersynth.wavelengths_nm'])\n\
h = h5py.File(sys.argv[2])\n\
print(t.num_rows, t.column_names[:3], len(w), h['spectra'].shape, sorted(set(t.column('class_name').to_pylist())))\n\
print(h['wavelengths_nm'].attrs['units'], h.attrs['hypersynth.model'], 'units of the input' in h['spectra'].attrs['description'])";
    let seen = python_check(script, &[&t.join("aug/synthetic.parquet"), &t.join("aug/synthetic.h5")]);
    // augment got no --classes: the names come from the model's card.
    assert_eq!(
        seen,
        "550 ['class_id', 'class_name', 'source'] 204 (550, 204) ['Brocoli_green_weeds_1', 'Lettuce_romaine_6wk']\nnm m.onnx True"
    );

    // A reader who does not know our key names finds the wavelengths, their units and the
    // model: in pyarrow's schema metadata, in pandas' DataFrame.attrs and in HDF5 attributes.
    let script = "import sys, pyarrow.parquet as pq, pandas as pd, h5py\n\
def found(keys): return [w for w in ('wavelength', 'unit', 'model') if any(w in k.lower() for k in keys)]\n\
schema = pq.read_table(sys.argv[1]).schema.metadata or {}\n\
h = h5py.File(sys.argv[2]); names = list(h.attrs)\n\
h.visititems(lambda name, item: names.extend([name, *item.attrs]))\n\
print(found([k.decode() for k in schema]), found(pd.read_parquet(sys.argv[1]).attrs), found(names))";
    for table in ["synthetic.parquet", "augmented.parquet"] {
        let seen = python_check(script, &[&t.join("aug").join(table), &t.join("aug/synthetic.h5")]);
        let all = "['wavelength', 'unit', 'model']";
        assert_eq!(seen, format!("{all} {all} {all}"), "{table}");
    }
}

#[test]
fn a_split_by_spatial_blocks_keeps_each_test_block_whole_and_is_recorded() {
    let t = TestDir::new();
    // `hypersynth WORDS --cube ... --labels ... --classes ... REST`.
    let with_sample = |words: &[&str], rest: &[&str]| {
        let args: Vec<String> = words.iter().map(|w| w.to_string()).chain(sample_args(rest)).collect();
        t.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let train = |out: &str, split: &str| with_sample(&["train", "spectral"], &["--out", out, "--split", split, "--test", "0.3", "-q"]);
    let cube = Cube::open(sample("salinasA.tif")).unwrap();
    let labels = hypersynth_data::ClassRaster::read(Path::new(&sample("salinasA_gt.tif")), cube.meta(), None).unwrap();
    let cols = cube.meta().cols;
    let block = |id: u64| ((id as usize / cols) / 8, (id as usize % cols) / 8, labels.ids[[id as usize / cols, id as usize % cols]]);
    let labelled: Vec<u64> = labels.ids.indexed_iter().filter(|(_, l)| **l != 0).map(|((r, c), _)| (r * cols + c) as u64).collect();
    // The test pixels of a run, and the other labelled pixels that share an 8-pixel block
    // with test pixels of their class.
    let test_and_beside = |run: &serde_json::Value| {
        let test: std::collections::BTreeSet<u64> =
            run["details"]["test_pixel_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        let test_blocks: std::collections::BTreeSet<_> = test.iter().map(|&id| block(id)).collect();
        let beside = labelled.iter().filter(|&&id| test_blocks.contains(&block(id)) && !test.contains(&id)).count();
        (test.len(), beside)
    };
    t.ok(&train("m.onnx", "blocks:8"));
    let run = crate::support::run_json(&t.join("m.run.json"));
    assert_eq!(run["parameters"]["split"]["blocks"], 8, "{run}");
    let (tested, beside) = test_and_beside(&run);
    assert_eq!(beside, 0, "training pixels share a block with test pixels of their class");
    assert!(tested as f64 >= 0.3 * labelled.len() as f64, "{tested} of {} labelled pixels", labelled.len());
    // A random split puts test pixels beside training pixels of their class.
    t.ok(&train("r.onnx", "random"));
    let random = crate::support::run_json(&t.join("r.run.json"));
    assert!(random["parameters"]["split"].get("blocks").is_none());
    assert!(test_and_beside(&random).1 > 1000, "{:?}", test_and_beside(&random));
    // augment rebuilds the model's split from its card.
    t.ok(&with_sample(&["augment"], &["--model", "m.onnx", "--out", "aug", "--target-per-class", "1000", "--no-report", "-q"]));
    // report deals its own test pixels by blocks too.
    t.ok(&with_sample(&["report"], &["--synthetic", "aug/synthetic.parquet", "--out", "rep", "--split", "blocks:8", "-q"]));
    assert_eq!(test_and_beside(&crate::support::run_json(&t.join("rep/run.json"))).1, 0);
    // A table states no pixel positions: a block split of it is refused before any work.
    let out = t.run(&["train", "spectral", "--table", "aug/augmented.parquet", "--out", "t.onnx", "--split", "blocks"]);
    t.refused(&out, "augmented.parquet", "needs each spectrum's pixel position");
    assert!(!t.join("t.onnx").exists());
    let out = with_sample(&["train", "spectral"], &["--out", "x.onnx", "--split", "blocks:0"]);
    assert_eq!(out.code, Some(2), "a bad --split is a usage error: {}", out.stderr);
}

#[test]
fn bad_training_and_augmentation_input_is_refused() {
    let t = TestDir::new();
    let (cube, labels) = (sample("salinasA.tif"), sample("salinasA_gt.tif"));
    let thin_to_one =
        t.run(&["train", "spectral", "--cube", &cube, "--labels", &labels, "--out", "m.onnx", "--thin", "13=1", "--steps", "5"]);
    t.refused(&thin_to_one, "class 13", "has 1 training spectra after the split; at least 2 are needed");
    assert!(!t.join("m.onnx").exists());

    t.ok(&t.run(&train_args("m.onnx", "5").iter().map(String::as_str).collect::<Vec<_>>()));
    let below = t.run(&["augment", "--model", "m.onnx", "--cube", &cube, "--labels", &labels, "--out", "aug", "--target-per-class", "10"]);
    t.refused(&below, "target 10", "nothing to generate");
    assert!(!t.join("aug/synthetic.parquet").exists());

    // A cube whose bands differ from the model's: the first 100 bands only.
    let subset = std::process::Command::new("gdal_translate")
        .arg("-q")
        .args((1..=100).flat_map(|b| ["-b".to_string(), b.to_string()]))
        .arg(&cube)
        .arg(t.join("subset.tif"))
        .status()
        .unwrap();
    assert!(subset.success());
    let other = t.run(&["augment", "--model", "m.onnx", "--cube", "subset.tif", "--labels", &labels, "--out", "aug", "--balance"]);
    t.refused(&other, "m.onnx", "its bands (204 bands, 400.00..2490.58 nm) differ from the data's good bands (100 bands");
}

/// A class of one labelled spectrum has no variation to learn: `train spectral` leaves it
/// out with a warning instead of refusing every other class, the card and `run.json` say
/// so, and `augment` leaves the class as it is while its report still recognises the data
/// the model was made from.
#[test]
fn a_class_of_one_labelled_spectrum_is_left_out_of_the_model() {
    let t = TestDir::new();
    let cube = sample("salinasA.tif");
    let meta = Cube::open(&cube).unwrap().meta().clone();
    let mut labels = hypersynth_data::ClassRaster::read(Path::new(&sample("salinasA_gt.tif")), &meta, None).unwrap().ids;
    let mut seen = false;
    labels.mapv_inplace(|id| match id {
        13 if seen => 0,
        13 => {
            seen = true;
            13
        }
        other => other,
    });
    crate::support::write_uint8_raster(&t.join("lone.tif"), &meta, &labels.mapv(|v| v as u8));

    let out = t.run(&["train", "spectral", "--cube", &cube, "--labels", "lone.tif", "--out", "m.onnx"]);
    t.ok(&out);
    assert!(out.stderr.contains("class 13 (class_13) has one labelled spectrum; left out of the model"), "{}", out.stderr);
    let run = crate::support::run_json(&t.join("m.run.json"));
    assert_eq!(run["details"]["left_out_classes"][0]["id"], 13, "{run}");
    runtime();
    let session = OnnxSession::open(&t.join("m.onnx"), &SessionOptions::default()).unwrap();
    let ids: Vec<u32> = session.card.clone().unwrap().classes.iter().map(|c| c.id).collect();
    assert_eq!(ids, [1, 10, 11, 12, 14], "the card's classes");

    let out =
        t.run(&["augment", "--model", "m.onnx", "--cube", &cube, "--labels", "lone.tif", "--out", "aug", "--target-per-class", "400"]);
    t.ok(&out);
    assert!(out.stderr.contains("class 13: not in the model's classes; left as it is"), "{}", out.stderr);
    let run = crate::support::run_json(&t.join("aug/run.json"));
    assert_eq!(run["details"]["report_scores"], "the recipe fitted again without a test share", "{run}");
    let synthetic = read_spectra_table(&t.join("aug/synthetic.parquet")).unwrap();
    assert!(!synthetic.labels.contains(&13) && synthetic.labels.contains(&1), "classes made: {:?}", synthetic.classes);

    // Thinning the class left out names why it is missing.
    let out = t.run(&["train", "spectral", "--cube", &cube, "--labels", "lone.tif", "--out", "n.onnx", "--thin", "13=1"]);
    t.refused(&out, "--thin names class 13", "has one labelled spectrum in");
}

#[test]
fn a_killed_training_resumes_from_its_checkpoint_to_the_same_model() {
    let t = TestDir::new();
    // Checkpoints are written every 250 steps; 300 steps leave one to resume from.
    let whole = train_args("whole.onnx", "300");
    t.ok(&t.run(&whole.iter().map(String::as_str).collect::<Vec<_>>()));

    let cut = train_args("cut.onnx", "300");
    let cut: Vec<&str> = cut.iter().map(String::as_str).collect();
    t.kill_at_first_checkpoint(&cut, "cut.checkpoint.safetensors", "cut.onnx");

    t.ok(&t.run(&cut));
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(t.join("cut.run.json")).unwrap()).unwrap();
    assert_eq!(run["details"]["resumed_from_step"], 250);
    let best = |name: &str| {
        let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(t.join(name)).unwrap()).unwrap();
        format!("best step {} with validation MMD {}", run["details"]["best_step"], run["details"]["validation_mmd"])
    };
    assert!(
        std::fs::read(t.join("whole.onnx")).unwrap() == std::fs::read(t.join("cut.onnx")).unwrap(),
        "resumed model differs from the uninterrupted one: {} vs {}",
        best("cut.run.json"),
        best("whole.run.json")
    );
    crate::support::assert_resumed_like_whole(&t);
}

#[test]
fn nan_in_the_cube_is_refused_with_its_position() {
    let t = TestDir::new();
    let cube = Cube::open(sample("salinasA.tif")).unwrap();
    let full = cube.meta().full_window();
    let mut data = cube.read_stored(full).unwrap();
    let labels = hypersynth_data::ClassRaster::read(Path::new(&sample("salinasA_gt.tif")), cube.meta(), None).unwrap();
    let ((row, col), _) = labels.ids.indexed_iter().find(|(_, id)| **id != 0).unwrap();
    data[[row, col, 10]] = f32::NAN;
    let meta = hypersynth_data::CubeMeta { dtype: SampleType::Float32, ..cube.meta().clone() };
    let mut writer = CogWriter::create(&t.join("nan.tif"), &meta, Compression::Deflate).unwrap();
    writer.write(full, data.view()).unwrap();
    writer.finish().unwrap();

    let out = t.run(&["train", "spectral", "--cube", "nan.tif", "--labels", &sample("salinasA_gt.tif"), "--out", "m.onnx", "--steps", "5"]);
    t.refused(&out, "nan.tif", &format!("value NaN at row {row}, column {col}, band 11 is not a number and not the nodata value"));
    assert!(!t.join("m.onnx").exists());
}

#[test]
fn every_loss_family_and_training_option_runs() {
    let t = TestDir::new();
    let tricks =
        ["--history", "256", "--feature-matching", "1", "--label-smoothing", "0.1", "--instance-noise", "0.1", "--aux-classifier", "1"];
    let losses = ["minimax", "non-saturating", "wgan-clip", "wgan-gp", "lsgan", "dragan", "began", "hinge"];
    for (i, loss) in losses.iter().enumerate() {
        let out = format!("{loss}.onnx");
        let mut args = train_args(&out, "12");
        args.extend(["--loss".to_string(), loss.to_string()]);
        if i == 1 {
            args.extend(tricks.iter().map(|s| s.to_string()));
        }
        if i % 2 == 0 {
            args.push("--spectral-norm".to_string());
        }
        t.ok(&t.run(&args.iter().map(String::as_str).collect::<Vec<_>>()));
        let metrics = std::fs::read_to_string(t.join(&format!("{loss}.metrics.csv"))).unwrap();
        let last = metrics.lines().last().unwrap();
        let values: Vec<f64> = last.split(',').filter(|v| !v.is_empty()).map(|v| v.parse().unwrap()).collect();
        assert!(values.len() == 6 && values.iter().all(|v| v.is_finite()), "{loss}: {last}");
    }
}
