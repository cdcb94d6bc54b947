//! The exemplar-conditioned GAN (`train spectral --generator dagan`): its exported graph
//! computes what the candle generator does, and it trains and augments end to end.

use hypersynth_models::dagan::{DaganArchitecture, DaganConfig, ExemplarTable, Generator};
use hypersynth_models::rng;
use hypersynth_models::spectral_cgan::class_tensor;
use hypersynth_onnx::{Input, OnnxSession, SessionOptions};
use hypersynth_spectral::LogScale;
use ndarray::{Array1, Array2, Axis};

use crate::support::{TestDir, python_check, runtime, sample_args};

#[test]
fn the_exported_exemplar_gan_computes_what_the_candle_generator_does_and_passes_onnx_checker() {
    let t = TestDir::new();
    let (n_classes, bands, rows) = (3usize, 30usize, 90usize);
    // Reflectance-like spectra of three classes, with within-class variation.
    let noise = rng::normal(&mut rng::stream(7, 3, 0), rows, bands).unwrap().to_vec2::<f32>().unwrap();
    let classes: Vec<u32> = (0..rows as u32).map(|i| i % n_classes as u32).collect();
    let spectra = Array2::from_shape_fn((rows, bands), |(i, b)| {
        let c = classes[i] as f32;
        (0.05 + 0.1 * c + 0.01 * b as f32 * (c + 1.0)) * (0.1 * noise[i][b]).exp()
    });
    let scale = LogScale::fit(spectra.view(), &classes, n_classes).unwrap();
    let standardised = scale.apply(spectra.view());
    // Fewer exemplars kept than each class has, so the seeded subset is exercised.
    let table = ExemplarTable::of(standardised.view(), &classes, n_classes, 20, 4).unwrap();
    assert_eq!(table.counts, vec![20, 20, 20]);
    // Full-size moves (not the small start), so a wrong weight would show.
    let architecture =
        DaganArchitecture { generator_widths: vec![24, 40], components: 12, output_gain: 1.0, ..DaganArchitecture::default() };
    let config = DaganConfig { bands, classes: n_classes, architecture };
    let axes = hypersynth_spectral::within_class_axes(standardised.view(), &classes, n_classes, 12).unwrap();
    let axes = candle_core::Tensor::from_vec(axes.iter().copied().collect(), axes.dim(), &candle_core::Device::Cpu).unwrap();
    let mut generator = Generator::new(&config, &axes, &mut rng::stream(5, 0, 0)).unwrap();
    // Classes' moves of different sizes, as calibration leaves them, so a wrong pick would show.
    generator.move_scale = candle_core::Tensor::from_vec(vec![0.5f32, 1.0, 2.0], (3, 1), &candle_core::Device::Cpu).unwrap();
    let proto = hypersynth_models::export::dagan_generator(&generator, &config, &scale, &table, &[], "test").unwrap();
    let path = t.join("dagan.onnx");
    std::fs::write(&path, hypersynth_onnx_format::encode_model(&proto)).unwrap();

    let n = 64;
    let latent = config.architecture.latent;
    let z = rng::normal(&mut rng::stream(5, 2, 0), n, 1 + latent).unwrap().to_vec2::<f32>().unwrap();
    let picked: Vec<usize> = (0..n).map(|i| table.pick(i % n_classes, f64::from(z[i][0]))).collect();
    // The draws pick several exemplars of every class.
    assert!(picked.iter().collect::<std::collections::BTreeSet<_>>().len() > 20, "{picked:?}");
    let exemplar = table.spectra.select(Axis(0), &picked);
    let as_tensor =
        |a: &Array2<f32>| candle_core::Tensor::from_vec(a.iter().copied().collect(), a.dim(), &candle_core::Device::Cpu).unwrap();
    let z_gan = Array2::from_shape_fn((n, latent), |(i, k)| z[i][k + 1]);
    let row_classes: Vec<u32> = (0..n as u32).map(|i| i % n_classes as u32).collect();
    let candle = generator.forward(&as_tensor(&exemplar), &as_tensor(&z_gan), &class_tensor(&row_classes).unwrap()).unwrap();
    let candle = Array2::from_shape_vec((n, bands), candle.flatten_all().unwrap().to_vec1::<f32>().unwrap()).unwrap();
    let largest_move = (&candle - &exemplar).iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(largest_move > 0.2, "the generator barely moves its exemplars ({largest_move}): the check would be weak");

    runtime();
    let mut session = OnnxSession::open(&path, &SessionOptions::default()).unwrap();
    let z_nd = Array2::from_shape_fn((n, 1 + latent), |(i, k)| z[i][k]).into_dyn();
    let c_nd = Array1::from_iter(row_classes.iter().map(|&c| i64::from(c))).into_dyn();
    let out = session.run(vec![("z", Input::F32(z_nd.view())), ("class_index", Input::I64(c_nd.view()))]).unwrap().remove(0);
    let onnx = out.into_dimensionality::<ndarray::Ix2>().unwrap();
    // Compared in the generator's units (standardised logarithms).
    let worst = (&scale.apply(onnx.view()) - &candle).iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(worst <= 1e-4, "max |ONNX - candle| = {worst} (standardised log units)");

    let script = "import sys, onnx, onnxruntime as ort, numpy as np\n\
onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)\n\
s = ort.InferenceSession(sys.argv[1])\n\
out = s.run(None, {'z': np.zeros((3, 33), np.float32), 'class_index': np.array([0, 1, 2])})[0]\n\
print(out.shape, bool((out > 0).all()))";
    assert_eq!(python_check(script, &[&path]), "(3, 30) True");
}

#[test]
fn the_exemplar_gan_trains_on_the_sample_and_augment_takes_it_as_any_spectral_model() {
    let t = TestDir::new();
    let train = sample_args(&["--out", "m.onnx", "--generator", "dagan", "--steps", "60", "--seed", "3", "-q"]);
    let train: Vec<&str> = ["train", "spectral"].into_iter().chain(train.iter().map(String::as_str)).collect();
    t.ok(&t.run(&train));
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(t.join("m.run.json")).unwrap()).unwrap();
    assert_eq!(run["parameters"]["generator"], "dagan");
    // Every given pixel trains it, as the exemplar model.
    assert_eq!(run["details"]["test_counts"], serde_json::json!({}), "{run}");
    let inspect = t.run(&["models", "inspect", "m.onnx", "--json"]);
    t.ok(&inspect);
    let card: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(card["card"]["training"]["generator"], "dagan", "{card}");
    assert_eq!(card["contract"], "ok", "{card}");
    let augment = sample_args(&["--model", "m.onnx", "--out", "aug", "--target-per-class", "1600", "--no-report", "-q"]);
    let augment: Vec<&str> = ["augment"].into_iter().chain(augment.iter().map(String::as_str)).collect();
    t.ok(&t.run(&augment));
    let script = "import sys, pyarrow.parquet as pq\n\
t = pq.read_table(sys.argv[1]).to_pandas()\n\
bands = [c for c in t.columns if c not in ('class_id', 'class_name', 'source', 'scene', 'row', 'col')]\n\
print(len(t) > 0, bool((t[bands].to_numpy() > 0).all()))";
    assert_eq!(python_check(script, &[&t.join("aug/synthetic.parquet")]), "True True");
}
