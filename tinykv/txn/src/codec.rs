//! Key encoding of the `default` and `write` CFs: a memcomparable user key
//! followed by the bit-inverted timestamp, 8 bytes big-endian.
//!
//! Memcomparable: the user key is cut into groups of 8 bytes, the last one
//! zero-padded, each followed by a marker byte `0xFF − padding`; a key whose
//! length is a multiple of 8 (the empty key too) ends with an all-padding
//! group (marker 247). Comparing two encodings byte by byte orders them like
//! the user keys, and no encoding is a prefix of another, so the timestamp
//! that follows never mixes with the key. Inverting the timestamp makes the
//! versions of one key sort **newest first**: seeking to
//! `encode_key(key, ts)` lands on the newest version at or below `ts`.

use crate::Error;

/// The largest timestamp: a reader at `TS_MAX` sees every committed write
/// (and is blocked only by a lock on a primary key, see
/// [`crate::Lock::is_locked_for`]).
pub const TS_MAX: u64 = u64::MAX;

const GROUP: usize = 8;
const MARKER: u8 = 0xFF;
/// Bytes of the timestamp suffix.
const TS_LEN: usize = 8;

/// The memcomparable encoding of `key` (without a timestamp).
pub fn encode_bytes(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity((key.len() / GROUP + 1) * (GROUP + 1) + TS_LEN);
    let mut chunks = key.chunks_exact(GROUP);
    for chunk in chunks.by_ref() {
        out.extend_from_slice(chunk);
        out.push(MARKER);
    }
    let rest = chunks.remainder();
    let pad = GROUP - rest.len();
    out.extend_from_slice(rest);
    out.extend(std::iter::repeat_n(0, pad));
    out.push(MARKER - pad as u8);
    out
}

/// `key` at `ts`: `encode_bytes(key)` then `!ts` big-endian.
pub fn encode_key(key: &[u8], ts: u64) -> Vec<u8> {
    let mut out = encode_bytes(key);
    out.extend_from_slice(&(!ts).to_be_bytes());
    out
}

/// Splits an encoded key into its user key and timestamp. Fails (never
/// panics) on anything [`encode_key`] cannot have produced.
pub fn decode_key(encoded: &[u8]) -> Result<(Vec<u8>, u64), Error> {
    let (key, rest) = decode_bytes(encoded)?;
    let ts: [u8; TS_LEN] = rest.try_into().map_err(|_| Error::BadKey {
        key: encoded.to_vec(),
        reason: format!("{} bytes after the user key, expected 8", rest.len()),
    })?;
    Ok((key, !u64::from_be_bytes(ts)))
}

/// The user key of an encoded key (the reference `DecodeUserKey`).
pub fn decode_user_key(encoded: &[u8]) -> Result<Vec<u8>, Error> {
    decode_key(encoded).map(|(key, _)| key)
}

/// The timestamp of an encoded key (the reference `decodeTimestamp`).
pub fn decode_ts(encoded: &[u8]) -> Result<u64, Error> {
    decode_key(encoded).map(|(_, ts)| ts)
}

/// Splits an encoded key into the memcomparable part and the timestamp
/// without decoding the user key: two versions of one user key have equal
/// first parts. `None` when the key is too short to hold a timestamp.
pub(crate) fn split_ts(encoded: &[u8]) -> Option<(&[u8], u64)> {
    let at = encoded.len().checked_sub(TS_LEN)?;
    let (key, ts) = encoded.split_at(at);
    Some((key, !u64::from_be_bytes(ts.try_into().ok()?)))
}

/// Decodes the memcomparable prefix of `encoded`; returns the user key and
/// what follows it.
fn decode_bytes(encoded: &[u8]) -> Result<(Vec<u8>, &[u8]), Error> {
    let bad = |reason: String| Error::BadKey {
        key: encoded.to_vec(),
        reason,
    };
    let mut key = Vec::new();
    let mut rest = encoded;
    loop {
        if rest.len() < GROUP + 1 {
            return Err(bad("truncated group".into()));
        }
        let (group, after) = rest.split_at(GROUP + 1);
        rest = after;
        let pad = (MARKER - group[GROUP]) as usize;
        if pad == 0 {
            key.extend_from_slice(&group[..GROUP]);
            continue;
        }
        if pad > GROUP {
            return Err(bad(format!("marker byte {}", group[GROUP])));
        }
        let (data, padding) = group[..GROUP].split_at(GROUP - pad);
        if padding.iter().any(|&b| b != 0) {
            return Err(bad("non-zero padding".into()));
        }
        key.extend_from_slice(data);
        return Ok((key, rest));
    }
}
