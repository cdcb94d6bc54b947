//! Registering the execution provider a [`SessionOptions`] asks for.

use ort::ep::ExecutionProvider;
use ort::session::builder::SessionBuilder;

use crate::device::Device;
use crate::session::SessionOptions;

/// Registers the provider for `options.device` on `builder`; the CPU provider is always
/// there as ONNX Runtime's last resort. Returns why a GPU provider could not be used.
pub(crate) fn register(builder: &mut SessionBuilder, options: &SessionOptions) -> Result<(), String> {
    match options.device {
        // A model fed one shape reuses its memory from call to call: without the arena,
        // faulting in fresh activations cost as much as the convolutions. Models fed many
        // shapes (spectra) would only grow it.
        Device::Cpu => ort::ep::CPU::default().with_arena_allocator(options.fixed_shapes).register(builder).map_err(|e| e.to_string()),
        Device::Cuda(n) => {
            ensure_available::<ort::ep::CUDA>()?;
            if options.fp16 {
                return Err("float16 runs need --device tensorrt (the CUDA provider runs a float32 model in float32)".into());
            }
            cuda(n, options).register(builder).map_err(|e| e.to_string())
        }
        Device::TensorRt(n) => {
            ensure_available::<ort::ep::TensorRT>()?;
            let mut trt = ort::ep::TensorRT::default().with_device_id(n as i32).with_fp16(options.fp16);
            if let Some(cache) = &options.tensorrt_cache {
                std::fs::create_dir_all(cache).map_err(|e| format!("{}: cannot create the TensorRT cache folder: {e}", cache.display()))?;
                trt = trt
                    .with_engine_cache(true)
                    .with_engine_cache_path(cache.display())
                    .with_timing_cache(true)
                    .with_timing_cache_path(cache.display());
            }
            trt.register(builder).map_err(|e| e.to_string())?;
            // What TensorRT cannot run goes to CUDA rather than straight to the CPU.
            cuda(n, options).register(builder).map_err(|e| e.to_string())
        }
    }
}

/// The CUDA provider on GPU `n`. cuDNN picks convolution algorithms by timing them all
/// (once per shape, with as much workspace as they want) when every batch has one shape,
/// and by its heuristics otherwise, where timing each new shape would cost more than it
/// saves. [`CUDNN_SEARCH_VARIABLE`] overrides the choice, for measuring it.
fn cuda(n: u32, options: &SessionOptions) -> ort::ep::CUDA {
    use ort::ep::cuda::ConvAlgorithmSearch;
    let chosen = if options.fixed_shapes { ConvAlgorithmSearch::Exhaustive } else { ConvAlgorithmSearch::Heuristic };
    let search = match std::env::var(CUDNN_SEARCH_VARIABLE).as_deref() {
        Err(_) => chosen,
        Ok("exhaustive") => ConvAlgorithmSearch::Exhaustive,
        Ok("heuristic") => ConvAlgorithmSearch::Heuristic,
        Ok("default") => ConvAlgorithmSearch::Default,
        Ok(other) => {
            tracing::warn!("{CUDNN_SEARCH_VARIABLE}={other} is not exhaustive, heuristic or default; ignored");
            chosen
        }
    };
    ort::ep::CUDA::default().with_device_id(n as i32).with_conv_algorithm_search(search).with_conv_max_workspace(options.fixed_shapes)
}

/// The environment variable that sets cuDNN's convolution algorithm search on CUDA
/// (`exhaustive`, `heuristic` or `default`) in place of the choice [`cuda`] makes.
pub const CUDNN_SEARCH_VARIABLE: &str = "HYPERSYNTH_CUDNN_SEARCH";

fn ensure_available<E: ExecutionProvider>() -> Result<(), String> {
    match E::is_available() {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("{} is not in this ONNX Runtime build (install the GPU build with `scripts/setup.sh --gpu`)", E::NAME)),
        Err(e) => Err(e.to_string()),
    }
}
