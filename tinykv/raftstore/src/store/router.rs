//! The store's peers as a router (3B): which peer a message goes to, when
//! a message creates one (an added peer) or is dropped (a tombstone, an
//! overlapping range, a removed sender), destroying peers, and what the
//! store does for a peer's events (destroy, split, heartbeat, ask split).

use std::sync::Arc;

use raft::Message;
use tinykv_storage::{Cf, WriteBatch, WriteOptions};

use super::{Envelope, Gc, Node, Origin, Peers};
use crate::cmd::AdminRequest;
use crate::peer_storage::initial_raft_state;
use crate::snap::RegionSnapshot;
use crate::{Peer, PeerEvent};
use crate::{keys, meta};

/// Whether `[a_start, a_end)` and `[b_start, b_end)` share a key (empty
/// end: unbounded).
fn overlaps(a_start: &[u8], a_end: &[u8], b_start: &[u8], b_end: &[u8]) -> bool {
    (a_end.is_empty() || b_start < a_end) && (b_end.is_empty() || a_start < b_end)
}

impl Node {
    /// Destroys region `region_id`'s peer (its waiting commands are
    /// answered `RegionNotFound`) and remembers the tombstone.
    pub(super) fn destroy(&self, peers: &mut Peers, region_id: u64) {
        let Some(peer) = peers.by_region.remove(&region_id) else {
            return;
        };
        let region = peer.region().clone();
        tracing::debug!(store = self.store_id, region_id, "destroys its peer");
        match peer.destroy() {
            Ok(_) => {
                // An uninitialised peer knew no region: the tombstone it
                // was created over (if any) stays.
                let older = peers
                    .tombstones
                    .get(&region_id)
                    .is_some_and(|t| t.region_epoch.conf_ver > region.region_epoch.conf_ver);
                if !older {
                    peers.tombstones.insert(region_id, region);
                }
            }
            Err(error) => {
                tracing::error!(store = self.store_id, %error, "cannot destroy a peer");
                self.shutdown.trigger();
            }
        }
    }

    /// Makes sure the message in `origin` has a peer to go to: the one
    /// there, or (3B) a new one for an initial message (vote, append,
    /// snapshot) to a region this store lacks, unless the region was
    /// destroyed here at an epoch at least as new, or the sender's range
    /// overlaps a region here (a split not yet applied here will create
    /// it). A message to a larger peer id than the one here means that one
    /// was removed and replaced: it is destroyed first. (A removed
    /// sender's message never gets here: [`Node::sender_removed`].)
    pub(super) fn route(&self, peers: &mut Peers, origin: &Origin, message: &Message) -> bool {
        // SOLUTION BEGIN p3b: route by region; stale peers, tombstones and lazy creation of added peers
        // SKELETON: return peers.by_region.get(&origin.region_id).is_some_and(|p| p.meta() == origin.to);
        let region_id = origin.region_id;
        if origin.to.store_id != self.store_id {
            return false;
        }
        if let Some(peer) = peers.by_region.get(&region_id) {
            let me = peer.meta().id;
            if origin.to.id <= me {
                return origin.to.id == me;
            }
            self.destroy(peers, region_id);
        } else if let Some(tombstone) = peers.tombstones.get(&region_id)
            && origin.region_epoch.conf_ver <= tombstone.region_epoch.conf_ver
        {
            return false;
        }
        let initial = matches!(
            message,
            Message::RequestVote(_) | Message::AppendEntries(_) | Message::InstallSnapshot(_)
        );
        if !initial {
            return false;
        }
        let overlapping = peers.by_region.values().find(|p| {
            let r = p.region();
            p.storage().is_initialised()
                && overlaps(&r.start_key, &r.end_key, &origin.start_key, &origin.end_key)
        });
        if let Some(p) = overlapping {
            tracing::debug!(
                store = self.store_id,
                region_id,
                peer = origin.to.id,
                overlapping = p.region().id,
                overlapping_epoch = ?p.region().region_epoch,
                "does not create a peer: its range overlaps a region here"
            );
            return false;
        }
        let created = Peer::create_uninitialised(
            origin.to,
            region_id,
            self.raft_engine.clone(),
            self.kv_engine.clone(),
            self.config,
            labrpc::rng::fork(),
        );
        match created {
            Ok(peer) => {
                tracing::debug!(
                    store = self.store_id,
                    region_id,
                    peer = origin.to.id,
                    "creates a peer"
                );
                peers.by_region.insert(region_id, self.with_sink(peer));
                true
            }
            Err(error) => {
                tracing::warn!(store = self.store_id, %error, "cannot create a peer");
                false
            }
        }
        // SOLUTION END
    }

    /// Whether the snapshot in `args` for `region_id` overlaps another
    /// region this store holds (it must be refused: installing it would
    /// overwrite that region's data).
    pub(super) fn snapshot_overlaps(
        peers: &Peers,
        region_id: u64,
        args: &raft::InstallSnapshotArgs,
    ) -> bool {
        let Ok(snapshot) = RegionSnapshot::decode(&args.data) else {
            return false;
        };
        let s = &snapshot.region;
        peers.by_region.iter().any(|(&id, p)| {
            let r = p.region();
            id != region_id
                && p.storage().is_initialised()
                && overlaps(&r.start_key, &r.end_key, &s.start_key, &s.end_key)
        })
    }

    /// Whether the sender in `origin` was removed from the region: its
    /// epoch is older than the region's here — the live peer's, or the
    /// tombstone's of a peer destroyed here — and that region no longer
    /// lists it. Its message is dropped (a removed peer that never learnt
    /// it would otherwise disrupt the group with elections), and it is told
    /// to destroy itself (the reference's `handleStaleMsg`, from a live
    /// peer and from a tombstone alike). Checked before routing, as the
    /// reference's checkMessage: a removed peer that never learnt it may be
    /// addressing an older incarnation of the peer here (since replaced by
    /// one with a larger id) or a peer destroyed here; unless told, it
    /// campaigns forever, and its stale range keeps its store from
    /// creating the peers of regions split off since (seeds 21 and 60 of
    /// split_conf_change_snapshot_unreliable_recover_concurrent_partition_p3b,
    /// 26 of split_conf_change_snapshot_unreliable_recover_p3b).
    pub(super) fn sender_removed(self: &Arc<Self>, peers: &Peers, origin: &Origin) -> bool {
        // SOLUTION BEGIN p3b: a message from a removed peer: drop it and tell it to go
        // SKELETON: false
        let (region, from) = match peers.by_region.get(&origin.region_id) {
            Some(peer) if peer.storage().is_initialised() => (peer.region(), peer.meta()),
            Some(_) => return false,
            None => match peers.tombstones.get(&origin.region_id) {
                Some(tombstone) => (tombstone, origin.to),
                None => return false,
            },
        };
        let mine = region.region_epoch;
        let theirs = origin.region_epoch;
        let stale = theirs.conf_ver < mine.conf_ver || theirs.version < mine.version;
        if !stale || region.peers.iter().any(|p| p.id == origin.from.id) {
            return false;
        }
        let notice = Envelope {
            region_id: origin.region_id,
            from,
            to: origin.from,
            region_epoch: mine,
            start_key: region.start_key.clone(),
            end_key: region.end_key.clone(),
            message: (),
        };
        if let Some(end) = self.ends.get(&origin.from.store_id) {
            let end = end.clone();
            tokio::spawn(async move {
                let _ = end.call::<Gc>(&notice).await;
            });
        }
        true
        // SOLUTION END
    }

    /// A peer here learns it was removed: destroy it if the notice's
    /// region is newer than its own. False once killed.
    pub(super) fn on_gc(self: &Arc<Self>, notice: &Envelope<()>) -> bool {
        let Some(mut peers) = self.lock() else {
            return false;
        };
        // SOLUTION BEGIN p3b: destroy a peer told it was removed by a newer region
        // SKELETON: let _ = (&mut peers, notice);
        let removed = peers.by_region.get(&notice.region_id).is_some_and(|p| {
            p.meta() == notice.to && notice.region_epoch.conf_ver > p.region().region_epoch.conf_ver
        });
        if removed {
            self.destroy(&mut peers, notice.region_id);
        }
        // SOLUTION END
        true
    }

    /// Carries out what a peer's apply asked of the store (3B).
    pub(super) fn on_event(self: &Arc<Self>, peers: &mut Peers, region_id: u64, event: PeerEvent) {
        // SOLUTION BEGIN p3b: destroy a removed peer, start a split-off region, heartbeat, ask for split ids
        // SKELETON: let _ = (peers, region_id, event);
        match event {
            PeerEvent::Removed => self.destroy(peers, region_id),
            PeerEvent::RegionChanged => self.heartbeat(peers, region_id),
            PeerEvent::AskSplit { split_key } => {
                let (Some(scheduler), Some(peer)) =
                    (&self.scheduler, peers.by_region.get(&region_id))
                else {
                    return;
                };
                let Ok((new_region_id, new_peer_ids)) = scheduler.ask_split(peer.region()) else {
                    return;
                };
                tracing::debug!(
                    store = self.store_id,
                    region_id,
                    new_region_id,
                    split_key = ?String::from_utf8_lossy(&split_key),
                    "proposes a split"
                );
                let admin = AdminRequest::Split {
                    split_key,
                    new_region_id,
                    new_peer_ids,
                };
                self.propose_admin(peers, region_id, admin);
                self.process(peers, region_id, None);
            }
            PeerEvent::Split(region) => {
                let new_id = region.id;
                if let Some(existing) = peers.by_region.get(&new_id) {
                    if existing.storage().is_initialised() {
                        tracing::warn!(store = self.store_id, new_id, "split region already here");
                        return;
                    }
                    // A peer created from an early message: it holds no
                    // entries and no applied data (the split batch just wrote
                    // the region's state and apply state, which must stay),
                    // but it may have voted in the new region's elections —
                    // a vote is never forgotten, so its term and vote carry
                    // over into the split's initial raft state.
                    let hard = existing.storage().raft_state().hard_state;
                    let mut state = initial_raft_state();
                    if hard.term > state.hard_state.term {
                        state.hard_state.term = hard.term;
                        state.hard_state.vote = hard.vote;
                    }
                    let mut raft_wb = WriteBatch::new();
                    raft_wb.put(Cf::Meta, keys::raft_state_key(new_id), meta::encode(&state));
                    let written = self.raft_engine.write(&raft_wb, WriteOptions::SYNC);
                    if let Err(error) = written {
                        tracing::error!(store = self.store_id, %error, "cannot clear a peer");
                        self.shutdown.trigger();
                        return;
                    }
                    peers.by_region.remove(&new_id);
                }
                let parent_leads = peers.by_region.get(&region_id).is_some_and(Peer::is_leader);
                match self.open_peer(region) {
                    Ok(mut peer) => {
                        if parent_leads {
                            peer.campaign();
                        }
                        peers.by_region.insert(new_id, peer);
                        self.process(peers, new_id, None);
                    }
                    Err(error) => {
                        tracing::error!(store = self.store_id, %error, "cannot start a split region");
                        self.shutdown.trigger();
                    }
                }
            }
        }
        // SOLUTION END
    }
}
