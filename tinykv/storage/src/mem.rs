//! The in-memory engine: one ordered map per CF, for fast deterministic
//! simulation (and Project 4's command tests).
//!
//! Snapshots share the maps copy-on-write: taking one clones four `Arc`s; a
//! write while a snapshot is alive copies the touched CF's map once. That
//! keeps snapshots exact and cheap to take, at the price of O(n) for the
//! first write after one — fine for test-sized data.

use std::collections::BTreeMap;
use std::collections::btree_map::Range;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::Error;
use crate::engine::{Cf, DbIterator, Engine, Modify, Snapshot, WriteBatch, WriteOptions};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;
type Maps = [Arc<Map>; 4];

/// An engine in memory. Lost when dropped.
#[derive(Debug, Default)]
pub struct MemEngine {
    /// The current version of each CF, indexed by [`Cf::index`]. A write
    /// holds the lock for the whole batch, so a snapshot (which clones the
    /// four `Arc`s under the same lock) sees all of a batch or none of it.
    maps: Mutex<Maps>,
}

impl MemEngine {
    /// An empty engine.
    pub fn new() -> MemEngine {
        MemEngine::default()
    }

    fn lock(&self) -> MutexGuard<'_, Maps> {
        // Applying a batch cannot panic half-way (inserts and removals on a
        // BTreeMap), so a poisoned lock still guards consistent maps.
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Engine for MemEngine {
    fn write(&self, batch: &WriteBatch, _opts: WriteOptions) -> Result<(), Error> {
        let mut maps = self.lock();
        for modify in batch.modifies() {
            match modify {
                Modify::Put { cf, key, value } => {
                    Arc::make_mut(&mut maps[cf.index()]).insert(key.clone(), value.clone());
                }
                Modify::Delete { cf, key } => {
                    let map = &mut maps[cf.index()];
                    if map.contains_key(key) {
                        Arc::make_mut(map).remove(key);
                    }
                }
                Modify::DeleteRange { start, end } => {
                    if is_empty_range(start, end) {
                        continue;
                    }
                    for cf in Cf::DATA {
                        let map = &mut maps[cf.index()];
                        let doomed: Vec<Vec<u8>> = map
                            .range::<[u8], _>(bounds(start, end))
                            .map(|(k, _)| k.clone())
                            .collect();
                        if !doomed.is_empty() {
                            let map = Arc::make_mut(map);
                            for key in doomed {
                                map.remove(&key);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<Box<dyn Snapshot>, Error> {
        Ok(Box::new(MemSnapshot {
            maps: self.lock().clone(),
        }))
    }
}

/// Whether `[start, end)` holds no key (an empty `end` is unbounded).
pub(crate) fn is_empty_range(start: &[u8], end: &[u8]) -> bool {
    !end.is_empty() && start >= end
}

/// `[start, end)`, with an empty `end` meaning unbounded.
pub(crate) fn bounds<'a>(start: &'a [u8], end: &'a [u8]) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    let upper = if end.is_empty() {
        Bound::Unbounded
    } else {
        Bound::Excluded(end)
    };
    (Bound::Included(start), upper)
}

struct MemSnapshot {
    maps: Maps,
}

impl Snapshot for MemSnapshot {
    fn get_cf(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.maps[cf.index()].get(key).cloned())
    }

    fn iter_cf(&self, cf: Cf) -> Result<Box<dyn DbIterator + '_>, Error> {
        let map: &Map = &self.maps[cf.index()];
        let mut range = map.range::<[u8], _>((Bound::Unbounded, Bound::Unbounded));
        let current = range.next();
        Ok(Box::new(MemIter {
            map,
            range,
            current,
        }))
    }
}

struct MemIter<'a> {
    map: &'a Map,
    /// The pairs after `current`.
    range: Range<'a, Vec<u8>, Vec<u8>>,
    current: Option<(&'a Vec<u8>, &'a Vec<u8>)>,
}

impl DbIterator for MemIter<'_> {
    fn seek(&mut self, key: &[u8]) -> Result<(), Error> {
        self.range = self
            .map
            .range::<[u8], _>((Bound::Included(key), Bound::Unbounded));
        self.current = self.range.next();
        Ok(())
    }

    fn item(&self) -> Option<(&[u8], &[u8])> {
        self.current.map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    fn next(&mut self) -> Result<(), Error> {
        if self.current.is_some() {
            self.current = self.range.next();
        }
        Ok(())
    }
}
