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

/// Why a value could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The value's `Serialize` output has a shape bincode cannot write
    /// (e.g. a sequence of unknown length). Never happens for the
    /// framework's own message and state types; see [`to_bytes`].
    #[error("cannot encode: {0}")]
    Encode(String),
    /// The bytes are not an encoding of the expected type.
    #[error("cannot decode: {0}")]
    Decode(String),
    /// A complete value was read but bytes were left over: the bytes hold
    /// another type (or several values).
    #[error("{0} trailing bytes after a complete value")]
    TrailingBytes(usize),
}

/// Encodes a value with the network's encoding.
///
/// # Errors
/// [`CodecError::Encode`] if the value's `Serialize` implementation asks
/// for something bincode cannot write.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Encodes one of the framework's own values (a log op, a snapshot, a
/// reply): plain structs, enums, strings, integers, `Vec`s and
/// `BTreeMap`s, all derived with `#[derive(Serialize)]`.
///
/// Encoding into memory fails only for a `Serialize` output bincode cannot
/// represent (a sequence or map whose length is not known up front, as
/// `#[serde(flatten)]` or a hand-written `collect_seq` of an iterator may
/// produce). Derived impls of the types above always announce their
/// lengths, so for them failure is a programming error, reported here once
/// instead of by an `expect` at every call site.
///
/// # Panics
/// If `value` has such a shape (a bug in the type, never a runtime input).
pub fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    match encode(value) {
        Ok(bytes) => bytes,
        Err(e) => panic!(
            "{} does not encode ({e}): its Serialize output has a shape bincode cannot write",
            std::any::type_name::<T>()
        ),
    }
}

/// Decodes a value with the network's encoding; trailing bytes are an error,
/// so a type mismatch is caught rather than half-read.
///
/// # Errors
/// [`CodecError::Decode`] or [`CodecError::TrailingBytes`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, read) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - read));
    }
    Ok(value)
}
