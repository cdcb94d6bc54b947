//! Compiles the official `onnx.proto` (from the `onnx` 1.23.2 package) with the pure-Rust
//! `protox` compiler and generates its messages with `prost`; no `protoc` needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let descriptors = protox::compile(["proto/onnx.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
