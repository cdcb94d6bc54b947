//! Reading and writing ONNX model bytes and their `metadata_props`.

use prost::Message;

use crate::Result;
use crate::proto::{ModelProto, StringStringEntryProto};

/// Decodes ONNX model bytes.
pub fn decode_model(bytes: &[u8]) -> Result<ModelProto> {
    let model = ModelProto::decode(bytes)?;
    if model.graph.is_none() {
        // Protobuf accepts almost any bytes as an empty message; a model has a graph.
        return Err(crate::Error::NoGraph);
    }
    Ok(model)
}

/// Encodes a model to bytes.
pub fn encode_model(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// The model's `metadata_props` as key-value pairs, in file order.
pub fn metadata_props(model: &ModelProto) -> Vec<(String, String)> {
    model.metadata_props.iter().map(|p| (p.key().to_string(), p.value().to_string())).collect()
}

/// Sets `props` on the model, replacing existing entries with the same keys and keeping
/// the others.
pub fn set_metadata_props(model: &mut ModelProto, props: &[(String, String)]) {
    model.metadata_props.retain(|p| !props.iter().any(|(k, _)| k == p.key()));
    model
        .metadata_props
        .extend(props.iter().map(|(key, value)| StringStringEntryProto { key: Some(key.clone()), value: Some(value.clone()) }));
}
