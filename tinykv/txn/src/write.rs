//! Commit records of the `write` CF: `encode_key(key, commit_ts)` →
//! [`Write`], 9 bytes: the kind, then the writing transaction's start
//! timestamp big-endian. A rollback record sits at `commit_ts = start_ts`.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::proto::Op;

/// What a committed write did; also the kind byte of a [`crate::Lock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WriteKind {
    /// A value was written (in `default` at the start timestamp).
    Put = 1,
    /// The key was deleted.
    Delete = 2,
    /// The transaction was rolled back on this key; readers skip it.
    Rollback = 3,
}

impl WriteKind {
    /// The stored byte.
    pub fn to_byte(self) -> u8 {
        self as u8
    }

    /// Parses a stored byte.
    pub fn from_byte(byte: u8) -> Option<WriteKind> {
        match byte {
            1 => Some(WriteKind::Put),
            2 => Some(WriteKind::Delete),
            3 => Some(WriteKind::Rollback),
            _ => None,
        }
    }

    /// The kind a mutation's operation leaves (`None` for [`Op::Lock`],
    /// which this course does not implement).
    pub fn from_op(op: Op) -> Option<WriteKind> {
        match op {
            Op::Put => Some(WriteKind::Put),
            Op::Del => Some(WriteKind::Delete),
            Op::Rollback => Some(WriteKind::Rollback),
            Op::Lock => None,
        }
    }
}

/// A commit (or rollback) record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Write {
    /// Start timestamp of the transaction that wrote it; its value is in
    /// `default` at `encode_key(key, start_ts)`.
    pub start_ts: u64,
    /// What it did.
    pub kind: WriteKind,
}

/// Length of an encoded [`Write`].
pub const WRITE_LEN: usize = 9;

impl Write {
    /// `kind ‖ start_ts` (big-endian), 9 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRITE_LEN);
        out.push(self.kind.to_byte());
        out.extend_from_slice(&self.start_ts.to_be_bytes());
        out
    }

    /// Parses a stored record; anything but 9 bytes with a known kind is
    /// [`Error::BadRecord`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Write, Error> {
        let bad = |reason: String| Error::BadRecord {
            what: "write",
            bytes: bytes.to_vec(),
            reason,
        };
        if bytes.len() != WRITE_LEN {
            return Err(bad(format!("{} bytes, expected {WRITE_LEN}", bytes.len())));
        }
        let kind =
            WriteKind::from_byte(bytes[0]).ok_or_else(|| bad(format!("kind {}", bytes[0])))?;
        let start_ts = u64::from_be_bytes(bytes[1..].try_into().expect("8 bytes"));
        Ok(Write { start_ts, kind })
    }
}
