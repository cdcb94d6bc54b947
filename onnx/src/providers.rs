//! Registering the execution provider a [`SessionOptions`] asks for.

use ort::ep::ExecutionProvider;
use ort::session::builder::SessionBuilder;

use crate::device::Device;
use crate::session::SessionOptions;

/// Registers the provider for `options.device` on `builder`; the CPU provider is always
/// there as ONNX Runtime's last resort. Returns why a GPU provider could not be used.
pub(crate) fn register(builder: &mut SessionBuilder, options: &SessionOptions) -> Result<(), String> {
    match options.device {
        Device::Cpu => ort::ep::CPU::default().with_arena_allocator(false).register(builder).map_err(|e| e.to_string()),
        Device::Cuda(n) => {
            ensure_available::<ort::ep::CUDA>()?;
            let cuda =
                ort::ep::CUDA::default().with_device_id(n as i32).with_conv_algorithm_search(ort::ep::cuda::ConvAlgorithmSearch::Heuristic);
            cuda.register(builder).map_err(|e| e.to_string())
        }
        Device::TensorRt(n) => {
            ensure_available::<ort::ep::TensorRT>()?;
            let mut trt = ort::ep::TensorRT::default().with_device_id(n as i32);
            if let Some(cache) = &options.tensorrt_cache {
                trt = trt.with_engine_cache(true).with_engine_cache_path(cache.display());
            }
            trt.register(builder).map_err(|e| e.to_string())?;
            // What TensorRT cannot run goes to CUDA rather than straight to the CPU.
            let cuda = ort::ep::CUDA::default().with_device_id(n as i32);
            cuda.register(builder).map_err(|e| e.to_string())
        }
    }
}

fn ensure_available<E: ExecutionProvider>() -> Result<(), String> {
    match E::is_available() {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("{} is not in this ONNX Runtime build (install the GPU build with `scripts/setup.sh --gpu`)", E::NAME)),
        Err(e) => Err(e.to_string()),
    }
}
