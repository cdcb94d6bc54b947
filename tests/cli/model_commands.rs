//! `models inspect`, and refusals of files that are not models or a missing runtime.

use crate::support::{TestDir, run_json, sample};
use crate::tiny_model;

#[test]
fn inspect_shows_the_card_and_the_contract() {
    let t = TestDir::new();
    std::fs::write(t.join("tiny.onnx"), tiny_model::bytes(true)).unwrap();
    let out = t.run(&["models", "inspect", "tiny.onnx"]);
    t.ok(&out);
    for expected in [
        "kind:         spectral-cgan",
        "bands:        3 (500.00 .. 700.00 nm)",
        "1 grass, 7 soil",
        "input:        z float32 [-1, 2]",
        "contract:     ok",
    ] {
        assert!(out.stdout.contains(expected), "{expected:?} in\n{}", out.stdout);
    }
    let out = t.run(&["models", "inspect", "tiny.onnx", "--json"]);
    t.ok(&out);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["card"]["kind"], "spectral-cgan");
    assert_eq!(json["outputs"][0]["shape"], serde_json::json!([-1, 3]));

    std::fs::write(t.join("bare.onnx"), tiny_model::bytes(false)).unwrap();
    let out = t.run(&["models", "inspect", "bare.onnx"]);
    t.refused(&out, "bare.onnx", "does not meet its contract");
    assert!(out.stdout.contains("contract:     not met") && out.stdout.contains("card:         none"), "{}", out.stdout);
}

#[test]
fn the_python_page_runs_as_written() {
    let t = TestDir::new();
    // The folder the page's blocks run in: a model and an augment run with --hdf5, named
    // as the page says.
    t.ok(&t.run(
        &[
            &["train", "spectral"][..],
            &crate::support::sample_args(&["--out", "salinasA_cgan.onnx", "-q"]).iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
    ));
    let augment = crate::support::sample_args(&[
        "--model",
        "salinasA_cgan.onnx",
        "--out",
        "augmented",
        "--target-per-class",
        "600",
        "--hdf5",
        "--no-report",
        "-q",
    ]);
    t.ok(&t.run(&[&["augment"][..], &augment.iter().map(String::as_str).collect::<Vec<_>>()].concat()));
    let doc = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/PYTHON.md")).unwrap();
    let blocks: Vec<&str> = doc.split("```python\n").skip(1).map(|b| &b[..b.find("```").unwrap()]).collect();
    assert_eq!(blocks.len(), 4, "the page's python blocks");
    let six = blocks.iter().find(|b| b.contains("InferenceSession")).unwrap();
    assert!(six.lines().count() <= 6, "the page promises six lines:\n{six}");
    let script = format!(
        "import os, sys\nos.chdir(sys.argv[1])\n{}\nprint(X.shape[1] == len(bands) == len(wavelengths), int(synthetic.sum()), forest.n_classes_, h5_spectra.shape[1], int(len(h5_class_id)), spectra.shape, spectra.dtype, bool(np.isfinite(spectra).all()))",
        blocks.concat()
    );
    let seen = crate::support::python_check(&script, &[t.path()]);
    let synthetic: usize = run_json(&t.join("augmented/run.json"))["details"]["generated"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap() as usize)
        .sum();
    assert_eq!(seen, format!("True {synthetic} 6 204 {synthetic} (100, 204) float32 True"));
}

#[test]
fn a_file_that_is_not_a_model_is_refused() {
    let t = TestDir::new();
    let out = t.run(&["models", "inspect", &sample("salinasA.tif")]);
    t.refused(&out, "salinasA.tif", "not an ONNX model");
}

#[test]
fn a_missing_runtime_names_the_install_command() {
    let t = TestDir::new();
    std::fs::write(t.join("tiny.onnx"), tiny_model::bytes(true)).unwrap();
    let out = t.run_with(&["models", "inspect", "tiny.onnx"], &[("ORT_DYLIB_PATH", "/nowhere/libonnxruntime.so")]);
    t.refused(&out, "ONNX Runtime library not found", "scripts/setup.sh");
    assert!(out.stderr.contains("/nowhere/libonnxruntime.so"), "{}", out.stderr);
}

#[test]
fn a_gpu_device_without_a_gpu_fails_unless_fallback_is_allowed() {
    let t = TestDir::new();
    std::fs::write(t.join("tiny.onnx"), tiny_model::bytes(true)).unwrap();
    let strict = t.run(&["models", "inspect", "tiny.onnx", "--device", "cuda"]);
    if strict.code == Some(0) {
        return; // a machine with the GPU build and a GPU
    }
    t.refused(&strict, "cuda:0 execution provider unavailable", "--allow-cpu-fallback");
    let lenient = t.run(&["models", "inspect", "tiny.onnx", "--device", "cuda", "--allow-cpu-fallback", "--json"]);
    t.ok(&lenient);
    assert!(lenient.stderr.contains("falling back to the CPU"), "{}", lenient.stderr);
    let json: serde_json::Value = serde_json::from_str(&lenient.stdout).unwrap();
    assert_eq!(json["device"], "cpu");
}

/// A GPU build whose CUDA libraries are not beside it (a half-done `setup.sh --gpu`): the
/// preload fails with a warning, not a panic, and a CUDA run is refused with one line.
#[test]
fn a_gpu_build_without_its_cuda_libraries_is_refused_not_a_panic() {
    let t = TestDir::new();
    std::fs::write(t.join("tiny.onnx"), tiny_model::bytes(true)).unwrap();
    let lib = t.join("gpu-lib");
    std::fs::create_dir(&lib).unwrap();
    std::os::unix::fs::symlink(std::fs::canonicalize(crate::support::ort_library()).unwrap(), lib.join("libonnxruntime.so")).unwrap();
    std::fs::write(lib.join("libonnxruntime_providers_cuda.so"), b"").unwrap();
    let library = lib.join("libonnxruntime.so");
    let out = t.run_with(&["models", "inspect", "tiny.onnx", "--device", "cuda"], &[("ORT_DYLIB_PATH", library.to_str().unwrap())]);
    t.refused(&out, "cuda:0 execution provider unavailable", "--allow-cpu-fallback");
    assert!(out.stderr.contains("could not preload the CUDA libraries"), "{}", out.stderr);
}
