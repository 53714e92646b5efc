//! The crate's one error type.
//!
//! Every variant carries strings rather than `std::io::Error` so that errors
//! can be compared in tests (`PartialEq`) and sent over RPC unchanged. Each
//! message names the file, socket or app it is about, because these errors
//! end up as the single line a binary prints before exiting non-zero.

use std::path::Path;

/// Everything that can go wrong in a MapReduce job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MrError {
    /// An input file is missing, unreadable or not a regular file.
    #[error("cannot read input file {path}: {reason}")]
    InputFile {
        /// The path as the user gave it.
        path: String,
        /// Why it could not be read.
        reason: String,
    },
    /// Reading or writing a file other than an input failed.
    #[error("{action} {path}: {reason}")]
    Io {
        /// What was being done ("cannot write", "cannot read", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// An intermediate file exists but does not decode.
    #[error("corrupt intermediate file {path}: {reason}")]
    Corrupt {
        /// The intermediate file.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A live coordinator already answers on this UNIX socket.
    #[error("socket {0} is already served by a running coordinator (use --socket to pick another)")]
    SocketInUse(String),
    /// The socket path exists but is something else; we never delete it.
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(String),
    /// Binding the listening endpoint failed.
    #[error("cannot listen on {endpoint}: {reason}")]
    Bind {
        /// The endpoint, as displayed by [`crate::Endpoint`].
        endpoint: String,
        /// The operating system's reason.
        reason: String,
    },
    /// No coordinator could be reached.
    #[error("cannot reach a coordinator at {endpoint}: {reason} (is mrcoordinator running?)")]
    Connect {
        /// The endpoint, as displayed by [`crate::Endpoint`].
        endpoint: String,
        /// The last connection error.
        reason: String,
    },
    /// No app of that name is compiled in.
    #[error("unknown app '{name}'; available apps: {known}")]
    UnknownApp {
        /// The name asked for.
        name: String,
        /// Comma-separated list of the known names.
        known: String,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A worker reported that a task cannot be done; the whole job fails.
    #[error("{task} failed: {reason}")]
    TaskFailed {
        /// The task, e.g. "map task 3".
        task: String,
        /// The worker's error message.
        reason: String,
    },
    /// Starting or supervising a child process failed (mrjob).
    #[error("{0}")]
    Process(String),
    /// The process was asked to stop (Ctrl-C or SIGTERM).
    #[error("interrupted")]
    Interrupted,
}

impl MrError {
    /// An [`MrError::Io`] for `path`.
    pub fn io(action: &'static str, path: &Path, err: &std::io::Error) -> Self {
        MrError::Io {
            action,
            path: path.display().to_string(),
            reason: err.to_string(),
        }
    }
}
