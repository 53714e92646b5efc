//! The crate's one error type.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Everything that can go wrong outside the search itself.
///
/// The search never fails: a history that cannot be decided within the
/// budget is [`crate::CheckResult::Unknown`], not an error. Errors are about
/// the *input* (a malformed history) and about files.
///
/// The variants keep the message and kind of the underlying error rather than
/// the error itself, so that `Error` is `Clone + PartialEq` and tests can
/// compare errors directly.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// Reading or writing a file (or any writer) failed.
    #[error("i/o error{}: {message}", path_suffix(path))]
    Io {
        /// The file involved, when there is one.
        path: Option<PathBuf>,
        /// What kind of failure the OS reported.
        kind: std::io::ErrorKind,
        /// The OS's message.
        message: String,
    },
    /// A history file is not valid JSON for the expected operation type.
    #[error("bad history JSON{}: {message}", path_suffix(path))]
    Json {
        /// The file involved, when there is one.
        path: Option<PathBuf>,
        /// serde_json's message, with line and column.
        message: String,
    },
    /// An operation returns before it is called. Such a history cannot come
    /// from a real execution, so it is rejected rather than checked.
    #[error(
        "bad history: operation {index} (client {client_id}) returns at {return_time} ns, before its call at {call} ns"
    )]
    ReturnBeforeCall {
        /// Position of the operation in the history.
        index: usize,
        /// Its client.
        client_id: usize,
        /// Its call time.
        call: u64,
        /// Its return time.
        return_time: u64,
    },
    /// [`crate::Model::partition`] returned an index outside the history or
    /// the same operation twice: a bug in the model, reported rather than
    /// silently mis-checked.
    #[error("bad partition from the model: {0}")]
    BadPartition(String),
}

fn path_suffix(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" on {}", p.display()),
        None => String::new(),
    }
}

impl Error {
    pub(crate) fn io(path: Option<&Path>, err: std::io::Error) -> Error {
        Error::Io {
            path: path.map(Path::to_path_buf),
            kind: err.kind(),
            message: err.to_string(),
        }
    }

    pub(crate) fn json(path: Option<&Path>, err: serde_json::Error) -> Error {
        // serde_json reports I/O failures through its own error type; keep
        // them as I/O errors so the caller sees one kind per cause.
        if let Some(kind) = err.io_error_kind() {
            return Error::Io {
                path: path.map(Path::to_path_buf),
                kind,
                message: err.to_string(),
            };
        }
        Error::Json {
            path: path.map(Path::to_path_buf),
            message: err.to_string(),
        }
    }
}
