//! The `hypersynth` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    hypersynth::main()
}
