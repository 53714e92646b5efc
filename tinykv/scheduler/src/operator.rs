//! Operators: a planned sequence of membership and leadership steps for one
//! region, driven one step per region heartbeat until the region shows the
//! step done.
//!
//! A move is AddPeer(target) → [TransferLeader(source → follower) when the
//! source leads] → RemovePeer(source). Each step is re-sent on every
//! heartbeat until done, so the raftstore must treat a duplicate as a no-op.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::meta::{Peer, RegionEpoch};
use crate::region::RegionInfo;

/// How long an operator that only moves leaders may run (10 s).
pub const LEADER_OPERATOR_WAIT_MS: u64 = 10_000;
/// How long an operator that moves a peer may run (10 min).
pub const REGION_OPERATOR_WAIT_MS: u64 = 10 * 60 * 1000;

/// What an operator does, as bit flags (the reference's `OpKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OpKind(pub u32);

impl OpKind {
    /// Moves a leader.
    pub const LEADER: OpKind = OpKind(1);
    /// Adds or removes a peer.
    pub const REGION: OpKind = OpKind(1 << 1);
    /// Made by a balance scheduler.
    pub const BALANCE: OpKind = OpKind(1 << 2);

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: OpKind) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for OpKind {
    type Output = OpKind;
    fn bitor(self, rhs: OpKind) -> OpKind {
        OpKind(self.0 | rhs.0)
    }
}

/// One step of an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpStep {
    /// Add peer `peer_id` on `to_store`; done when the region has it there
    /// and it is no longer pending (it has caught up).
    AddPeer {
        /// The store to add to.
        to_store: u64,
        /// The new peer's id (allocated when the operator is made).
        peer_id: u64,
    },
    /// Move leadership; done when the leader is on `to_store`.
    TransferLeader {
        /// The current leader's store.
        from_store: u64,
        /// The store whose peer should lead.
        to_store: u64,
    },
    /// Remove the peer on `from_store`; done when the region has none there.
    RemovePeer {
        /// The store to remove from.
        from_store: u64,
    },
}

impl OpStep {
    /// Whether `region` shows this step done.
    pub fn is_finished(&self, region: &RegionInfo) -> bool {
        match *self {
            OpStep::AddPeer { to_store, peer_id } => region
                .store_peer(to_store)
                .is_some_and(|p| p.id == peer_id && !region.is_pending(peer_id)),
            OpStep::TransferLeader { to_store, .. } => region.leader_store() == Some(to_store),
            OpStep::RemovePeer { from_store } => region.store_peer(from_store).is_none(),
        }
    }
}

/// A planned change of one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Who made it and why (for logs).
    pub desc: String,
    /// The region it changes.
    pub region_id: u64,
    /// The region's epoch when it was made: a split or merge since
    /// (a larger `version`) makes it obsolete.
    pub region_epoch: RegionEpoch,
    /// What it does.
    pub kind: OpKind,
    /// The steps, in order.
    pub steps: Vec<OpStep>,
    /// Index of the first step not yet seen done.
    pub current: usize,
    /// When it was made (ms on the scheduler's clock).
    pub created_ms: u64,
}

impl Operator {
    /// A new operator at its first step.
    pub fn new(
        desc: impl Into<String>,
        region: &RegionInfo,
        kind: OpKind,
        steps: Vec<OpStep>,
        now_ms: u64,
    ) -> Operator {
        Operator {
            desc: desc.into(),
            region_id: region.id(),
            region_epoch: region.epoch(),
            kind,
            steps,
            current: 0,
            created_ms: now_ms,
        }
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether it has no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Skips every step `region` shows done and returns the first one it
    /// does not (none: the operator is finished).
    pub fn check(&mut self, region: &RegionInfo) -> Option<OpStep> {
        while let Some(step) = self.steps.get(self.current) {
            if !step.is_finished(region) {
                return Some(*step);
            }
            self.current += 1;
        }
        None
    }

    /// Whether every step is done.
    pub fn is_finished(&self) -> bool {
        self.current >= self.steps.len()
    }

    /// Whether it has run longer than its kind allows.
    pub fn is_timeout(&self, now_ms: u64) -> bool {
        let limit = if self.kind.contains(OpKind::REGION) {
            REGION_OPERATOR_WAIT_MS
        } else {
            LEADER_OPERATOR_WAIT_MS
        };
        now_ms.saturating_sub(self.created_ms) > limit
    }
}

/// Moves `region`'s replica from `old_store` to `new_store` (new peer id
/// `peer_id`): AddPeer, then TransferLeader to a follower (the first
/// follower's store, else the new store) if `old_store` leads, then
/// RemovePeer.
pub fn create_move_peer_operator(
    desc: &str,
    region: &RegionInfo,
    kind: OpKind,
    old_store: u64,
    new_store: u64,
    peer_id: u64,
    now_ms: u64,
) -> Result<Operator, Error> {
    if region.store_peer(old_store).is_none() {
        return Err(Error::NoPeerOnStore {
            region_id: region.id(),
            store_id: old_store,
        });
    }
    if region.store_peer(new_store).is_some() {
        return Err(Error::PeerAlreadyOnStore {
            region_id: region.id(),
            store_id: new_store,
        });
    }
    let mut kind = kind | OpKind::REGION;
    let mut steps = vec![OpStep::AddPeer {
        to_store: new_store,
        peer_id,
    }];
    if region.leader_store() == Some(old_store) {
        let to_store = region
            .followers()
            .first()
            .map_or(new_store, |p: &Peer| p.store_id);
        steps.push(OpStep::TransferLeader {
            from_store: old_store,
            to_store,
        });
        kind = kind | OpKind::LEADER;
    }
    steps.push(OpStep::RemovePeer {
        from_store: old_store,
    });
    Ok(Operator::new(desc, region, kind, steps, now_ms))
}
