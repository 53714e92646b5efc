//! [`MvccTxn`]: one command's view of the three CFs at a start timestamp,
//! and the changes it buffers. The command's caller (see `server.rs`)
//! writes the buffered changes in one atomic batch, or none of them.
//!
//! Reads go to the snapshot only: a transaction never reads back what it
//! buffered (no command needs to).

use tinykv_storage::{Cf, Modify, Snapshot, WriteBatch};

use crate::Error;
use crate::codec::{encode_bytes, encode_key, split_ts};
use crate::lock::Lock;
use crate::write::{Write, WriteKind};

/// A command's transaction: reads at `start_ts` from one snapshot, buffers
/// [`Modify`]s.
pub struct MvccTxn<'a> {
    reader: &'a dyn Snapshot,
    /// The timestamp reads are made at and values are written at.
    pub start_ts: u64,
    writes: Vec<Modify>,
}

impl<'a> MvccTxn<'a> {
    /// A transaction reading `reader` at `start_ts`, with nothing buffered.
    pub fn new(reader: &'a dyn Snapshot, start_ts: u64) -> MvccTxn<'a> {
        MvccTxn {
            reader,
            start_ts,
            writes: Vec::new(),
        }
    }

    /// The snapshot it reads.
    pub fn reader(&self) -> &'a dyn Snapshot {
        self.reader
    }

    /// The buffered changes, in order.
    pub fn writes(&self) -> &[Modify] {
        &self.writes
    }

    /// The buffered changes as one batch.
    pub fn into_batch(self) -> WriteBatch {
        WriteBatch::from(self.writes)
    }

    /// Buffers a Put of `lock` at the raw `key` in the lock CF.
    pub fn put_lock(&mut self, key: &[u8], lock: &Lock) {
        // SOLUTION BEGIN p4a: a Put in the lock CF at the raw key
        self.writes.push(Modify::Put {
            cf: Cf::Lock,
            key: key.to_vec(),
            value: lock.to_bytes(),
        });
        // SOLUTION END
    }

    /// Buffers the removal of `key`'s lock.
    pub fn delete_lock(&mut self, key: &[u8]) {
        // SOLUTION BEGIN p4a: a Delete in the lock CF at the raw key
        self.writes.push(Modify::Delete {
            cf: Cf::Lock,
            key: key.to_vec(),
        });
        // SOLUTION END
    }

    /// Buffers `value` for `key` at this transaction's start timestamp.
    pub fn put_value(&mut self, key: &[u8], value: Vec<u8>) {
        // SOLUTION BEGIN p4a: a Put in the default CF at encode_key(key, start_ts)
        self.writes.push(Modify::Put {
            cf: Cf::Default,
            key: encode_key(key, self.start_ts),
            value,
        });
        // SOLUTION END
    }

    /// Buffers the removal of `key`'s value at the start timestamp.
    pub fn delete_value(&mut self, key: &[u8]) {
        // SOLUTION BEGIN p4a: a Delete in the default CF at encode_key(key, start_ts)
        self.writes.push(Modify::Delete {
            cf: Cf::Default,
            key: encode_key(key, self.start_ts),
        });
        // SOLUTION END
    }

    /// Buffers the record `write` of `key` at `ts` (a commit timestamp, or
    /// the start timestamp for a rollback).
    pub fn put_write(&mut self, key: &[u8], ts: u64, write: &Write) {
        // SOLUTION BEGIN p4a: a Put in the write CF at encode_key(key, ts)
        self.writes.push(Modify::Put {
            cf: Cf::Write,
            key: encode_key(key, ts),
            value: write.to_bytes(),
        });
        // SOLUTION END
    }

    /// The lock on `key`, if any. A stored lock that does not parse is
    /// [`Error::BadRecord`].
    pub fn get_lock(&self, key: &[u8]) -> Result<Option<Lock>, Error> {
        // SOLUTION BEGIN p4a: read the lock CF at the raw key and parse it
        match self.reader.get_cf(Cf::Lock, key)? {
            Some(bytes) => Ok(Some(Lock::from_bytes(&bytes)?)),
            None => Ok(None),
        }
        // SOLUTION END
    }

    /// The value of `key` visible at the start timestamp: that of the newest
    /// write committed at or before it, skipping rollbacks; `None` if that
    /// write is a delete or there is none.
    pub fn get_value(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        // SOLUTION BEGIN p4a: walk key's writes from the start timestamp down (newest first); a rollback is skipped, a delete hides the value, a put points at the value in default
        let prefix = encode_bytes(key);
        let mut it = self.reader.iter_cf(Cf::Write)?;
        it.seek(&encode_key(key, self.start_ts))?;
        while let Some((k, v)) = it.item() {
            match split_ts(k) {
                Some((user, _)) if user == prefix.as_slice() => {}
                _ => return Ok(None),
            }
            let write = Write::from_bytes(v)?;
            match write.kind {
                WriteKind::Rollback => it.next()?,
                WriteKind::Delete => return Ok(None),
                WriteKind::Put => {
                    let at = encode_key(key, write.start_ts);
                    return match self.reader.get_cf(Cf::Default, &at)? {
                        Some(value) => Ok(Some(value)),
                        None => Err(Error::MissingValue {
                            key: key.to_vec(),
                            start_ts: write.start_ts,
                        }),
                    };
                }
            }
        }
        Ok(None)
        // SOLUTION END
    }

    /// The record this transaction left on `key` (the write whose start
    /// timestamp is this transaction's) and its commit timestamp.
    pub fn current_write(&self, key: &[u8]) -> Result<Option<(Write, u64)>, Error> {
        // SOLUTION BEGIN p4a: scan key's writes newest first for start_ts == self.start_ts; commit_ts >= start_ts, so stop below the start timestamp
        let prefix = encode_bytes(key);
        let mut it = self.reader.iter_cf(Cf::Write)?;
        it.seek(&encode_key(key, u64::MAX))?;
        while let Some((k, v)) = it.item() {
            let commit_ts = match split_ts(k) {
                Some((user, ts)) if user == prefix.as_slice() => ts,
                _ => break,
            };
            if commit_ts < self.start_ts {
                break;
            }
            let write = Write::from_bytes(v)?;
            if write.start_ts == self.start_ts {
                return Ok(Some((write, commit_ts)));
            }
            it.next()?;
        }
        Ok(None)
        // SOLUTION END
    }

    /// The newest record of `key`, whatever the start timestamp, and its
    /// commit timestamp.
    pub fn most_recent_write(&self, key: &[u8]) -> Result<Option<(Write, u64)>, Error> {
        // SOLUTION BEGIN p4a: the first write CF entry of the key (versions sort newest first)
        let prefix = encode_bytes(key);
        let mut it = self.reader.iter_cf(Cf::Write)?;
        it.seek(&encode_key(key, u64::MAX))?;
        match it.item() {
            Some((k, v)) => match split_ts(k) {
                Some((user, commit_ts)) if user == prefix.as_slice() => {
                    Ok(Some((Write::from_bytes(v)?, commit_ts)))
                }
                _ => Ok(None),
            },
            None => Ok(None),
        }
        // SOLUTION END
    }
}
