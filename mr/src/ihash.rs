//! Key partitioning: which reduce task a key belongs to.
//!
//! The reference uses Go's `hash/fnv` 32-bit FNV-1a masked to 31 bits, then
//! `% nReduce`. We keep exactly that so our intermediate files partition the
//! same way the Go lab does (labs.md §3.4 lists the buckets of `a`..`j`).

const FNV_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a (32-bit) of `key`'s bytes, masked to 31 bits as in the reference.
pub fn ihash(key: &str) -> u32 {
    let mut hash = FNV_OFFSET_BASIS;
    for &byte in key.as_bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash & 0x7fff_ffff
}

/// The reduce task (`0..n_reduce`) that `key` goes to. `n_reduce` must be > 0.
pub fn partition(key: &str, n_reduce: usize) -> usize {
    ihash(key) as usize % n_reduce
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_published_fnv1a_vectors() {
        // FNV-1a 32 test vectors (before masking): "" = 0x811c9dc5,
        // "a" = 0xe40c292c, "foobar" = 0xbf9cf968.
        assert_eq!(ihash(""), 0x811c_9dc5 & 0x7fff_ffff);
        assert_eq!(ihash("a"), 0xe40c_292c & 0x7fff_ffff);
        assert_eq!(ihash("foobar"), 0xbf9c_f968 & 0x7fff_ffff);
    }

    #[test]
    fn rtiming_keys_fall_in_the_reference_buckets() {
        // labs.md §3.4: a→2, b→9, c→0, d→5, e→6, f→3, g→4, h→3, i→4, j→1.
        let expected = [2, 9, 0, 5, 6, 3, 4, 3, 4, 1];
        for (key, want) in ('a'..='j').zip(expected) {
            assert_eq!(partition(&key.to_string(), 10), want, "key {key}");
        }
    }
}
