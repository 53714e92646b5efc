//! Region snapshots (Project 2C): what a leader sends a peer whose next
//! entries were compacted away, and how that peer installs it.
//!
//! A snapshot is cut from **one** kv-engine snapshot, at the applied index
//! that engine snapshot records, so its data and its index agree exactly:
//! the region (for its range, epoch and peers), the index and term, and
//! every pair of the region's range in the data CFs. It travels as the
//! raft core's snapshot bytes ([`RegionSnapshot::encode`]).
//!
//! Installing one is a single kv batch — wipe the region's range in the data
//! CFs, ingest the pairs, move the apply state (applied = truncated = the
//! snapshot's index) and store the region — so a crash leaves either the
//! old state or the new one, never a mix.

use serde::{Deserialize, Serialize};
use tinykv_storage::{Cf, Engine, WriteBatch};

use crate::Error;
use crate::keys;
use crate::meta::{self, RaftApplyState, RaftTruncatedState, Region, RegionEpoch};

/// A region's data at one applied index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionSnapshot {
    /// The region as the sender had applied it.
    pub region: Region,
    /// The applied index the data is at.
    pub index: u64,
    /// The term of that index.
    pub term: u64,
    /// Every pair of the region's range in the data CFs, per CF in key order.
    pub pairs: Vec<(Cf, Vec<u8>, Vec<u8>)>,
}

impl RegionSnapshot {
    /// Cuts a snapshot of `region` from one view of `kv_engine`: its data
    /// and the applied index recorded in the same view. `term_of` gives the
    /// term of that index (from the raft log or the truncated state).
    ///
    /// # Errors
    /// [`Error::Engine`] on a read failure, [`Error::Corrupt`] if the apply
    /// state is missing or does not decode, or what `term_of` returns.
    pub fn generate(
        kv_engine: &dyn Engine,
        region: &Region,
        term_of: impl FnOnce(u64) -> Result<u64, Error>,
    ) -> Result<RegionSnapshot, Error> {
        // SOLUTION BEGIN p2c: one engine view: its applied index, and every pair of the region's range in the data CFs
        let view = kv_engine.snapshot()?;
        let key = keys::apply_state_key(region.id);
        let apply: RaftApplyState = match view.get_cf(Cf::Meta, &key)? {
            Some(bytes) => meta::decode(&key, &bytes)?,
            None => {
                return Err(Error::Corrupt {
                    key,
                    reason: "no apply state to cut a snapshot at".into(),
                });
            }
        };
        let index = apply.applied_index;
        let term = term_of(index)?;
        let mut pairs = Vec::new();
        for cf in Cf::DATA {
            let mut iter = view.iter_cf(cf)?;
            iter.seek(&region.start_key)?;
            while let Some((k, v)) = iter.item() {
                if !region.end_key.is_empty() && k >= region.end_key.as_slice() {
                    break;
                }
                pairs.push((cf, k.to_vec(), v.to_vec()));
                iter.next()?;
            }
        }
        Ok(RegionSnapshot {
            region: region.clone(),
            index,
            term,
            pairs,
        })
        // SOLUTION END
    }

    /// The bytes that travel as the raft core's snapshot.
    pub fn encode(&self) -> Vec<u8> {
        meta::encode(self)
    }

    /// Decodes what [`RegionSnapshot::encode`] wrote.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if `bytes` are not a region snapshot.
    pub fn decode(bytes: &[u8]) -> Result<RegionSnapshot, Error> {
        meta::decode(b"region snapshot", bytes)
    }

    /// Whether a peer whose region is `current` may install this snapshot:
    /// same region, an epoch that is not older in either part, and a range
    /// that is the region's own (a snapshot covering another range would
    /// overwrite data the peer does not own). `None` if it may, else why not.
    pub fn refusal(&self, current: &Region) -> Option<String> {
        // SOLUTION BEGIN p2c: refuse another region's, a stale epoch's and another range's snapshot
        let (mine, theirs): (RegionEpoch, RegionEpoch) =
            (current.region_epoch, self.region.region_epoch);
        if self.region.id != current.id {
            return Some(format!(
                "snapshot of region {} sent to region {}",
                self.region.id, current.id
            ));
        }
        if theirs.conf_ver < mine.conf_ver || theirs.version < mine.version {
            return Some(format!("stale epoch {theirs:?} < {mine:?}"));
        }
        if theirs.version == mine.version
            && (self.region.start_key != current.start_key
                || self.region.end_key != current.end_key)
        {
            return Some("same version but another range: overlapping snapshot".into());
        }
        if self.region.peers.is_empty() {
            return Some("snapshot of a region without peers".into());
        }
        None
        // SOLUTION END
    }

    /// Adds the installation of this snapshot to `kv_wb`, for a peer whose
    /// region was `old`: wipe `old`'s range (if it had one) and the
    /// snapshot's range, ingest the pairs, and return the new apply state
    /// (applied and truncated at the snapshot's index), which the caller
    /// writes in the same batch with the region.
    pub fn install(
        &self,
        old: &Region,
        initialised: bool,
        kv_wb: &mut WriteBatch,
    ) -> RaftApplyState {
        // SOLUTION BEGIN p2c: wipe the old and new ranges, ingest, move applied and truncated to the snapshot
        if initialised
            && (old.start_key != self.region.start_key || old.end_key != self.region.end_key)
        {
            kv_wb.delete_range(old.start_key.clone(), old.end_key.clone());
        }
        kv_wb.delete_range(self.region.start_key.clone(), self.region.end_key.clone());
        for (cf, key, value) in &self.pairs {
            kv_wb.put(*cf, key.clone(), value.clone());
        }
        RaftApplyState {
            applied_index: self.index,
            truncated_state: RaftTruncatedState {
                index: self.index,
                term: self.term,
            },
        }
        // SOLUTION END
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tinykv_storage::{MemEngine, WriteOptions};

    use super::*;
    use crate::meta::Peer;

    fn region(start: &[u8], end: &[u8], conf_ver: u64, version: u64) -> Region {
        Region {
            id: 1,
            start_key: start.to_vec(),
            end_key: end.to_vec(),
            region_epoch: RegionEpoch { conf_ver, version },
            peers: (1..=3).map(|s| Peer { id: s, store_id: s }).collect(),
        }
    }

    fn engine_with(pairs: &[(Cf, &[u8], &[u8])], applied: u64) -> Arc<dyn Engine> {
        let engine: Arc<dyn Engine> = Arc::new(MemEngine::new());
        let mut wb = WriteBatch::new();
        for (cf, k, v) in pairs {
            wb.put(*cf, k.to_vec(), v.to_vec());
        }
        let apply = RaftApplyState {
            applied_index: applied,
            truncated_state: RaftTruncatedState { index: 5, term: 5 },
        };
        wb.put(Cf::Meta, keys::apply_state_key(1), meta::encode(&apply));
        engine.write(&wb, WriteOptions::SYNC).unwrap();
        engine
    }

    fn dump(engine: &dyn Engine) -> Vec<(Cf, Vec<u8>, Vec<u8>)> {
        let view = engine.snapshot().unwrap();
        let mut out = Vec::new();
        for cf in Cf::DATA {
            let mut iter = view.iter_cf(cf).unwrap();
            iter.seek(b"").unwrap();
            while let Some((k, v)) = iter.item() {
                out.push((cf, k.to_vec(), v.to_vec()));
                iter.next().unwrap();
            }
        }
        out
    }

    /// Generation reads one view: the applied index recorded in it and
    /// exactly the region's range of every data CF; installing it on
    /// another store replaces that range (stale keys in it go) and leaves
    /// the rest, in one batch with applied = truncated = the index.
    #[test]
    fn generate_then_install_replaces_exactly_the_range() {
        let r = region(b"b", b"m", 1, 1);
        let leader = engine_with(
            &[
                (Cf::Default, b"a", b"out"),
                (Cf::Default, b"b", b"1"),
                (Cf::Lock, b"c", b"lock"),
                (Cf::Write, b"l", b"w"),
                (Cf::Default, b"m", b"out"),
            ],
            12,
        );
        let snap = RegionSnapshot::generate(leader.as_ref(), &r, |i| Ok(i / 2)).unwrap();
        assert_eq!((snap.index, snap.term), (12, 6));
        let keys: Vec<&[u8]> = snap.pairs.iter().map(|(_, k, _)| k.as_slice()).collect();
        assert_eq!(keys, [&b"b"[..], b"l", b"c"], "default, write, lock order");
        let decoded = RegionSnapshot::decode(&snap.encode()).unwrap();
        assert_eq!(decoded, snap);

        let follower = engine_with(
            &[
                (Cf::Default, b"a", b"mine"),
                (Cf::Default, b"d", b"stale"),
                (Cf::Lock, b"k", b"stale"),
                (Cf::Default, b"z", b"mine"),
            ],
            7,
        );
        let mut wb = WriteBatch::new();
        let apply = decoded.install(&r, true, &mut wb);
        assert_eq!(apply.applied_index, 12);
        assert_eq!(
            apply.truncated_state,
            RaftTruncatedState { index: 12, term: 6 }
        );
        follower.write(&wb, WriteOptions::SYNC).unwrap();
        let got = dump(follower.as_ref());
        let want: Vec<(Cf, Vec<u8>, Vec<u8>)> = [
            (Cf::Default, &b"a"[..], &b"mine"[..]),
            (Cf::Default, b"b", b"1"),
            (Cf::Default, b"z", b"mine"),
            (Cf::Write, b"l", b"w"),
            (Cf::Lock, b"c", b"lock"),
        ]
        .iter()
        .map(|(cf, k, v)| (*cf, k.to_vec(), v.to_vec()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_snapshot_without_an_apply_state_is_an_error() {
        let engine: Arc<dyn Engine> = Arc::new(MemEngine::new());
        let err = RegionSnapshot::generate(engine.as_ref(), &region(b"", b"", 1, 1), Ok);
        assert!(matches!(err, Err(Error::Corrupt { .. })), "{err:?}");
        assert!(matches!(
            RegionSnapshot::decode(b"\xff\x00garbage"),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn stale_foreign_and_overlapping_snapshots_are_refused() {
        let current = region(b"b", b"m", 2, 3);
        let snap = |r: Region| RegionSnapshot {
            region: r,
            index: 10,
            term: 2,
            pairs: Vec::new(),
        };
        assert_eq!(snap(current.clone()).refusal(&current), None);
        assert_eq!(snap(region(b"b", b"m", 3, 3)).refusal(&current), None);
        assert_eq!(snap(region(b"b", b"z", 2, 4)).refusal(&current), None);
        let mut other = current.clone();
        other.id = 2;
        assert!(snap(other).refusal(&current).is_some(), "another region");
        assert!(snap(region(b"b", b"m", 1, 3)).refusal(&current).is_some());
        assert!(snap(region(b"b", b"m", 2, 2)).refusal(&current).is_some());
        assert!(
            snap(region(b"a", b"m", 2, 3)).refusal(&current).is_some(),
            "overlapping range at the same version"
        );
        let mut empty = current.clone();
        empty.peers.clear();
        assert!(snap(empty).refusal(&current).is_some());
    }
}
