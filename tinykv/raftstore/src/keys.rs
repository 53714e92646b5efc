//! The reference's key layout for raftstore metadata, all in [`Cf::Meta`]
//! (the reference writes these keys unprefixed; every one starts with 0x01,
//! below any user key a client can reach through the raw API).
//!
//! | key | bytes | engine |
//! |---|---|---|
//! | raft log entry | `01 02 <region_id> 01 <index>` (19 B) | raft |
//! | raft local state | `01 02 <region_id> 02` (11 B) | raft |
//! | apply state | `01 02 <region_id> 03` (11 B) | kv |
//! | region local state | `01 03 <region_id> 01` (11 B) | kv |
//! | prepare-bootstrap / store ident | `01 01` / `01 02` | kv |
//!
//! Ids and indexes are big-endian, so one region's entries sort by index.
//!
//! [`Cf::Meta`]: tinykv_storage::Cf::Meta

/// First byte of every local key.
pub const LOCAL_PREFIX: u8 = 0x01;
/// The store's prepare-bootstrap marker.
pub const PREPARE_BOOTSTRAP_KEY: [u8; 2] = [LOCAL_PREFIX, 0x01];
/// The store's identity (`StoreIdent`).
pub const STORE_IDENT_KEY: [u8; 2] = [LOCAL_PREFIX, 0x02];

const REGION_RAFT_PREFIX: u8 = 0x02;
const REGION_META_PREFIX: u8 = 0x03;
const RAFT_LOG_SUFFIX: u8 = 0x01;
const RAFT_STATE_SUFFIX: u8 = 0x02;
const APPLY_STATE_SUFFIX: u8 = 0x03;
const REGION_STATE_SUFFIX: u8 = 0x01;

fn region_key(prefix: u8, region_id: u64, suffix: u8) -> Vec<u8> {
    let mut key = Vec::with_capacity(19);
    key.extend_from_slice(&[LOCAL_PREFIX, prefix]);
    key.extend_from_slice(&region_id.to_be_bytes());
    key.push(suffix);
    key
}

/// The key of entry `index` of `region_id`'s raft log (raft engine).
pub fn raft_log_key(region_id: u64, index: u64) -> Vec<u8> {
    let mut key = region_key(REGION_RAFT_PREFIX, region_id, RAFT_LOG_SUFFIX);
    key.extend_from_slice(&index.to_be_bytes());
    key
}

/// The index a raft log key names, if `key` is one of `region_id`'s.
pub fn raft_log_index(region_id: u64, key: &[u8]) -> Option<u64> {
    let prefix = region_key(REGION_RAFT_PREFIX, region_id, RAFT_LOG_SUFFIX);
    let rest = key.strip_prefix(prefix.as_slice())?;
    Some(u64::from_be_bytes(rest.try_into().ok()?))
}

/// `RaftLocalState` of `region_id` (raft engine).
pub fn raft_state_key(region_id: u64) -> Vec<u8> {
    region_key(REGION_RAFT_PREFIX, region_id, RAFT_STATE_SUFFIX)
}

/// `RaftApplyState` of `region_id` (kv engine).
pub fn apply_state_key(region_id: u64) -> Vec<u8> {
    region_key(REGION_RAFT_PREFIX, region_id, APPLY_STATE_SUFFIX)
}

/// `RegionLocalState` of `region_id` (kv engine).
pub fn region_state_key(region_id: u64) -> Vec<u8> {
    region_key(REGION_META_PREFIX, region_id, REGION_STATE_SUFFIX)
}

/// The region id whose `RegionLocalState` lives at `key`, if it is one
/// (a store scans these at start to find its peers).
pub fn region_state_id(key: &[u8]) -> Option<u64> {
    if key.len() != 11
        || key[..2] != [LOCAL_PREFIX, REGION_META_PREFIX]
        || key[10] != REGION_STATE_SUFFIX
    {
        return None;
    }
    Some(u64::from_be_bytes(key[2..10].try_into().ok()?))
}

/// The first possible `RegionLocalState` key.
pub fn region_state_min_key() -> Vec<u8> {
    vec![LOCAL_PREFIX, REGION_META_PREFIX]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_reference_bytes_and_order() {
        let log = raft_log_key(1, 5);
        assert_eq!(log.len(), 19);
        assert_eq!(&log[..3], &[1, 2, 0]);
        assert_eq!(log[10], 1);
        assert_eq!(raft_log_index(1, &log), Some(5));
        assert_eq!(raft_log_index(2, &log), None);
        assert!(raft_log_key(1, 255) < raft_log_key(1, 256));
        assert!(raft_log_key(1, u64::MAX) < raft_state_key(1));
        assert!(raft_state_key(1) < apply_state_key(1));
        assert_eq!(raft_state_key(7).len(), 11);
        assert_eq!(raft_state_key(7)[10], 2);
        assert_eq!(apply_state_key(7)[10], 3);
        assert_eq!(region_state_key(7)[..2], [1, 3]);
        assert_eq!(region_state_key(7)[10], 1);
        assert_eq!(region_state_id(&region_state_key(7)), Some(7));
        assert_eq!(region_state_id(&apply_state_key(7)), None);
        assert!(region_state_min_key() <= region_state_key(0));
        assert!(STORE_IDENT_KEY.as_slice() < raft_log_key(0, 0).as_slice());
    }
}
