//! ONNX Runtime from Rust: a real model run, the model contract, and the provider choice.

mod support {
    pub mod tiny_model;
}

use std::path::PathBuf;

use hypersynth_onnx::{CardSource, Device, Error, Input, OnnxSession, RuntimeSearch, SessionOptions, check_contract, load_runtime};
use ndarray::{Array1, Array2};
use support::tiny_model;

/// The library `scripts/setup.sh` installs (or `ORT_DYLIB_PATH`).
fn runtime() {
    let candidates = match std::env::var_os("ORT_DYLIB_PATH") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.ort/lib")],
    };
    load_runtime(&RuntimeSearch { candidates, install_hint: "scripts/setup.sh".into() }).expect("ONNX Runtime: run scripts/setup.sh");
}

fn write_model(with_card: bool) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.onnx");
    std::fs::write(&path, tiny_model::bytes(with_card)).unwrap();
    (dir, path)
}

#[test]
fn runs_a_model_and_checks_its_output() {
    runtime();
    let (_dir, path) = write_model(true);
    let mut session = OnnxSession::open(&path, &SessionOptions { threads: Some(1), ..Default::default() }).unwrap();
    assert_eq!(session.card, Some(tiny_model::card()));
    assert_eq!(session.card_source, Some(CardSource::Embedded));
    check_contract(&session).unwrap();

    let z = [[0.5f32, -1.0], [2.0, 3.0], [0.0, 0.0]];
    let classes = [0i64, 1, 1];
    let z_array = Array2::from_shape_vec((3, 2), z.concat()).unwrap().into_dyn();
    let c_array = Array1::from(classes.to_vec()).into_dyn();
    let outputs = session.run(vec![("z", Input::F32(z_array.view())), ("class_index", Input::I64(c_array.view()))]).unwrap();
    assert_eq!(outputs[0].shape(), &[3, 3]);
    for (row, want) in outputs[0].rows().into_iter().zip(tiny_model::expected(&z, &classes)) {
        for (got, want) in row.iter().zip(want) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }
}

#[test]
fn a_model_without_a_card_uses_its_sidecar_or_fails_the_contract() {
    runtime();
    let (_dir, path) = write_model(false);
    let bare = OnnxSession::open(&path, &SessionOptions::default()).unwrap();
    assert!(bare.card.is_none());
    let err = check_contract(&bare).unwrap_err().to_string();
    assert!(err.contains("no hypersynth model card"), "{err}");

    let sidecar = PathBuf::from(format!("{}.json", path.display()));
    let props: serde_json::Map<String, serde_json::Value> =
        tiny_model::card().to_props().into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect();
    std::fs::write(&sidecar, serde_json::to_string(&props).unwrap()).unwrap();
    let carded = OnnxSession::open(&path, &SessionOptions::default()).unwrap();
    assert_eq!(carded.card_source, Some(CardSource::Sidecar(sidecar.clone())));
    check_contract(&carded).unwrap();

    // A card whose band count disagrees with the model's output is refused, naming it.
    let mut wrong = tiny_model::card();
    wrong.wavelengths_nm.push(800.0);
    wrong.normalisation = hypersynth_onnx_format::Normalisation { offset: vec![0.0; 4], scale: vec![1.0; 4], basis: None };
    let props: serde_json::Map<String, serde_json::Value> =
        wrong.to_props().into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect();
    std::fs::write(&sidecar, serde_json::to_string(&props).unwrap()).unwrap();
    let mismatched = OnnxSession::open(&path, &SessionOptions::default()).unwrap();
    let err = check_contract(&mismatched).unwrap_err().to_string();
    assert!(err.contains("output \"spectra\" has 3 at axis 1, the model card says 4"), "{err}");
}

#[test]
fn not_a_model_is_refused_by_name() {
    runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.onnx");
    std::fs::write(&path, b"this is not a protobuf model at all").unwrap();
    let err = OnnxSession::open(&path, &SessionOptions::default()).unwrap_err().to_string();
    assert!(err.starts_with(&path.display().to_string()) && err.contains("not an ONNX model"), "{err}");
}

#[test]
fn gpu_providers_fail_clearly_or_fall_back_when_allowed() {
    runtime();
    let (_dir, path) = write_model(true);
    for device in [Device::Cuda(0), Device::TensorRt(0)] {
        let strict = SessionOptions { device, ..Default::default() };
        match OnnxSession::open(&path, &strict) {
            // A machine with the GPU build and a GPU really runs there.
            Ok(session) => assert_eq!(session.device, device),
            Err(err) => {
                assert!(matches!(err, Error::Provider { .. }), "{err}");
                assert!(err.to_string().contains("--allow-cpu-fallback"), "{err}");
                let lenient = SessionOptions { device, allow_cpu_fallback: true, ..Default::default() };
                assert_eq!(OnnxSession::open(&path, &lenient).unwrap().device, Device::Cpu);
            }
        }
    }
}

/// Runs through an I/O binding (what fixed-shape tiles take on a GPU) give the model's
/// results, batch after batch into the same bound tensors, and again after the shape
/// changes and the binding is made anew: on the CPU always, and on CUDA where the GPU
/// build and a GPU are there.
#[test]
fn io_bound_runs_give_the_models_results_across_batches_and_shapes() {
    runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.onnx");
    std::fs::write(&path, tiny_model::image_bytes()).unwrap();
    for device in [Device::Cpu, Device::Cuda(0)] {
        let Ok(mut session) = OnnxSession::open(&path, &SessionOptions { device, fixed_shapes: true, ..Default::default() }) else {
            assert!(device.is_gpu(), "the CPU provider is always there");
            continue;
        };
        session.force_io_binding();
        for (batch, (n, h, w)) in [(2, 3, 4), (2, 3, 4), (1, 5, 5)].into_iter().enumerate() {
            let image =
                ndarray::Array4::from_shape_fn((n, 2, h, w), |(i, c, y, x)| (batch * 100 + i * 31 + c * 7 + y * 3 + x) as f32 * 0.1);
            let output = session.run(vec![("image", Input::F32(image.view().into_dyn()))]).unwrap().remove(0);
            assert_eq!(output.shape(), &[n, 1, h, w], "{device}, batch {batch}");
            for ((i, _, y, x), &got) in output.into_dimensionality::<ndarray::Ix4>().unwrap().indexed_iter() {
                let want = 0.5 * image[[i, 0, y, x]] - 2.0 * image[[i, 1, y, x]] + 1.0;
                assert!((got - want).abs() < 1e-5, "{device}, batch {batch}, pixel {i} {y} {x}: {got} vs {want}");
            }
        }
        eprintln!("I/O-bound runs checked on {device}");
    }
}
