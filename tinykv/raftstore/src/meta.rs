//! The persisted records (the reference's `raft_serverpb` / `metapb`
//! messages) and their encoding; the `metapb` ones are the scheduler's.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Error;

/// `RaftInitLogIndex`: a bootstrapped region's log starts after this index.
pub const RAFT_INIT_LOG_INDEX: u64 = 5;
/// `RaftInitLogTerm`: the term of [`RAFT_INIT_LOG_INDEX`].
pub const RAFT_INIT_LOG_TERM: u64 = 5;

// `Peer`, `RegionEpoch` and `Region` are the scheduler's own records
// (`tinykv_scheduler::meta`): the same fields in the same order, so they
// encode exactly as this crate's former copies did (persisted data stays
// readable) and a store's heartbeat needs no conversion. A region as a
// peer holds it has no peers while the peer awaits its first snapshot.
pub use tinykv_scheduler::meta::{Peer, Region, RegionEpoch};

/// Term, vote and commit, as persisted (the raft core's `HardState` with the
/// vote as a peer id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HardStateRecord {
    /// Latest term seen.
    pub term: u64,
    /// The peer voted for in `term`, if any.
    pub vote: Option<u64>,
    /// Highest index known committed.
    pub commit: u64,
}

impl From<raft::HardState> for HardStateRecord {
    fn from(hard: raft::HardState) -> HardStateRecord {
        HardStateRecord {
            term: hard.term,
            vote: hard.vote.map(|v| v as u64),
            commit: hard.commit,
        }
    }
}

impl From<HardStateRecord> for raft::HardState {
    fn from(hard: HardStateRecord) -> raft::HardState {
        raft::HardState {
            term: hard.term,
            vote: hard.vote.map(|v| v as usize),
            commit: hard.commit,
        }
    }
}

/// `RaftLocalState` (raft engine): the hard state and the log's last entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RaftLocalState {
    /// Term, vote, commit.
    pub hard_state: HardStateRecord,
    /// Index of the last persisted entry (the truncated index if none).
    pub last_index: u64,
    /// Its term.
    pub last_term: u64,
}

/// The log prefix discarded by CompactLog (or covered by a snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RaftTruncatedState {
    /// Last discarded index.
    pub index: u64,
    /// Its term.
    pub term: u64,
}

/// `RaftApplyState` (kv engine): how far the state machine is, written in
/// the same batch as the applied data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RaftApplyState {
    /// Highest applied index.
    pub applied_index: u64,
    /// The truncated prefix. Invariant: `truncated_state.index <= applied_index`.
    pub truncated_state: RaftTruncatedState,
}

/// Whether a peer lives or was destroyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PeerState {
    /// A live peer.
    #[default]
    Normal,
    /// Destroyed; kept so a stale message cannot recreate it.
    Tombstone,
}

/// `RegionLocalState` (kv engine).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RegionLocalState {
    /// Normal or Tombstone.
    pub state: PeerState,
    /// The region as this store last applied it.
    pub region: Region,
}

/// `StoreIdent` (kv engine): which store and cluster a data directory belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StoreIdent {
    /// The cluster.
    pub cluster_id: u64,
    /// The store.
    pub store_id: u64,
}

fn codec() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a record or entry for the engine.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, codec()).expect("records always encode into memory")
}

/// Decodes what [`encode`] wrote; `key` names it in the error.
///
/// # Errors
/// [`Error::Corrupt`] if the bytes do not decode, or have bytes left over.
pub fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, Error> {
    let corrupt = |reason: String| Error::Corrupt {
        key: key.to_vec(),
        reason,
    };
    let (value, read) =
        bincode::serde::decode_from_slice(bytes, codec()).map_err(|e| corrupt(e.to_string()))?;
    if read != bytes.len() {
        return Err(corrupt(format!("{} trailing bytes", bytes.len() - read)));
    }
    Ok(value)
}
