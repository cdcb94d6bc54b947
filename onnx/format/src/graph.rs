//! Small constructors for ONNX graphs: tensors, nodes, typed inputs/outputs and the model
//! around them. The exporters build every model family from these.

use crate::proto::tensor_proto::DataType;
use crate::proto::tensor_shape_proto::{Dimension, dimension};
use crate::proto::type_proto::{self, Tensor};
use crate::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    attribute_proto::AttributeType,
};

/// The ONNX IR version written (ONNX 1.15; read by ONNX Runtime >= 1.16).
pub const IR_VERSION: i64 = 9;
/// The default-domain opset written.
pub const OPSET: i64 = 17;

/// A dimension of a declared shape: fixed, or named and dynamic (e.g. the batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(i64),
    /// A dynamic size with a symbolic name.
    Named(&'static str),
}

/// A float32 initializer of shape `dims` holding `data` (row-major).
pub fn tensor_f32(name: &str, dims: &[i64], data: Vec<f32>) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Float as i32),
        float_data: data,
        ..Default::default()
    }
}

/// An int64 initializer of shape `dims` holding `data` (row-major).
pub fn tensor_i64(name: &str, dims: &[i64], data: Vec<i64>) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Int64 as i32),
        int64_data: data,
        ..Default::default()
    }
}

/// A boolean initializer of shape `dims` holding `data` (row-major; ONNX stores booleans
/// in `int32_data`).
pub fn tensor_bool(name: &str, dims: &[i64], data: &[bool]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Bool as i32),
        int32_data: data.iter().map(|&b| i32::from(b)).collect(),
        ..Default::default()
    }
}

/// A typed graph input or output.
pub fn value_info(name: &str, elem_type: DataType, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(n) => dimension::Value::DimValue(*n),
                Dim::Named(s) => dimension::Value::DimParam((*s).into()),
            }),
            ..Default::default()
        })
        .collect();
    let tensor = Tensor { elem_type: Some(elem_type as i32), shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), ..Default::default() }),
        ..Default::default()
    }
}

/// A node attribute.
#[derive(Debug, Clone)]
pub enum Attr {
    /// A float.
    Float(f32),
    /// An integer.
    Int(i64),
    /// A list of integers.
    Ints(Vec<i64>),
    /// A string.
    String(&'static str),
}

/// A node running `op` on `inputs`, producing `outputs`.
pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: &[(&str, Attr)]) -> NodeProto {
    let attribute = attrs
        .iter()
        .map(|(key, value)| {
            let mut a = AttributeProto { name: Some((*key).into()), ..Default::default() };
            match value {
                Attr::Float(f) => {
                    a.f = Some(*f);
                    a.r#type = Some(AttributeType::Float as i32);
                }
                Attr::Int(i) => {
                    a.i = Some(*i);
                    a.r#type = Some(AttributeType::Int as i32);
                }
                Attr::Ints(v) => {
                    a.ints = v.clone();
                    a.r#type = Some(AttributeType::Ints as i32);
                }
                Attr::String(text) => {
                    a.s = Some(text.as_bytes().to_vec());
                    a.r#type = Some(AttributeType::String as i32);
                }
            }
            a
        })
        .collect();
    NodeProto {
        op_type: Some(op.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| (*s).into()).collect(),
        output: outputs.iter().map(|s| (*s).into()).collect(),
        attribute,
        ..Default::default()
    }
}

/// A model around `graph` with the default opset, produced by hypersynth `version`.
pub fn model(graph: GraphProto, version: &str) -> ModelProto {
    ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(OPSET) }],
        producer_name: Some("hypersynth".into()),
        producer_version: Some(version.into()),
        graph: Some(graph),
        ..Default::default()
    }
}
