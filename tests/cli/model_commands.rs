//! `models inspect`, and refusals of files that are not models or a missing runtime.

use crate::support::{TestDir, sample};
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
fn the_python_example_in_the_models_doc_runs_as_written() {
    let t = TestDir::new();
    let args = crate::support::sample_args(&["--out", "salinas.onnx", "-q"]);
    t.ok(&t.run(&[&["train", "spectral"][..], &args.iter().map(String::as_str).collect::<Vec<_>>()].concat()));
    let doc = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/MODELS.md")).unwrap();
    let section = &doc[doc.find("## Running our models from Python").expect("the section")..];
    let start = section.find("```python\n").expect("a python block") + "```python\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    assert!(block.lines().count() <= 6, "the doc promises six lines:\n{block}");
    let script = format!(
        "import sys\n{}print(spectra.shape, spectra.dtype, len(json.loads(card['hypersynth.wavelengths_nm'])), bool(np.isfinite(spectra).all()))",
        block.replace("\"salinas.onnx\"", "sys.argv[1]")
    );
    assert_eq!(crate::support::python_check(&script, &[&t.join("salinas.onnx")]), "(100, 204) float32 204 True");
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
