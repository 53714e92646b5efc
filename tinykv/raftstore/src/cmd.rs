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

/// An admin command (the reference's `AdminRequest`); Project 2C has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// The checks the reference makes before proposing and again when applying
/// (the region may have changed in between): the epoch's `version` (normal
/// requests compare only it; CompactLog compares nothing) and every key
/// inside the region.
///
/// # Errors
/// [`Error::EpochNotMatch`] or [`Error::KeyNotInRegion`].
pub fn check_region(region: &Region, request: &RaftCmdRequest) -> Result<(), Error> {
    if let Some(AdminRequest::CompactLog { .. }) = request.admin {
        return Ok(());
    }
    if request.header.region_epoch.version != region.region_epoch.version {
        return Err(Error::EpochNotMatch {
            current: Box::new(region.clone()),
        });
    }
    for key in request.requests.iter().filter_map(Request::key) {
        if !region.contains(key) {
            return Err(Error::KeyNotInRegion {
                key: key.to_vec(),
                region_id: region.id,
                start_key: region.start_key.clone(),
                end_key: region.end_key.clone(),
            });
        }
    }
    Ok(())
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
