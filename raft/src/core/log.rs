//! The replicated log, with everything up to the snapshot compacted away.

use serde::{Deserialize, Serialize};

use crate::messages::Entry;

/// The entries after the last snapshot.
///
/// Indices are absolute and start at 1; index `base` is the last entry the
/// snapshot covers (0 with no snapshot), whose term is `base_term`. Entries
/// at or below `base` are gone, so their memory is freed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    base: u64,
    base_term: u64,
    entries: Vec<Entry>,
}

impl Log {
    /// Index of the last entry covered by the snapshot.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Term of that entry.
    pub fn base_term(&self) -> u64 {
        self.base_term
    }

    /// Index of the last entry (the base if the log is empty).
    pub fn last_index(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    /// Term of the last entry.
    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.base_term, |e| e.term)
    }

    /// Term at `index`, if the log still knows it (the base counts).
    pub fn term(&self, index: u64) -> Option<u64> {
        if index == self.base {
            Some(self.base_term)
        } else {
            self.get(index).map(|e| e.term)
        }
    }

    /// The entry at `index`, if it is in the log (not compacted, not past the end).
    pub fn get(&self, index: u64) -> Option<&Entry> {
        if index <= self.base {
            return None;
        }
        self.entries.get((index - self.base - 1) as usize)
    }

    /// Clones of the entries from `from` to the end, at most `max` of them.
    pub fn slice_from(&self, from: u64, max: usize) -> Vec<Entry> {
        let start = from.saturating_sub(self.base + 1) as usize;
        let start = start.min(self.entries.len());
        let end = (start + max).min(self.entries.len());
        self.entries[start..end].to_vec()
    }

    /// Appends one entry and returns its index.
    pub fn push(&mut self, entry: Entry) -> u64 {
        self.entries.push(entry);
        self.last_index()
    }

    /// Removes `index` and everything after it.
    pub fn truncate_from(&mut self, index: u64) {
        if index > self.base {
            self.entries.truncate((index - self.base - 1) as usize);
        }
    }

    /// The first index holding `term`, searching back from `index`.
    pub fn first_index_of_term(&self, index: u64) -> u64 {
        let term = self.term(index);
        let mut first = index;
        while first > self.base + 1 && self.term(first - 1) == term {
            first -= 1;
        }
        first
    }

    /// The last index holding `term`, if any entry after the base has it.
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        (self.base + 1..=self.last_index())
            .rev()
            .find(|&i| self.term(i) == Some(term))
    }

    /// Discards everything up to and including `index`, which must be in the
    /// log; later entries stay.
    pub fn compact_to(&mut self, index: u64) {
        if let Some(term) = self.term(index)
            && index > self.base
        {
            self.entries.drain(..(index - self.base) as usize);
            // Free the memory the discarded entries held, not just the slots.
            self.entries.shrink_to_fit();
            self.base = index;
            self.base_term = term;
        }
    }

    /// Replaces the whole log by an empty one based at `index`/`term`.
    pub fn reset_to(&mut self, index: u64, term: u64) {
        self.entries = Vec::new();
        self.base = index;
        self.base_term = term;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(term: u64) -> Entry {
        Entry {
            term,
            data: vec![term as u8],
        }
    }

    #[test]
    fn indexing_compaction_and_terms() {
        let mut log = Log::default();
        for t in [1, 1, 2, 2, 2, 3] {
            log.push(e(t));
        }
        assert_eq!(log.last_index(), 6);
        assert_eq!(log.term(0), Some(0));
        assert_eq!(log.term(3), Some(2));
        assert_eq!(log.first_index_of_term(5), 3);
        assert_eq!(log.last_index_of_term(2), Some(5));
        assert_eq!(log.last_index_of_term(9), None);

        log.compact_to(4);
        assert_eq!((log.base(), log.base_term()), (4, 2));
        assert_eq!(log.get(4), None);
        assert_eq!(log.get(5), Some(&e(2)));
        assert_eq!(
            log.first_index_of_term(5),
            5,
            "never searches below the base"
        );
        assert_eq!(log.slice_from(5, 10), vec![e(2), e(3)]);
        assert_eq!(log.slice_from(1, 10).len(), 2);

        log.truncate_from(6);
        assert_eq!(log.last_index(), 5);
        log.reset_to(10, 4);
        assert_eq!((log.last_index(), log.last_term()), (10, 4));
    }
}
