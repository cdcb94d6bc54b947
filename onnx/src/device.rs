//! The device a model runs on, as the user names it (`--device cpu|cuda[:N]|tensorrt[:N]`).

use std::fmt;
use std::str::FromStr;

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// ONNX Runtime's CPU execution provider.
    #[default]
    Cpu,
    /// The CUDA execution provider on GPU `N`.
    Cuda(u32),
    /// The TensorRT execution provider on GPU `N` (CUDA for what TensorRT cannot run).
    TensorRt(u32),
}

impl Device {
    /// Whether this device needs the GPU build of ONNX Runtime.
    pub fn is_gpu(self) -> bool {
        self.gpu_index().is_some()
    }

    /// The GPU's index, for the GPU devices.
    pub fn gpu_index(self) -> Option<u32> {
        match self {
            Self::Cpu => None,
            Self::Cuda(n) | Self::TensorRt(n) => Some(n),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::TensorRt(n) => write!(f, "tensorrt:{n}"),
        }
    }
}

impl FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, index) = match s.split_once(':') {
            Some((name, n)) => (name, Some(n.parse::<u32>().map_err(|_| format!("bad GPU index {n:?} in device {s:?}"))?)),
            None => (s, None),
        };
        match (name.to_ascii_lowercase().as_str(), index) {
            ("cpu", None) => Ok(Self::Cpu),
            ("cuda", n) => Ok(Self::Cuda(n.unwrap_or(0))),
            ("tensorrt" | "trt", n) => Ok(Self::TensorRt(n.unwrap_or(0))),
            _ => Err(format!("unknown device {s:?} (expected cpu, cuda[:N] or tensorrt[:N])")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices() {
        assert_eq!("cpu".parse(), Ok(Device::Cpu));
        assert_eq!("cuda".parse(), Ok(Device::Cuda(0)));
        assert_eq!("cuda:1".parse(), Ok(Device::Cuda(1)));
        assert_eq!("tensorrt".parse(), Ok(Device::TensorRt(0)));
        assert!("cuda:x".parse::<Device>().is_err());
        assert!("tpu".parse::<Device>().is_err());
        assert_eq!(Device::Cuda(1).to_string(), "cuda:1");
    }
}
