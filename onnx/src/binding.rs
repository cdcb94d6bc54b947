//! Runs through an ONNX Runtime I/O binding, for models fed batches of one shape (image
//! tiles): the input tensors are allocated once and refilled from batch to batch, and the
//! outputs are allocated by ONNX Runtime where the device can reach them. On a GPU both
//! sit in page-locked host memory, so the copies to and from the device are DMA transfers
//! that need no staging copy; on the CPU the binding only saves the per-call set-up.

use ndarray::{ArrayD, ArrayViewD};
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, Session};
use ort::value::Tensor;

use crate::device::Device;

/// An I/O binding for one set of input shapes.
pub(crate) struct Bound {
    /// The input names and shapes this binding was made for.
    shapes: Vec<(String, Vec<usize>)>,
    binding: IoBinding,
    /// One host tensor per input, in `shapes` order.
    inputs: Vec<Tensor<f32>>,
}

impl Bound {
    /// Whether this binding was made for `inputs`' names and shapes.
    pub(crate) fn fits(&self, inputs: &[(&str, ArrayViewD<'_, f32>)]) -> bool {
        self.shapes.len() == inputs.len() && self.shapes.iter().zip(inputs).all(|((n, s), (name, a))| n == name && s == a.shape())
    }

    /// A binding for `inputs`' names and shapes, with every output in `outputs` bound to
    /// host memory `device` can write.
    pub(crate) fn new(session: &Session, device: Device, inputs: &[(&str, ArrayViewD<'_, f32>)], outputs: &[String]) -> ort::Result<Self> {
        let (input_memory, output_memory) = if let Some(gpu) = device.gpu_index() {
            let pinned = |kind| MemoryInfo::new(AllocationDevice::CUDA_PINNED, gpu as i32, AllocatorType::Device, kind);
            (pinned(MemoryType::CPUInput)?, pinned(MemoryType::CPUOutput)?)
        } else {
            let cpu = || MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Device, MemoryType::Default);
            (cpu()?, cpu()?)
        };
        let allocator = Allocator::new(session, input_memory)?;
        let mut binding = session.create_binding()?;
        let mut tensors = Vec::with_capacity(inputs.len());
        for (_, array) in inputs {
            tensors.push(Tensor::<f32>::new(&allocator, array.shape().to_vec())?);
        }
        for name in outputs {
            binding.bind_output_to_device(name.as_str(), &output_memory)?;
        }
        let shapes = inputs.iter().map(|(name, a)| (name.to_string(), a.shape().to_vec())).collect();
        Ok(Self { shapes, binding, inputs: tensors })
    }

    /// Copies `inputs` (of the shapes this binding fits) into the bound tensors, runs
    /// `session` and returns its outputs in binding order.
    pub(crate) fn run(&mut self, session: &mut Session, inputs: &[(&str, ArrayViewD<'_, f32>)]) -> ort::Result<Vec<ArrayD<f32>>> {
        for ((name, array), tensor) in inputs.iter().zip(&mut self.inputs) {
            let (_, data) = tensor.try_extract_tensor_mut::<f32>()?;
            for (to, from) in data.iter_mut().zip(array.iter()) {
                *to = *from;
            }
            // Bound again each run: ONNX Runtime copies an input that lives off the
            // session's device when it is bound.
            self.binding.bind_input(*name, tensor)?;
        }
        let outputs = session.run_binding(&self.binding)?;
        outputs.iter().map(|(_, value)| Ok(value.try_extract_array::<f32>()?.to_owned())).collect()
    }
}
