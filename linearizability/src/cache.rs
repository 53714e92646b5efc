//! The memo cache: every configuration (set of linearized operations, state)
//! the search has entered. A configuration met again was already explored
//! and failed, so the search does not enter it twice.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

use crate::Model;
use crate::bitset::Bitset;

/// No entry.
const END: usize = usize::MAX;

/// The cache's keys are already well-mixed 64-bit hashes; hashing them again
/// would only cost time. Also deterministic, unlike `RandomState` (the map
/// is never iterated, but nothing here should depend on the process's random
/// seed).
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Entries live in flat arenas chained per hash, rather than one `Vec` per
/// bucket and one per bitset: millions of small allocations made both the
/// search and dropping the cache slow.
pub(crate) struct Cache<S> {
    /// Hash of (set, state) → most recent entry with that hash.
    heads: HashMap<u64, usize, BuildHasherDefault<PassThrough>>,
    /// Words per bitset.
    width: usize,
    /// Entry `i`'s set is `words[i * width..(i + 1) * width]`.
    words: Vec<u64>,
    /// States are shared with the search's undo stack: a state can be long
    /// (a key's whole value), and copying it per step would dominate.
    states: Vec<Rc<S>>,
    /// Next entry with the same hash, or `END`.
    next: Vec<usize>,
}

impl<S> Cache<S> {
    /// An empty cache for sets of `n` operations.
    pub(crate) fn new(n: usize) -> Self {
        Cache {
            heads: HashMap::default(),
            width: n.div_ceil(64),
            words: Vec::new(),
            states: Vec::new(),
            next: Vec::new(),
        }
    }

    /// Adds (set, state) under `hash` unless an equal entry is there.
    /// Returns whether it was added.
    pub(crate) fn insert_new<M: Model<State = S>>(
        &mut self,
        model: &M,
        hash: u64,
        set: &Bitset,
        state: &Rc<S>,
    ) -> bool {
        let head = self.heads.get(&hash).copied().unwrap_or(END);
        let mut i = head;
        while i != END {
            let words = &self.words[i * self.width..(i + 1) * self.width];
            if words == set.words() && model.equal(&self.states[i], state) {
                return false;
            }
            i = self.next[i];
        }
        self.words.extend_from_slice(set.words());
        self.states.push(Rc::clone(state));
        self.next.push(head);
        self.heads.insert(hash, self.states.len() - 1);
        true
    }
}
