//! Commands a client sends a region (the reference's `raft_cmdpb`), their
//! answers, and the checks a command must pass before it is proposed and
//! again when it is applied.

use serde::{Deserialize, Serialize};
use tinykv_storage::Cf;

use crate::Error;
use crate::meta::{Peer, Region, RegionEpoch};

/// Where a command is addressed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CmdHeader {
    /// The region.
    pub region_id: u64,
    /// The peer the client believes it talks to.
    pub peer: Peer,
    /// The region's epoch as the client knows it.
    pub region_epoch: RegionEpoch,
    /// The term the client last saw (0: unknown); a command from a term
    /// older than the current one minus one is stale.
    pub term: u64,
}

/// One request of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Read `key` in `cf`.
    Get {
        /// The CF.
        cf: Cf,
        /// The key.
        key: Vec<u8>,
    },
    /// Write `key` in `cf`.
    Put {
        /// The CF.
        cf: Cf,
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove `key` from `cf`.
    Delete {
        /// The CF.
        cf: Cf,
        /// The key.
        key: Vec<u8>,
    },
    /// A consistent read view of the region, taken when the command applies.
    Snap,
}

impl Request {
    /// The key this request touches, if any.
    pub fn key(&self) -> Option<&[u8]> {
        match self {
            Request::Get { key, .. } | Request::Put { key, .. } | Request::Delete { key, .. } => {
                Some(key)
            }
            Request::Snap => None,
        }
    }
}

/// Add or remove a peer (the reference's `ConfChangeType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeType {
    /// Add the peer.
    AddNode,
    /// Remove the peer.
    RemoveNode,
}

/// An admin command (the reference's `AdminRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminRequest {
    /// Discard the raft log up to and including `compact_index` (whose term
    /// is `compact_term`): the apply state's truncated state moves there
    /// and the entries are deleted from the raft engine.
    CompactLog {
        /// The last index to discard.
        compact_index: u64,
        /// Its term.
        compact_term: u64,
    },
    /// Make `peer` the leader (3B). Not replicated: the leader starts the
    /// transfer and answers at once.
    TransferLeader {
        /// The peer to lead.
        peer: Peer,
    },
    /// Add or remove one peer (3B); `conf_ver` + 1 when it applies.
    ChangePeer {
        /// Add or remove.
        change_type: ChangeType,
        /// The peer (its store is named so an added peer can be reached).
        peer: Peer,
    },
    /// Split the region at `split_key` (3B): the left part keeps the id,
    /// `[split_key, end)` becomes region `new_region_id` with one new peer
    /// per old peer (`new_peer_ids`, in the order of the region's peers).
    Split {
        /// First key of the new region.
        split_key: Vec<u8>,
        /// The new region's id.
        new_region_id: u64,
        /// Its peers' ids.
        new_peer_ids: Vec<u64>,
    },
}

/// A command: requests applied in order, atomically — or one admin command.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RaftCmdRequest {
    /// Where it goes.
    pub header: CmdHeader,
    /// What it does.
    pub requests: Vec<Request>,
    /// An admin command instead of `requests` (which are then empty).
    pub admin: Option<AdminRequest>,
}

impl RaftCmdRequest {
    /// A normal command: `requests` for the region in `header`.
    pub fn new(header: CmdHeader, requests: Vec<Request>) -> RaftCmdRequest {
        RaftCmdRequest {
            header,
            requests,
            admin: None,
        }
    }

    /// An admin command.
    pub fn admin(header: CmdHeader, admin: AdminRequest) -> RaftCmdRequest {
        RaftCmdRequest {
            header,
            requests: Vec::new(),
            admin: Some(admin),
        }
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The value read (`None` when absent).
    Get {
        /// The value.
        value: Option<Vec<u8>>,
    },
    /// A put was applied.
    Put,
    /// A delete was applied.
    Delete,
    /// The region the read view covers; the view itself comes with the answer.
    Snap {
        /// The region.
        region: Region,
    },
    /// A CompactLog was applied (or was a no-op: the log was already
    /// truncated further).
    CompactLog,
    /// The leader started a transfer.
    TransferLeader,
    /// A ChangePeer applied (or was a duplicate that changed nothing): the
    /// region after it.
    ChangePeer {
        /// The region.
        region: Region,
    },
    /// A split applied: the left and the right region.
    Split {
        /// Both regions, left first.
        regions: Vec<Region>,
    },
}

/// The checks the reference makes before proposing and again when applying
/// (the region may have changed in between): the epoch — normal requests
/// and Split compare `version`, ChangePeer and TransferLeader compare both
/// parts, CompactLog compares nothing — and every key inside the region.
///
/// # Errors
/// [`Error::EpochNotMatch`] or [`Error::KeyNotInRegion`].
pub fn check_region(region: &Region, request: &RaftCmdRequest) -> Result<(), Error> {
    let (check_version, check_conf_ver) = match &request.admin {
        None | Some(AdminRequest::Split { .. }) => (true, false),
        Some(AdminRequest::CompactLog { .. }) => (false, false),
        Some(AdminRequest::ChangePeer { .. } | AdminRequest::TransferLeader { .. }) => (true, true),
    };
    let (theirs, mine) = (request.header.region_epoch, region.region_epoch);
    if (check_version && theirs.version != mine.version)
        || (check_conf_ver && theirs.conf_ver != mine.conf_ver)
    {
        return Err(Error::EpochNotMatch {
            current: Box::new(region.clone()),
        });
    }
    for key in request.requests.iter().filter_map(Request::key) {
        check_key(region, key)?;
    }
    Ok(())
}

/// Whether `key` lies in `region`.
///
/// # Errors
/// [`Error::KeyNotInRegion`] if it does not.
pub fn check_key(region: &Region, key: &[u8]) -> Result<(), Error> {
    if region.contains(key) {
        return Ok(());
    }
    Err(Error::KeyNotInRegion {
        key: key.to_vec(),
        region_id: region.id,
        start_key: region.start_key.clone(),
        end_key: region.end_key.clone(),
    })
}

/// Encodes a command for the log.
pub fn encode(request: &RaftCmdRequest) -> Vec<u8> {
    crate::meta::encode(request)
}

/// Decodes a command from the log; `index` names it in the error.
///
/// # Errors
/// [`Error::Corrupt`] if the bytes are not a command.
pub fn decode(index: u64, bytes: &[u8]) -> Result<RaftCmdRequest, Error> {
    crate::meta::decode(format!("log entry {index}").as_bytes(), bytes)
}
