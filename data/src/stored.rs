//! Band planes of stored values, in the type they are read as: the file's own sample type
//! where it is one of the common ones, so that GDAL copies decoded blocks without
//! converting them (its int16 to float32 copy cost as much as decoding DEFLATE), else
//! float32. Readers that keep many rows of a scene (tiled inference) hold half the memory
//! for 16-bit files too.

use std::ops::Range;

use crate::cube::SampleType;

/// Stored values, band by band, in one of the types a cube is read as (see
/// [`StoredPlanes::for_type`]); how they are laid out is up to the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredPlanes {
    /// Unsigned 8-bit files.
    UInt8(Vec<u8>),
    /// Signed 16-bit files.
    Int16(Vec<i16>),
    /// Unsigned 16-bit files.
    UInt16(Vec<u16>),
    /// Every other sample type, converted.
    Float32(Vec<f32>),
}

impl StoredPlanes {
    /// `len` zeros of the type a file of sample type `dtype` is read as.
    pub fn for_type(dtype: SampleType, len: usize) -> Self {
        match dtype {
            SampleType::UInt8 => Self::UInt8(vec![0; len]),
            SampleType::Int16 => Self::Int16(vec![0; len]),
            SampleType::UInt16 => Self::UInt16(vec![0; len]),
            _ => Self::Float32(vec![0.0; len]),
        }
    }

    /// Bytes each value of a file of sample type `dtype` takes, read as [`StoredPlanes::for_type`] reads it.
    pub fn value_bytes(dtype: SampleType) -> usize {
        // From the variant `for_type` picks, so that the type mapping lives in one place.
        match Self::for_type(dtype, 0) {
            Self::UInt8(_) => size_of::<u8>(),
            Self::Int16(_) => size_of::<i16>(),
            Self::UInt16(_) => size_of::<u16>(),
            Self::Float32(_) => size_of::<f32>(),
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Self::UInt8(v) => v.len(),
            Self::Int16(v) => v.len(),
            Self::UInt16(v) => v.len(),
            Self::Float32(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the values in `from` to start at `to` (they may overlap), as
    /// [`slice::copy_within`].
    pub fn copy_within(&mut self, from: Range<usize>, to: usize) {
        match self {
            Self::UInt8(v) => v.copy_within(from, to),
            Self::Int16(v) => v.copy_within(from, to),
            Self::UInt16(v) => v.copy_within(from, to),
            Self::Float32(v) => v.copy_within(from, to),
        }
    }

    /// Sets value `i` to `value`, a stored value read as float32 (exact for the integer
    /// types, whose values float32 holds exactly).
    pub(crate) fn set(&mut self, i: usize, value: f32) {
        match self {
            Self::UInt8(v) => v[i] = value as u8,
            Self::Int16(v) => v[i] = value as i16,
            Self::UInt16(v) => v[i] = value as u16,
            Self::Float32(v) => v[i] = value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_common_type_is_kept_and_the_rest_become_float32() {
        assert!(matches!(StoredPlanes::for_type(SampleType::Int16, 3), StoredPlanes::Int16(v) if v == [0; 3]));
        assert!(matches!(StoredPlanes::for_type(SampleType::UInt8, 1), StoredPlanes::UInt8(_)));
        assert!(matches!(StoredPlanes::for_type(SampleType::UInt16, 1), StoredPlanes::UInt16(_)));
        assert!(matches!(StoredPlanes::for_type(SampleType::Float64, 2), StoredPlanes::Float32(_)));
        let mut p = StoredPlanes::for_type(SampleType::Int16, 4);
        for (i, v) in [-3.0, 7.0, 9.0, 11.0].into_iter().enumerate() {
            p.set(i, v);
        }
        p.copy_within(2..4, 0);
        assert_eq!(p, StoredPlanes::Int16(vec![9, 11, 9, 11]));
    }
}
