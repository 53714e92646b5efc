//! Project 3B's admin commands on one peer: leader transfer, membership
//! change, split (proposal checks and apply), the split checker, and the
//! destruction of a removed peer.
//!
//! A `ChangePeer` travels as an ordinary command entry and is applied with
//! [`Core::apply_conf_change`](raft::Core::apply_conf_change): the core's
//! own conf-change entry holds only `{kind, node}`, and the raftstore must
//! know the added peer's store when it applies. One change at a time still
//! holds: a `ChangePeer` is proposed only against the leader's current
//! `conf_ver` and applied only if the region still has it, and every
//! applied change bumps it, so of two changes proposed against one
//! configuration the second is refused at apply.

use raft::{ConfChange, ConfChangeKind};
use tinykv_storage::{Cf, WriteBatch, WriteOptions};

use super::{Answer, Peer, PeerEvent};
use crate::cmd::{self, AdminRequest, ChangeType, Response};
use crate::meta::{self, Peer as PeerMeta, PeerState, Region, RegionLocalState};
use crate::peer_storage::initial_apply_state;
use crate::{Error, keys};

impl Peer {
    /// Admin commands settled without a log entry: `TransferLeader` starts
    /// the transfer and is answered at once; a leader asked to remove
    /// itself hands leadership over first and refuses (the scheduler asks
    /// again, and the new leader removes it — removing a leader directly
    /// can wedge a two-peer group); a malformed request is refused.
    /// `None`: propose it.
    pub(super) fn propose_admin(
        &mut self,
        admin: &AdminRequest,
    ) -> Option<Result<Vec<Response>, Error>> {
        // SOLUTION BEGIN p3b: TransferLeader answered at once; a leader never removes itself; split keys checked
        // SKELETON: None
        let region = self.region().clone();
        match admin {
            AdminRequest::CompactLog { .. } => None,
            AdminRequest::TransferLeader { peer } => {
                self.core.transfer_leader(peer.id as usize);
                Some(Ok(vec![Response::TransferLeader]))
            }
            AdminRequest::ChangePeer {
                change_type: ChangeType::RemoveNode,
                peer,
            } if peer.id == self.meta.id => {
                let others: Vec<PeerMeta> = region
                    .peers
                    .iter()
                    .copied()
                    .filter(|p| p.id != self.meta.id)
                    .collect();
                if others.is_empty() {
                    return Some(Err(Error::InvalidAdmin {
                        reason: "cannot remove the last peer of a region".into(),
                    }));
                }
                // Rotate through the others, so a down one is not tried forever.
                let pick =
                    (self.core.term() + self.storage.applied_index()) as usize % others.len();
                self.core.transfer_leader(others[pick].id as usize);
                Some(Err(Error::NotLeader {
                    region_id: region.id,
                    leader: None,
                }))
            }
            AdminRequest::ChangePeer {
                change_type: ChangeType::RemoveNode,
                peer,
            } if !region.peers.contains(peer) => Some(Err(Error::InvalidAdmin {
                reason: format!("peer {peer:?} is not in region {}", region.id),
            })),
            AdminRequest::ChangePeer {
                change_type: ChangeType::AddNode,
                peer,
            } if region
                .peers
                .iter()
                .any(|p| p.store_id == peer.store_id && p.id != peer.id) =>
            {
                Some(Err(Error::InvalidAdmin {
                    reason: format!(
                        "store {} already holds a peer of region {}",
                        peer.store_id, region.id
                    ),
                }))
            }
            AdminRequest::ChangePeer { .. } => None,
            AdminRequest::Split {
                split_key,
                new_region_id,
                new_peer_ids,
            } => match check_split(&region, split_key, *new_region_id, new_peer_ids.len()) {
                Ok(()) => None,
                Err(e) => Some(Err(e)),
            },
        }
        // SOLUTION END
    }

    /// Applies a ChangePeer that passed the epoch check: a duplicate (the
    /// peer already there, or already gone) changes nothing; otherwise the
    /// region's peers change, `conf_ver` + 1, the region state goes into
    /// `kv_wb` (a tombstone if this peer removed itself) and the core's
    /// membership follows.
    pub(super) fn exec_change_peer(
        &mut self,
        change_type: ChangeType,
        peer: PeerMeta,
        kv_wb: &mut WriteBatch,
    ) -> Response {
        // SOLUTION BEGIN p3b: duplicate-safe membership change, conf_ver bump, region state, core membership
        let mut region = self.region().clone();
        let changed = match change_type {
            ChangeType::AddNode => {
                let present = region
                    .peers
                    .iter()
                    .any(|p| p.id == peer.id || p.store_id == peer.store_id);
                if !present {
                    region.peers.push(peer);
                }
                !present
            }
            ChangeType::RemoveNode => match region.peers.iter().position(|p| p.id == peer.id) {
                Some(at) => {
                    region.peers.remove(at);
                    true
                }
                None => false,
            },
        };
        if !changed {
            return Response::ChangePeer { region };
        }
        region.region_epoch.conf_ver += 1;
        tracing::debug!(
            target: "raftstore::event",
            region = region.id,
            peer = self.meta.id,
            ?change_type,
            changed = peer.id,
            conf_ver = region.region_epoch.conf_ver,
            "conf change applied"
        );
        let removed_self = change_type == ChangeType::RemoveNode && peer.id == self.meta.id;
        self.storage.set_region(region.clone());
        let state = if removed_self {
            PeerState::Tombstone
        } else {
            PeerState::Normal
        };
        self.storage.write_region_state(kv_wb, state);
        let kind = match change_type {
            ChangeType::AddNode => ConfChangeKind::AddNode,
            ChangeType::RemoveNode => ConfChangeKind::RemoveNode,
        };
        self.core.apply_conf_change(&ConfChange {
            kind,
            node: peer.id as u32,
        });
        if removed_self {
            self.removed = true;
            self.events.push(PeerEvent::Removed);
        } else {
            self.events.push(PeerEvent::RegionChanged);
        }
        Response::ChangePeer { region }
        // SOLUTION END
    }

    /// Applies a Split that passed the epoch check: the key is checked
    /// again (the region may have changed); this region keeps
    /// `[start, split_key)`, region `new_region_id` gets `[split_key, end)`
    /// with peers on the same stores, both get `version` + 1, and both
    /// region states go into `kv_wb`. The store creates the new peer.
    ///
    /// # Errors
    /// [`Error::KeyNotInRegion`] / [`Error::InvalidAdmin`]: nothing changed.
    pub(super) fn exec_split(
        &mut self,
        split_key: Vec<u8>,
        new_region_id: u64,
        new_peer_ids: Vec<u64>,
        kv_wb: &mut WriteBatch,
    ) -> Result<Response, Error> {
        // SOLUTION BEGIN p3b: split the range, bump both versions, persist both regions
        let region = self.region().clone();
        check_split(&region, &split_key, new_region_id, new_peer_ids.len())?;
        let mut left = region.clone();
        left.region_epoch.version += 1;
        let mut right = left.clone();
        left.end_key = split_key.clone();
        right.start_key = split_key;
        right.id = new_region_id;
        right.peers = region
            .peers
            .iter()
            .zip(new_peer_ids)
            .map(|(p, id)| PeerMeta {
                id,
                store_id: p.store_id,
            })
            .collect();
        tracing::debug!(
            target: "raftstore::event",
            region = region.id,
            peer = self.meta.id,
            store = self.meta.store_id,
            new_region = right.id,
            split_key = ?String::from_utf8_lossy(&right.start_key),
            version = left.region_epoch.version,
            "split applied"
        );
        self.storage.set_region(left.clone());
        self.storage.write_region_state(kv_wb, PeerState::Normal);
        let right_state = RegionLocalState {
            state: PeerState::Normal,
            region: right.clone(),
        };
        kv_wb.put(
            Cf::Meta,
            keys::region_state_key(right.id),
            meta::encode(&right_state),
        );
        // The new region's apply state goes in the same batch: a leader of
        // it must be able to cut a snapshot before it applies anything, and
        // a restart must find a consistent region.
        kv_wb.put(
            Cf::Meta,
            keys::apply_state_key(right.id),
            meta::encode(&initial_apply_state()),
        );
        self.approximate_size = None;
        self.size_diff_hint = 0;
        self.events.push(PeerEvent::Split(right.clone()));
        self.events.push(PeerEvent::RegionChanged);
        Ok(Response::Split {
            regions: vec![left, right],
        })
        // SOLUTION END
    }

    /// The split checker (the reference's split-check tick and worker in
    /// one): a leader whose size is unknown, or whose writes since the last
    /// check reach `RegionSplitSize / 8` or bring the estimate to
    /// `RegionMaxSize`, sums its default CF's keys and
    /// values; at `RegionMaxSize` or more it asks the store for a split at
    /// the first key past `RegionSplitSize`.
    pub(super) fn on_split_check_tick(&mut self) {
        // SOLUTION BEGIN p3b: throttled size scan of the default CF; ask for a split past the max size
        // SKELETON: return;
        if !self.core.is_leader() || !self.storage.is_initialised() {
            return;
        }
        // The reference's throttle, plus: check as soon as the estimate
        // reaches the maximum, or the last few writes before it could
        // leave a region above it unchecked.
        if let Some(size) = self.approximate_size
            && self.size_diff_hint < self.config.region_split_size / 8
            && size + self.size_diff_hint < self.config.region_max_size
        {
            return;
        }
        let region = self.region().clone();
        let Ok(view) = self.storage.kv_engine().snapshot() else {
            return;
        };
        let Ok(mut iter) = view.iter_cf(Cf::Default) else {
            return;
        };
        if iter.seek(&region.start_key).is_err() {
            return;
        }
        let mut size = 0u64;
        let mut split_key = None;
        while let Some((key, value)) = iter.item() {
            if !region.end_key.is_empty() && key >= region.end_key.as_slice() {
                break;
            }
            size += (key.len() + value.len()) as u64;
            if split_key.is_none() && size > self.config.region_split_size {
                split_key = Some(key.to_vec());
            }
            if iter.next().is_err() {
                return;
            }
        }
        self.approximate_size = Some(size);
        self.size_diff_hint = 0;
        if size >= self.config.region_max_size
            && let Some(split_key) = split_key
            && split_key != region.start_key
        {
            self.events.push(PeerEvent::AskSplit { split_key });
        }
        // SOLUTION END
    }

    /// The region's size at the last split check.
    pub fn approximate_size(&self) -> Option<u64> {
        self.approximate_size
    }

    /// Starts an election at once (the peer of a region just split off a
    /// region this store led).
    pub fn campaign(&mut self) {
        self.core.campaign();
    }

    /// Destroys this peer: its raft state and log, its apply state and (if
    /// it had a range) its data go, a tombstone region state stays so that
    /// stale messages cannot bring it back; waiting commands are answered
    /// `RegionNotFound`.
    ///
    /// # Errors
    /// [`Error::Engine`] if a write fails.
    pub fn destroy(self) -> Result<Vec<Answer>, Error> {
        // SOLUTION BEGIN p3b: tombstone, raft and apply state cleared, data range wiped, callbacks answered
        let mut kv_wb = WriteBatch::new();
        let mut raft_wb = WriteBatch::new();
        self.storage.clear_meta(&mut kv_wb, &mut raft_wb);
        let region = self.region().clone();
        if self.storage.is_initialised() {
            // A removed peer's region no longer lists it, but its range is
            // still the one to wipe; an uninitialised peer has no data.
            kv_wb.delete_range(region.start_key.clone(), region.end_key.clone());
        }
        self.storage
            .write_region_state(&mut kv_wb, PeerState::Tombstone);
        self.storage.kv_engine().write(&kv_wb, WriteOptions::SYNC)?;
        self.storage
            .raft_engine()
            .write(&raft_wb, WriteOptions::SYNC)?;
        Ok(self.stop())
        // SOLUTION END
    }
}

/// Whether `split_key` may split `region` into two non-empty regions, the
/// new one `new_region_id` (not the region's own id) with `new_peers` new
/// peer ids.
fn check_split(
    region: &Region,
    split_key: &[u8],
    new_region_id: u64,
    new_peers: usize,
) -> Result<(), Error> {
    if new_region_id == region.id {
        return Err(Error::InvalidAdmin {
            reason: format!("a split of region {} into itself", region.id),
        });
    }
    if split_key.is_empty() || split_key == region.start_key.as_slice() {
        return Err(Error::InvalidAdmin {
            reason: format!("split key {split_key:02x?} would leave an empty region"),
        });
    }
    cmd::check_key(region, split_key)?;
    if new_peers != region.peers.len() {
        return Err(Error::InvalidAdmin {
            reason: format!(
                "{new_peers} new peer ids for a region of {} peers",
                region.peers.len()
            ),
        });
    }
    Ok(())
}
