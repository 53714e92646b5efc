//! Timestamps: `physical_ms << 18 | logical`, as the reference's timestamp
//! oracle hands them out. Lock TTLs compare physical parts only.

/// Bits of the logical counter.
pub const LOGICAL_BITS: u32 = 18;

/// The physical part (milliseconds) of a timestamp.
pub fn physical(ts: u64) -> u64 {
    ts >> LOGICAL_BITS
}

/// The timestamp of `physical_ms` and `logical` (which must fit 18 bits;
/// higher bits are dropped).
pub fn compose(physical_ms: u64, logical: u64) -> u64 {
    (physical_ms << LOGICAL_BITS) | (logical & ((1 << LOGICAL_BITS) - 1))
}
