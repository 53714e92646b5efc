//! The replicated log, with everything up to the snapshot compacted away.
//!
//! The log also keeps its own persisted encoding up to date, entry by entry:
//! Raft saves its state after every change to the log, and re-encoding a
//! long log field by field on each save made persistence cost O(log length)
//! encoder work per operation (most of the CPU of a long kvraft test). With
//! the encoding maintained incrementally, a save is one copy.

use serde::{Deserialize, Serialize};

use crate::StateError;
use crate::messages::Entry;

/// The entries after the last snapshot.
///
/// Indices are absolute and start at 1; index `base` is the last entry the
/// snapshot covers (0 with no snapshot), whose term is `base_term`. Entries
/// at or below `base` are gone, so their memory is freed.
#[derive(Clone, Default)]
pub struct Log {
    base: u64,
    base_term: u64,
    entries: Vec<Entry>,
    /// The lowest index whose persisted copy may be stale (changed since
    /// the caller last persisted), if any.
    unsynced: Option<u64>,
    /// The entries' encodings, concatenated, in step with `entries`.
    encoded: Vec<u8>,
    /// Where each entry's encoding starts in `encoded`.
    offsets: Vec<usize>,
}

/// Logs are equal when they hold the same entries on the same base.
impl PartialEq for Log {
    fn eq(&self, other: &Log) -> bool {
        (self.base, self.base_term, &self.entries) == (other.base, other.base_term, &other.entries)
    }
}

impl Eq for Log {}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("base", &self.base)
            .field("base_term", &self.base_term)
            .field("entries", &self.entries)
            .finish()
    }
}

/// What precedes the entries in the persisted encoding.
#[derive(Serialize, Deserialize)]
struct Header {
    term: u64,
    voted_for: Option<u32>,
    base: u64,
    base_term: u64,
    /// How many entries follow, so a state cut at an entry boundary is
    /// still recognised as damaged.
    entries: u64,
}

/// The network's encoding (`labrpc`'s bincode standard configuration),
/// which `push` and `encode_state` write through `labrpc::to_bytes`; read
/// here directly because a state holds several values back to back.
fn codec() -> bincode::config::Configuration {
    bincode::config::standard()
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
        self.offsets.push(self.encoded.len());
        // Infallible: an entry serializes as a derived struct of an
        // integer and a byte block, whose serde output always announces
        // its lengths (`labrpc::to_bytes` fails only without them); its
        // bytes are the network encoding `decode_state` reads back.
        self.encoded.extend_from_slice(&labrpc::to_bytes(&entry));
        self.entries.push(entry);
        let index = self.last_index();
        self.mark_unsynced(index);
        index
    }

    fn mark_unsynced(&mut self, index: u64) {
        self.unsynced = Some(self.unsynced.map_or(index, |u| u.min(index)));
    }

    /// The lowest index changed since [`Log::mark_synced`], if any.
    pub fn unsynced(&self) -> Option<u64> {
        self.unsynced
    }

    /// The caller has persisted the log as it is.
    pub fn mark_synced(&mut self) {
        self.unsynced = None;
    }

    /// Appends an entry whose encoding is already at hand (read back from
    /// the persisted state), so a restart does not encode it again.
    fn push_encoded(&mut self, entry: Entry, encoded: &[u8]) {
        self.offsets.push(self.encoded.len());
        self.encoded.extend_from_slice(encoded);
        self.entries.push(entry);
    }

    /// Removes `index` and everything after it.
    pub fn truncate_from(&mut self, index: u64) {
        if index > self.base {
            let keep = (index - self.base - 1) as usize;
            if keep < self.entries.len() {
                self.mark_unsynced(index);
                self.entries.truncate(keep);
                self.encoded.truncate(self.offsets[keep]);
                self.offsets.truncate(keep);
            }
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
            let drop = (index - self.base) as usize;
            let cut = self
                .offsets
                .get(drop)
                .copied()
                .unwrap_or(self.encoded.len());
            self.entries.drain(..drop);
            self.offsets.drain(..drop);
            self.encoded.drain(..cut);
            for offset in &mut self.offsets {
                *offset -= cut;
            }
            // Free the memory the discarded entries held, not just the slots.
            self.entries.shrink_to_fit();
            self.offsets.shrink_to_fit();
            self.encoded.shrink_to_fit();
            self.base = index;
            self.base_term = term;
        }
    }

    /// Replaces the whole log by an empty one based at `index`/`term`.
    pub fn reset_to(&mut self, index: u64, term: u64) {
        *self = Log {
            base: index,
            base_term: term,
            unsynced: Some(index + 1),
            ..Log::default()
        };
    }

    /// The persisted form of Raft's state: term, vote, then this log.
    pub fn encode_state(&self, term: u64, voted_for: Option<u32>) -> Vec<u8> {
        let header = Header {
            term,
            voted_for,
            base: self.base,
            base_term: self.base_term,
            entries: self.entries.len() as u64,
        };
        // Infallible: the header is a derived struct of integers and an
        // option (see `push`).
        let header = labrpc::to_bytes(&header);
        let mut out = Vec::with_capacity(header.len() + self.encoded.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.encoded);
        out
    }

    /// Reads what [`Log::encode_state`] wrote: (term, vote, log).
    pub fn decode_state(bytes: &[u8]) -> Result<(u64, Option<u32>, Log), StateError> {
        let (header, mut at): (Header, usize) =
            bincode::serde::decode_from_slice(bytes, codec())
                .map_err(|e| StateError::Header(labrpc::CodecError::Decode(e.to_string())))?;
        let mut log = Log::default();
        log.reset_to(header.base, header.base_term);
        log.mark_synced();
        while at < bytes.len() {
            let (entry, read): (Entry, usize) =
                bincode::serde::decode_from_slice(&bytes[at..], codec()).map_err(|e| {
                    StateError::Entry {
                        index: log.last_index() + 1,
                        error: labrpc::CodecError::Decode(e.to_string()),
                    }
                })?;
            log.push_encoded(entry, &bytes[at..at + read]);
            at += read;
        }
        if log.entries.len() as u64 != header.entries {
            return Err(StateError::Count {
                found: log.entries.len() as u64,
                saved: header.entries,
            });
        }
        Ok((header.term, header.voted_for, log))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(term: u64) -> Entry {
        Entry::command(term, vec![term as u8])
    }

    #[test]
    fn an_entry_costs_no_more_than_term_and_data_and_keeps_its_kind() {
        #[derive(serde::Serialize)]
        struct Plain {
            term: u64,
            #[serde(with = "serde_bytes")]
            data: Vec<u8>,
        }
        let data = vec![7u8; 300];
        let plain = labrpc::encode(&Plain {
            term: 3,
            data: data.clone(),
        })
        .unwrap();
        let entry = Entry::command(3, data.clone());
        assert_eq!(labrpc::encode(&entry).unwrap().len(), plain.len());
        let conf = Entry {
            term: 1 << 40,
            kind: crate::messages::EntryKind::ConfChange,
            data,
        };
        for e in [entry, conf] {
            let back: Entry = labrpc::decode(&labrpc::encode(&e).unwrap()).unwrap();
            assert_eq!(back, e);
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

    #[test]
    fn incremental_encoding_matches_a_fresh_one_after_every_kind_of_change() {
        let fresh = |log: &Log| {
            let mut copy = Log::default();
            copy.reset_to(log.base(), log.base_term());
            for i in log.base() + 1..=log.last_index() {
                copy.push(log.get(i).unwrap().clone());
            }
            copy.encode_state(3, Some(1))
        };
        let mut log = Log::default();
        for t in [1, 1, 2, 2, 3, 3, 3] {
            log.push(Entry::command(t, vec![t as u8; 300 * t as usize]));
        }
        assert_eq!(log.encode_state(3, Some(1)), fresh(&log));
        log.truncate_from(6);
        assert_eq!(log.encode_state(3, Some(1)), fresh(&log));
        log.compact_to(3);
        assert_eq!(log.encode_state(3, Some(1)), fresh(&log));
        log.push(e(4));
        let bytes = log.encode_state(3, Some(1));
        assert_eq!(bytes, fresh(&log));
        let (term, vote, back) = Log::decode_state(&bytes).unwrap();
        assert_eq!((term, vote), (3, Some(1)));
        assert_eq!(back, log);
        log.compact_to(log.last_index());
        assert_eq!(log.encode_state(3, None), {
            let mut empty = Log::default();
            empty.reset_to(log.base(), log.base_term());
            empty.encode_state(3, None)
        });
        // A cut-off state is an error, never a shorter log.
        assert!(Log::decode_state(&bytes[..bytes.len() - 1]).is_err());
        let last_entry = labrpc::encode(&e(4)).unwrap().len();
        let at_boundary = &bytes[..bytes.len() - last_entry];
        assert!(
            Log::decode_state(at_boundary).is_err(),
            "lost an entry silently"
        );
    }
}
