//! Peer storage: one peer's raft log, hard state and apply state in the
//! store's two engines, with the reference's key layout (`keys.rs`).
//!
//! * raft engine: log entries, one key each, and [`RaftLocalState`];
//! * kv engine: the data, [`RaftApplyState`] and [`RegionLocalState`].
//!
//! The raft core keeps its log in memory as well; this is what it is
//! rebuilt from after a crash ([`PeerStorage::restore_core`]).

use std::sync::Arc;

use raft::{Apply, Config, Core, Entry, Ready};
use rand::rngs::SmallRng;
use tinykv_storage::{Cf, Engine, WriteBatch, WriteOptions};

use crate::Error;
use crate::keys;
use crate::meta::{
    self, Peer, PeerState, RAFT_INIT_LOG_INDEX, RAFT_INIT_LOG_TERM, RaftApplyState, RaftLocalState,
    RaftTruncatedState, Region, RegionEpoch, RegionLocalState,
};
use crate::snap::RegionSnapshot;

/// Writes are made durable before the peer acts on them: raft state before
/// messages leave, applied data before clients hear back.
const SYNC: WriteOptions = WriteOptions::SYNC;

/// Region 1 as a cluster is bootstrapped: the whole key space, epoch
/// `conf_ver` 1 / `version` 1, one peer on each of `stores` whose id is
/// the store's id.
pub fn first_region(stores: impl IntoIterator<Item = u64>) -> Region {
    Region {
        id: 1,
        start_key: Vec::new(),
        end_key: Vec::new(),
        region_epoch: RegionEpoch {
            conf_ver: 1,
            version: 1,
        },
        peers: stores
            .into_iter()
            .map(|id| Peer { id, store_id: id })
            .collect(),
    }
}

/// Writes a bootstrapped region's initial state on one store: the region
/// (Normal), and raft and apply state at index and term 5 (the reference's
/// `RaftInitLogIndex`/`RaftInitLogTerm`), with no log entry.
///
/// # Errors
/// [`Error::Engine`] if a write fails.
pub fn bootstrap_region(
    raft_engine: &dyn Engine,
    kv_engine: &dyn Engine,
    region: &Region,
) -> Result<(), Error> {
    let mut kv_wb = WriteBatch::new();
    let region_state = RegionLocalState {
        state: PeerState::Normal,
        region: region.clone(),
    };
    kv_wb.put(
        Cf::Meta,
        keys::region_state_key(region.id),
        meta::encode(&region_state),
    );
    kv_wb.put(
        Cf::Meta,
        keys::apply_state_key(region.id),
        meta::encode(&initial_apply_state()),
    );
    kv_engine.write(&kv_wb, SYNC)?;
    let mut raft_wb = WriteBatch::new();
    raft_wb.put(
        Cf::Meta,
        keys::raft_state_key(region.id),
        meta::encode(&initial_raft_state()),
    );
    raft_engine.write(&raft_wb, SYNC)?;
    Ok(())
}

/// The raft state of a freshly initialised region (bootstrap or split).
pub(crate) fn initial_raft_state() -> RaftLocalState {
    RaftLocalState {
        hard_state: meta::HardStateRecord {
            term: RAFT_INIT_LOG_TERM,
            vote: None,
            commit: RAFT_INIT_LOG_INDEX,
        },
        last_index: RAFT_INIT_LOG_INDEX,
        last_term: RAFT_INIT_LOG_TERM,
    }
}

/// The apply state of a freshly initialised region (bootstrap or split).
pub(crate) fn initial_apply_state() -> RaftApplyState {
    RaftApplyState {
        applied_index: RAFT_INIT_LOG_INDEX,
        truncated_state: RaftTruncatedState {
            index: RAFT_INIT_LOG_INDEX,
            term: RAFT_INIT_LOG_TERM,
        },
    }
}

/// Reads and decodes one record of `Cf::Meta`.
pub(crate) fn read_record<T: serde::de::DeserializeOwned>(
    engine: &dyn Engine,
    key: &[u8],
) -> Result<Option<T>, Error> {
    match engine.snapshot()?.get_cf(Cf::Meta, key)? {
        Some(bytes) => Ok(Some(meta::decode(key, &bytes)?)),
        None => Ok(None),
    }
}

/// The lowest index of `region_id`'s entries in the raft engine, if any.
fn first_log_index(raft_engine: &dyn Engine, region_id: u64) -> Result<Option<u64>, Error> {
    let snap = raft_engine.snapshot()?;
    let mut iter = snap.iter_cf(Cf::Meta)?;
    iter.seek(&keys::raft_log_key(region_id, 0))?;
    Ok(iter
        .item()
        .and_then(|(key, _)| keys::raft_log_index(region_id, key)))
}

/// One peer's persisted raft state.
pub struct PeerStorage {
    region: Region,
    /// Mirrors the raft engine's record. Invariant: `last_index >= truncated index`.
    raft_state: RaftLocalState,
    /// Mirrors the kv engine's record. Invariant: `truncated.index <= applied_index <= last_index`.
    apply_state: RaftApplyState,
    /// The lowest index whose entry may still be in the raft engine (raft
    /// log GC deletes from here up to the truncated index).
    /// Invariant: `gc_from <= truncated index + 1`.
    gc_from: u64,
    raft_engine: Arc<dyn Engine>,
    kv_engine: Arc<dyn Engine>,
}

impl std::fmt::Debug for PeerStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerStorage")
            .field("region", &self.region)
            .field("raft_state", &self.raft_state)
            .field("apply_state", &self.apply_state)
            .finish()
    }
}

impl PeerStorage {
    /// Opens the storage of `region`'s peer: its persisted states, or for a
    /// region never persisted here, the bootstrap states (initialised
    /// region) or all zeros (a peer awaiting its first snapshot).
    ///
    /// # Errors
    /// [`Error::Corrupt`] if a record does not decode or the states
    /// contradict each other; [`Error::Engine`] on a read failure.
    pub fn new(
        raft_engine: Arc<dyn Engine>,
        kv_engine: Arc<dyn Engine>,
        region: Region,
    ) -> Result<PeerStorage, Error> {
        let initialised = !region.peers.is_empty();
        let raft_key = keys::raft_state_key(region.id);
        let raft_state = match read_record(raft_engine.as_ref(), &raft_key)? {
            Some(state) => state,
            None if initialised => initial_raft_state(),
            None => RaftLocalState::default(),
        };
        let apply_key = keys::apply_state_key(region.id);
        let apply_state: RaftApplyState = match read_record(kv_engine.as_ref(), &apply_key)? {
            Some(state) => state,
            None if initialised => initial_apply_state(),
            None => RaftApplyState::default(),
        };
        let mut raft_state = raft_state;
        let truncated_state = apply_state.truncated_state;
        if raft_state.last_index < truncated_state.index {
            // A snapshot was installed (its kv batch is written first) but
            // the crash came before its raft batch: the log restarts at the
            // snapshot.
            raft_state.last_index = truncated_state.index;
            raft_state.last_term = truncated_state.term;
            raft_state.hard_state.commit = raft_state.hard_state.commit.max(truncated_state.index);
        }
        let truncated = truncated_state.index;
        if raft_state.last_index < apply_state.applied_index
            || apply_state.applied_index < truncated
        {
            return Err(Error::Corrupt {
                key: raft_key,
                reason: format!(
                    "last index {} < applied index {} or applied < truncated index {}",
                    raft_state.last_index, apply_state.applied_index, truncated
                ),
            });
        }
        let gc_from = first_log_index(raft_engine.as_ref(), region.id)?
            .unwrap_or(truncated + 1)
            .min(truncated + 1);
        Ok(PeerStorage {
            region,
            raft_state,
            apply_state,
            gc_from,
            raft_engine,
            kv_engine,
        })
    }

    /// The region as last applied.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// Replaces the region (after a snapshot or an admin command changed it).
    pub fn set_region(&mut self, region: Region) {
        self.region = region;
    }

    /// The raft engine.
    pub fn raft_engine(&self) -> &Arc<dyn Engine> {
        &self.raft_engine
    }

    /// The kv engine.
    pub fn kv_engine(&self) -> &Arc<dyn Engine> {
        &self.kv_engine
    }

    /// The raft local state.
    pub fn raft_state(&self) -> &RaftLocalState {
        &self.raft_state
    }

    /// The apply state.
    pub fn apply_state(&self) -> &RaftApplyState {
        &self.apply_state
    }

    /// The apply state, to change in step with a kv batch (see
    /// [`PeerStorage::write_apply_state`]).
    pub fn apply_state_mut(&mut self) -> &mut RaftApplyState {
        &mut self.apply_state
    }

    /// Adds the apply state to `kv_wb`: it is persisted atomically with the
    /// data that moved it.
    pub fn write_apply_state(&self, kv_wb: &mut WriteBatch) {
        kv_wb.put(
            Cf::Meta,
            keys::apply_state_key(self.region.id),
            meta::encode(&self.apply_state),
        );
    }

    /// Adds the region local state to `kv_wb`.
    pub fn write_region_state(&self, kv_wb: &mut WriteBatch, state: PeerState) {
        let record = RegionLocalState {
            state,
            region: self.region.clone(),
        };
        kv_wb.put(
            Cf::Meta,
            keys::region_state_key(self.region.id),
            meta::encode(&record),
        );
    }

    /// Whether the peer has a region with peers (it is not awaiting a snapshot).
    pub fn is_initialised(&self) -> bool {
        !self.region.peers.is_empty()
    }

    /// `truncated.index + 1`: the first index the log may hold.
    pub fn first_index(&self) -> u64 {
        self.apply_state.truncated_state.index + 1
    }

    /// The last index persisted.
    pub fn last_index(&self) -> u64 {
        self.raft_state.last_index
    }

    /// The applied index.
    pub fn applied_index(&self) -> u64 {
        self.apply_state.applied_index
    }

    /// The truncated index.
    pub fn truncated_index(&self) -> u64 {
        self.apply_state.truncated_state.index
    }

    /// The term of `index`: the truncated index counts; below it
    /// [`Error::Compacted`], past the end [`Error::Unavailable`].
    ///
    /// # Errors
    /// As above, and [`Error::Corrupt`] / [`Error::Engine`] on a bad read.
    pub fn term(&self, index: u64) -> Result<u64, Error> {
        let truncated = self.apply_state.truncated_state;
        if index == truncated.index {
            return Ok(truncated.term);
        }
        if index < truncated.index {
            return Err(Error::Compacted { index });
        }
        if index > self.raft_state.last_index {
            return Err(Error::Unavailable { index });
        }
        if index == self.raft_state.last_index {
            return Ok(self.raft_state.last_term);
        }
        Ok(self.entries(index, index + 1)?[0].term)
    }

    /// Entries `low..high` from the raft engine.
    ///
    /// # Errors
    /// [`Error::Compacted`] if `low` is at or below the truncated index,
    /// [`Error::Unavailable`] if `high` is past the end or an entry is
    /// missing, [`Error::Corrupt`] if one does not decode.
    pub fn entries(&self, low: u64, high: u64) -> Result<Vec<Entry>, Error> {
        if low > high {
            return Err(Error::Unavailable { index: low });
        }
        if low <= self.apply_state.truncated_state.index {
            return Err(Error::Compacted { index: low });
        }
        if high > self.raft_state.last_index + 1 {
            return Err(Error::Unavailable { index: high - 1 });
        }
        let region_id = self.region.id;
        let snap = self.raft_engine.snapshot()?;
        let mut iter = snap.iter_cf(Cf::Meta)?;
        iter.seek(&keys::raft_log_key(region_id, low))?;
        let mut out = Vec::with_capacity((high - low) as usize);
        let mut next = low;
        while next < high {
            let Some((key, value)) = iter.item() else {
                break;
            };
            let Some(index) = keys::raft_log_index(region_id, key) else {
                break;
            };
            if index != next {
                // A gap: the log is not contiguous here.
                break;
            }
            out.push(meta::decode(key, value)?);
            next += 1;
            iter.next()?;
        }
        if next < high {
            return Err(Error::Unavailable { index: next });
        }
        Ok(out)
    }

    /// Adds `entries`, the entries at `first..first + len`, to `raft_wb`:
    /// entries at or below the truncated index are skipped, persisted
    /// entries past the new last index are deleted (a conflicting tail), and
    /// `last_index`/`last_term` follow. The caller writes the batch with the
    /// raft state ([`PeerStorage::save_ready_state`]).
    pub fn append(&mut self, first: u64, entries: &[Entry], raft_wb: &mut WriteBatch) {
        // SOLUTION BEGIN p2b: skip entries at or below the truncated index, put the rest, delete the stale tail, move last_index/last_term
        let truncated = self.apply_state.truncated_state.index;
        let skip = (truncated + 1).saturating_sub(first) as usize;
        if skip >= entries.len() {
            return;
        }
        let region_id = self.region.id;
        let start = first + skip as u64;
        for (offset, entry) in entries[skip..].iter().enumerate() {
            raft_wb.put(
                Cf::Meta,
                keys::raft_log_key(region_id, start + offset as u64),
                meta::encode(entry),
            );
        }
        let last = first + entries.len() as u64 - 1;
        for stale in last + 1..=self.raft_state.last_index {
            raft_wb.delete(Cf::Meta, keys::raft_log_key(region_id, stale));
        }
        self.raft_state.last_index = last;
        self.raft_state.last_term = entries[entries.len() - 1].term;
        // SOLUTION END
    }

    /// Persists what `ready` asks of the log: a snapshot received from the
    /// leader first ([`PeerStorage::apply_snapshot`]), then its entries
    /// (read from `core`) and hard state, with the raft state, in **one**
    /// raft-engine batch. A ready's snapshot that is this peer's own log
    /// compaction (no snapshot to apply) is already persisted: the apply
    /// state that moved the truncated index was written with CompactLog.
    ///
    /// # Errors
    /// [`Error::Engine`] if the write fails; [`Error::Unavailable`] if the
    /// core no longer holds an entry the ready names; [`Error::Corrupt`] if
    /// a snapshot's bytes do not decode or disagree with the core.
    pub fn save_ready_state(&mut self, core: &Core, ready: &Ready) -> Result<(), Error> {
        let mut raft_wb = WriteBatch::new();
        if let Some(meta) = ready.snapshot {
            let received = ready.committed.iter().find_map(|apply| match apply {
                Apply::Snapshot { index, data, .. } if *index == meta.index => Some(data),
                _ => None,
            });
            if let Some(data) = received {
                let snapshot = RegionSnapshot::decode(data)?;
                if (snapshot.index, snapshot.term) != (meta.index, meta.term) {
                    return Err(Error::Corrupt {
                        key: b"region snapshot".to_vec(),
                        reason: format!(
                            "data at ({}, {}) installed as ({}, {})",
                            snapshot.index, snapshot.term, meta.index, meta.term
                        ),
                    });
                }
                self.apply_snapshot(core, &snapshot, &mut raft_wb)?;
                // The raft state moved with the snapshot (a later put of it
                // in this batch wins).
                raft_wb.put(
                    Cf::Meta,
                    keys::raft_state_key(self.region.id),
                    meta::encode(&self.raft_state),
                );
            }
        }
        // SOLUTION BEGIN p2b: append the ready's entries and store its hard state and the raft state in one raft-engine batch
        let before = self.raft_state;
        if let Some(range) = ready.entries.clone() {
            let first = range.start;
            let entries = range
                .map(|index| {
                    core.entry(index)
                        .cloned()
                        .ok_or(Error::Unavailable { index })
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.append(first, &entries, &mut raft_wb);
        }
        if let Some(hard) = ready.hard_state {
            self.raft_state.hard_state = hard.into();
        }
        if self.raft_state != before {
            raft_wb.put(
                Cf::Meta,
                keys::raft_state_key(self.region.id),
                meta::encode(&self.raft_state),
            );
        }
        if !raft_wb.is_empty()
            && let Err(e) = self.raft_engine.write(&raft_wb, SYNC)
        {
            self.raft_state = before;
            return Err(e.into());
        }
        Ok(())
        // SOLUTION END
    }

    /// Installs a snapshot received from the leader (the reference's
    /// `ApplySnapshot`): the data, the apply state (applied = truncated =
    /// the snapshot's index) and the region in **one** kv batch, written at
    /// once; then the removal of the log the snapshot covers, and of
    /// persisted entries past it that `core` no longer holds, into
    /// `raft_wb`, with `last_index/last_term` moved to what `core` keeps.
    /// The kv batch goes first: a crash before `raft_wb` is written leaves a
    /// raft state behind the truncated index, which [`PeerStorage::new`]
    /// moves up to it.
    ///
    /// # Errors
    /// [`Error::Engine`] if the kv write fails.
    pub fn apply_snapshot(
        &mut self,
        core: &Core,
        snapshot: &RegionSnapshot,
        raft_wb: &mut WriteBatch,
    ) -> Result<(), Error> {
        // SOLUTION BEGIN p2c: one kv batch (wipe, ingest, apply state, region), then drop the covered log from the raft engine
        let mut kv_wb = WriteBatch::new();
        let apply_state = snapshot.install(&self.region, self.is_initialised(), &mut kv_wb);
        let (old_region, old_apply) = (self.region.clone(), self.apply_state);
        self.region = snapshot.region.clone();
        self.apply_state = apply_state;
        self.write_apply_state(&mut kv_wb);
        self.write_region_state(&mut kv_wb, PeerState::Normal);
        if let Err(e) = self.kv_engine.write(&kv_wb, SYNC) {
            self.region = old_region;
            self.apply_state = old_apply;
            return Err(e.into());
        }
        let region_id = self.region.id;
        let old_last = self.raft_state.last_index;
        // Entries after the snapshot that the core kept (their terms matched).
        let mut kept_last = snapshot.index;
        while kept_last < old_last && core.entry(kept_last + 1).is_some() {
            kept_last += 1;
        }
        for index in self.gc_from..=snapshot.index.min(old_last) {
            raft_wb.delete(Cf::Meta, keys::raft_log_key(region_id, index));
        }
        for index in (kept_last + 1).max(self.gc_from)..=old_last {
            raft_wb.delete(Cf::Meta, keys::raft_log_key(region_id, index));
        }
        self.gc_from = snapshot.index + 1;
        self.raft_state.last_index = kept_last;
        self.raft_state.last_term = match core.entry(kept_last) {
            Some(entry) if kept_last > snapshot.index => entry.term,
            _ => snapshot.term,
        };
        let hard = &mut self.raft_state.hard_state;
        hard.commit = hard.commit.max(snapshot.index);
        Ok(())
        // SOLUTION END
    }

    /// Moves the truncated state forward to (`index`, `term`) (CompactLog),
    /// never back; the caller persists the apply state in the kv batch of
    /// the entry that asked for it, then deletes the entries with
    /// [`PeerStorage::gc_raft_log`]. Returns whether it moved.
    pub fn compact_to(&mut self, index: u64, term: u64) -> bool {
        // SOLUTION BEGIN p2c: only forward, and never past the applied index
        let truncated = &mut self.apply_state.truncated_state;
        if index <= truncated.index || index > self.apply_state.applied_index {
            return false;
        }
        *truncated = RaftTruncatedState { index, term };
        true
        // SOLUTION END
    }

    /// Raft-log GC: deletes the entries up to the truncated index that are
    /// still in the raft engine. Not synced: losing it to a crash leaves
    /// only garbage below the truncated index, which the next GC removes.
    ///
    /// # Errors
    /// [`Error::Engine`] if the write fails.
    pub fn gc_raft_log(&mut self) -> Result<(), Error> {
        // SOLUTION BEGIN p2c: delete [gc_from, truncated] from the raft engine
        let truncated = self.apply_state.truncated_state.index;
        if self.gc_from > truncated {
            return Ok(());
        }
        let mut raft_wb = WriteBatch::new();
        for index in self.gc_from..=truncated {
            raft_wb.delete(Cf::Meta, keys::raft_log_key(self.region.id, index));
        }
        self.raft_engine.write(&raft_wb, WriteOptions::NO_SYNC)?;
        self.gc_from = truncated + 1;
        Ok(())
        // SOLUTION END
    }

    /// The lowest index whose entry may still be in the raft engine.
    pub fn gc_from(&self) -> u64 {
        self.gc_from
    }

    /// Adds the removal of this peer's raft log and raft state (to
    /// `raft_wb`) and apply state (to `kv_wb`): what a destroyed peer or a
    /// peer about to take a snapshot leaves behind.
    pub fn clear_meta(&self, kv_wb: &mut WriteBatch, raft_wb: &mut WriteBatch) {
        let region_id = self.region.id;
        // Every entry that can exist: from the oldest one not yet garbage
        // collected to the last.
        let from = self.gc_from.min(self.first_index());
        for index in from..=self.raft_state.last_index {
            raft_wb.delete(Cf::Meta, keys::raft_log_key(region_id, index));
        }
        raft_wb.delete(Cf::Meta, keys::raft_state_key(region_id));
        kv_wb.delete(Cf::Meta, keys::apply_state_key(region_id));
    }

    /// A raft core for this peer (`me`, among `members`) rebuilt from the
    /// persisted hard state, log and apply state.
    ///
    /// # Errors
    /// [`Error::Unavailable`] / [`Error::Corrupt`] if the log between the
    /// truncated and last index cannot be read back whole.
    pub fn restore_core(
        &self,
        me: usize,
        members: &[usize],
        config: Config,
        rng: SmallRng,
    ) -> Result<Core, Error> {
        let truncated = self.apply_state.truncated_state;
        let entries = self.entries(self.first_index(), self.raft_state.last_index + 1)?;
        Ok(Core::restore(
            me,
            members,
            config,
            self.raft_state.hard_state.into(),
            (truncated.index, truncated.term),
            entries,
            self.apply_state.applied_index,
            rng,
        ))
    }
}

#[cfg(test)]
mod tests;
