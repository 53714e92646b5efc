//! A fixed-size bitset with an incrementally maintained hash, for the memo
//! cache's key (the set of operations linearized so far).

/// A set of operation indices `0..n` of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    /// An empty set able to hold `0..n`.
    pub(crate) fn new(n: usize) -> Bitset {
        Bitset {
            words: vec![0; n.div_ceil(64)],
        }
    }

    pub(crate) fn set(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    pub(crate) fn clear(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The set's words, for storing it in the memo cache's arena.
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }
}

/// The contribution of element `i` to a set's hash. A set's hash is the XOR
/// of its elements' contributions (Zobrist hashing), so setting or clearing
/// one bit updates it in O(1) instead of rehashing every word as Porcupine
/// does. SplitMix64's finaliser spreads consecutive indices over all bits.
pub(crate) fn element_hash(i: usize) -> u64 {
    mix(i as u64)
}

/// SplitMix64's finaliser: a cheap bijection that spreads every input bit.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_clear_contains_across_words() {
        let mut b = Bitset::new(130);
        assert_eq!(b.words().len(), 3);
        for i in [0, 63, 64, 129] {
            b.set(i);
        }
        assert!(b.contains(0) && b.contains(63) && b.contains(64) && b.contains(129));
        assert!(!b.contains(1) && !b.contains(128));
        assert_eq!(b.len(), 4);
        b.clear(63);
        assert!(!b.contains(63));
        assert_eq!(b.len(), 3);
        let mut c = Bitset::new(130);
        c.set(129);
        c.set(64);
        c.set(0);
        assert_eq!(b, c);
    }

    #[test]
    fn element_hashes_are_distinct_and_xor_is_order_free() {
        let hashes: std::collections::BTreeSet<u64> = (0..10_000).map(element_hash).collect();
        assert_eq!(hashes.len(), 10_000);
        let a = element_hash(3) ^ element_hash(7) ^ element_hash(11);
        let b = element_hash(11) ^ element_hash(3) ^ element_hash(7);
        assert_eq!(a, b);
    }
}
