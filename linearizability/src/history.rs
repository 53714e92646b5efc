//! Saving and loading histories as JSON, so a failing history can be kept
//! and checked again (or visualized) outside the test that produced it.
//!
//! The format is a JSON array of operations with the fields of
//! [`Operation`]: `client_id`, `input`, `call`, `output`, `return_time`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Operation, validate_history};

/// Writes `history` as JSON to `writer`.
pub fn write_history<I: Serialize, O: Serialize>(
    writer: impl Write,
    history: &[Operation<I, O>],
) -> Result<(), Error> {
    serde_json::to_writer(writer, history).map_err(|e| Error::json(None, e))
}

/// Reads a history written by [`write_history`], and validates it.
pub fn read_history<I: DeserializeOwned, O: DeserializeOwned>(
    reader: impl Read,
) -> Result<Vec<Operation<I, O>>, Error> {
    let history: Vec<Operation<I, O>> =
        serde_json::from_reader(reader).map_err(|e| Error::json(None, e))?;
    validate_history(&history)?;
    Ok(history)
}

/// Saves `history` as JSON in the file at `path` (created or truncated).
pub fn save_history<I: Serialize, O: Serialize>(
    path: impl AsRef<Path>,
    history: &[Operation<I, O>],
) -> Result<(), Error> {
    let path = path.as_ref();
    let file = File::create(path).map_err(|e| Error::io(Some(path), e))?;
    let mut writer = BufWriter::new(file);
    serde_json::to_writer(&mut writer, history).map_err(|e| Error::json(Some(path), e))?;
    writer.flush().map_err(|e| Error::io(Some(path), e))
}

/// Loads and validates a history saved by [`save_history`].
pub fn load_history<I: DeserializeOwned, O: DeserializeOwned>(
    path: impl AsRef<Path>,
) -> Result<Vec<Operation<I, O>>, Error> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| Error::io(Some(path), e))?;
    let history: Vec<Operation<I, O>> =
        serde_json::from_reader(BufReader::new(file)).map_err(|e| Error::json(Some(path), e))?;
    validate_history(&history)?;
    Ok(history)
}
