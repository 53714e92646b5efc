//! [`Scanner`]: the keys of a transaction's snapshot in order from a start
//! key, each with its value visible at the start timestamp, or the lock
//! that hides it. Deleted keys and keys with no visible version are
//! skipped.
//!
//! Two cursors walk side by side: one over the write CF (versions of a key
//! are adjacent, newest first, so the user keys come in order) and one over
//! the lock CF (raw keys, in the same order). A key that is locked but has
//! never been committed is still reported as locked — the reference scanner
//! walks the write CF only and would miss it.

use tinykv_storage::{Cf, DbIterator};

use crate::Error;
use crate::codec::{decode_user_key, encode_bytes, encode_key};
use crate::lock::Lock;
use crate::proto::LockInfo;
use crate::txn::MvccTxn;

/// One key a scan yields: its visible value, or the lock hiding it.
pub type ScanItem = (Vec<u8>, Result<Vec<u8>, LockInfo>);

/// A cursor over the visible keys of a [`MvccTxn`]'s snapshot.
pub struct Scanner<'t, 'a> {
    txn: &'t MvccTxn<'a>,
    /// Positioned at the first version of the next user key to look at.
    writes: Box<dyn DbIterator + 'a>,
    /// Positioned at the next lock to look at.
    locks: Box<dyn DbIterator + 'a>,
}

impl<'t, 'a> Scanner<'t, 'a> {
    /// A scanner at the first key `>= start_key`.
    pub fn new(txn: &'t MvccTxn<'a>, start_key: &[u8]) -> Result<Scanner<'t, 'a>, Error> {
        let mut writes = txn.reader().iter_cf(Cf::Write)?;
        // The memcomparable key without a timestamp sorts before every
        // version of `start_key`.
        writes.seek(&encode_bytes(start_key))?;
        let mut locks = txn.reader().iter_cf(Cf::Lock)?;
        locks.seek(start_key)?;
        Ok(Scanner { txn, writes, locks })
    }

    /// The next key with a visible value or a blocking lock; `None` at the
    /// end of the data.
    pub fn next_item(&mut self) -> Result<Option<ScanItem>, Error> {
        // SOLUTION BEGIN p4c: take the smaller user key of the two cursors; a blocking lock on it yields the lock, else its visible value (skip keys with none); move both cursors past it
        loop {
            let written = match self.writes.item() {
                Some((k, _)) => Some(decode_user_key(k)?),
                None => None,
            };
            let locked = self.locks.item().map(|(k, v)| (k.to_vec(), v.to_vec()));
            let key = match (&written, &locked) {
                (None, None) => return Ok(None),
                (Some(w), None) => w.clone(),
                (None, Some((l, _))) => l.clone(),
                (Some(w), Some((l, _))) => w.min(l).clone(),
            };
            let mut lock = None;
            if let Some((l, bytes)) = &locked
                && *l == key
            {
                lock = Some(Lock::from_bytes(bytes)?);
                self.locks.next()?;
            }
            let has_writes = written.as_ref() == Some(&key);
            if has_writes {
                self.skip_versions(&key)?;
            }
            if let Some(lock) = lock
                && lock.is_locked_for(&key, self.txn.start_ts)
            {
                let info = lock.info(&key);
                return Ok(Some((key, Err(info))));
            }
            if has_writes && let Some(value) = self.txn.get_value(&key)? {
                return Ok(Some((key, Ok(value))));
            }
        }
        // SOLUTION END
    }

    /// Moves the write cursor past every version of `key`.
    fn skip_versions(&mut self, key: &[u8]) -> Result<(), Error> {
        // Timestamp 0 encodes as the largest suffix: the oldest version.
        let last = encode_key(key, 0);
        self.writes.seek(&last)?;
        if self
            .writes
            .item()
            .is_some_and(|(k, _)| k == last.as_slice())
        {
            self.writes.next()?;
        }
        Ok(())
    }
}
