//! Per-key latches: the server's mutual exclusion between commands that
//! write the same user keys (Percolator itself assumes each row's
//! check-then-write is atomic; in BigTable that is a row transaction).
//!
//! A command latches every key it may write — one latch per user key,
//! across CFs — reads a snapshot taken *after* latching, buffers its
//! changes, has them [validated](Latches::validate) and writes them, then
//! drops its [`LatchGuard`]. Keys are taken all at once (all or nothing),
//! so two commands can never each hold a key the other waits for.
//!
//! In the simulation every handler runs to completion without awaiting, so
//! a latch is never found taken there; on the TCP server a command waits
//! on a condition variable until its keys are free.

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex, MutexGuard};

use tinykv_storage::{Cf, Modify};

use crate::Error;
use crate::codec::decode_user_key;
use crate::txn::MvccTxn;

/// The set of latched keys.
#[derive(Debug, Default)]
pub struct Latches {
    /// Keys currently latched. A `BTreeSet`: nothing depends on hash order.
    held: Mutex<BTreeSet<Vec<u8>>>,
    /// Signalled whenever keys are released.
    released: Condvar,
}

impl Latches {
    /// No key latched.
    pub fn new() -> Latches {
        Latches::default()
    }

    fn held(&self) -> MutexGuard<'_, BTreeSet<Vec<u8>>> {
        // Inserting and removing keys cannot panic half-way.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Latches every key of `keys` (repeats allowed) if none is taken;
    /// returns whether it did. Takes nothing otherwise.
    pub fn try_acquire(&self, keys: &[Vec<u8>]) -> bool {
        let mut held = self.held();
        if keys.iter().any(|k| held.contains(k)) {
            return false;
        }
        held.extend(keys.iter().cloned());
        true
    }

    /// Releases `keys`; keys not latched are ignored.
    pub fn release(&self, keys: &[Vec<u8>]) {
        let mut held = self.held();
        for key in keys {
            held.remove(key);
        }
        drop(held);
        self.released.notify_all();
    }

    /// Waits until every key of `keys` is free, latches them all, and
    /// returns a guard that releases them when dropped.
    pub fn acquire(&self, keys: &[Vec<u8>]) -> LatchGuard<'_> {
        let mut keys = keys.to_vec();
        keys.sort();
        keys.dedup();
        let mut held = self.held();
        while keys.iter().any(|k| held.contains(k)) {
            held = self.released.wait(held).unwrap_or_else(|e| e.into_inner());
        }
        held.extend(keys.iter().cloned());
        LatchGuard {
            latches: self,
            keys,
        }
    }

    /// Checks that `txn` writes only user keys among `keys` (the ones its
    /// command latched): encoded keys of the default and write CFs are
    /// decoded first. The server calls it before every write; a command
    /// that writes an unlatched key fails with [`Error::Unlatched`] and
    /// writes nothing.
    pub fn validate(txn: &MvccTxn<'_>, keys: &[Vec<u8>]) -> Result<(), Error> {
        for modify in txn.writes() {
            let user_key = match modify {
                Modify::Put {
                    cf: Cf::Lock, key, ..
                }
                | Modify::Delete { cf: Cf::Lock, key } => key.clone(),
                Modify::Put { key, .. } | Modify::Delete { key, .. } => decode_user_key(key)?,
                Modify::DeleteRange { start, .. } => {
                    return Err(Error::Unlatched { key: start.clone() });
                }
            };
            if !keys.contains(&user_key) {
                return Err(Error::Unlatched { key: user_key });
            }
        }
        Ok(())
    }
}

/// Latched keys, released on drop.
#[derive(Debug)]
pub struct LatchGuard<'l> {
    latches: &'l Latches,
    keys: Vec<Vec<u8>>,
}

impl LatchGuard<'_> {
    /// The latched keys, sorted, without repeats.
    pub fn keys(&self) -> &[Vec<u8>] {
        &self.keys
    }
}

impl Drop for LatchGuard<'_> {
    fn drop(&mut self) {
        self.latches.release(&self.keys);
    }
}
