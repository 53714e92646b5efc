//! Percolator locks of the `lock` CF, at the **raw** user key:
//! `primary ‖ kind (1 B) ‖ ts (8 B BE) ‖ ttl (8 B BE)`. Parsing reads the
//! last 17 bytes as kind, ts and ttl; what precedes is the primary key
//! (possibly empty).

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::codec::TS_MAX;
use crate::proto::LockInfo;
use crate::write::WriteKind;

/// Bytes after the primary key.
const TAIL: usize = 17;

/// A prewrite's lock on one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// The transaction's primary key: its commit record decides the fate
    /// of every key the transaction locked.
    pub primary: Vec<u8>,
    /// The transaction's start timestamp.
    pub ts: u64,
    /// Milliseconds (of physical time, see [`crate::physical`]) after `ts`
    /// during which the lock must not be rolled back by another client.
    pub ttl: u64,
    /// The write the commit will record (`Put` or `Delete`).
    pub kind: WriteKind,
}

impl Lock {
    /// The stored bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.primary.len() + TAIL);
        out.extend_from_slice(&self.primary);
        out.push(self.kind.to_byte());
        out.extend_from_slice(&self.ts.to_be_bytes());
        out.extend_from_slice(&self.ttl.to_be_bytes());
        out
    }

    /// Parses stored bytes; fewer than 17 bytes or an unknown kind is
    /// [`Error::BadRecord`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Lock, Error> {
        let bad = |reason: String| Error::BadRecord {
            what: "lock",
            bytes: bytes.to_vec(),
            reason,
        };
        let Some(at) = bytes.len().checked_sub(TAIL) else {
            return Err(bad(format!(
                "{} bytes, at least {TAIL} expected",
                bytes.len()
            )));
        };
        let (primary, tail) = bytes.split_at(at);
        let kind = WriteKind::from_byte(tail[0]).ok_or_else(|| bad(format!("kind {}", tail[0])))?;
        let ts = u64::from_be_bytes(tail[1..9].try_into().expect("8 bytes"));
        let ttl = u64::from_be_bytes(tail[9..17].try_into().expect("8 bytes"));
        Ok(Lock {
            primary: primary.to_vec(),
            ts,
            ttl,
            kind,
        })
    }

    /// What a client is told about this lock on `key`.
    pub fn info(&self, key: &[u8]) -> LockInfo {
        LockInfo {
            primary_lock: self.primary.clone(),
            lock_version: self.ts,
            key: key.to_vec(),
            lock_ttl: self.ttl,
        }
    }

    /// Whether this lock on `key` blocks a reader at `read_ts`: a lock of a
    /// transaction that started after the read does not (its commit will be
    /// later still); a reader at [`TS_MAX`] ("the latest value") is blocked
    /// only on a primary key, as in the reference.
    pub fn is_locked_for(&self, key: &[u8], read_ts: u64) -> bool {
        if self.ts > read_ts {
            return false;
        }
        !(read_ts == TS_MAX && key != self.primary.as_slice())
    }
}
