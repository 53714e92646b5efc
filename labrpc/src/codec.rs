//! Serialization of arguments and replies.
//!
//! Every argument and reply crosses the simulated network as bytes, exactly as
//! the reference encodes with gob: no memory is shared between caller and
//! handler, and byte counts are real. bincode's standard configuration uses
//! variable-length integers and length-prefixed strings, so its encodings are
//! at least as compact as gob's — the reference byte bounds carry over.

use serde::{Serialize, de::DeserializeOwned};

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a value with the network's encoding.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| e.to_string())
}

/// Decodes a value with the network's encoding; trailing bytes are an error,
/// so a type mismatch is caught rather than half-read.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (value, read) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| e.to_string())?;
    if read != bytes.len() {
        return Err(format!(
            "{} trailing bytes after a complete value",
            bytes.len() - read
        ));
    }
    Ok(value)
}
