//! The replicated key/value state machine: pure, deterministic, snapshotable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::messages::{Op, OpKind};

/// The key/value store plus the duplicate table that makes writes
/// at-most-once. Every replica applies the same ops in the same order and so
/// holds the same state; the duplicate table is part of that state and of
/// every snapshot, so dedup survives leader changes and restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStateMachine {
    data: BTreeMap<String, String>,
    /// Highest write sequence number applied per clerk. A clerk has one
    /// request outstanding at a time, so anything at or below it is a retry.
    last_write: BTreeMap<u64, u64>,
    /// Every write seen, under the mutant `kvraft-dedup-history`.
    #[cfg(feature = "mutants")]
    #[serde(default)]
    history: Vec<(u64, u64)>,
}

/// The mutant `kvraft-dedup-history` (tester only, feature `mutants`): the
/// duplicate table also remembers every (clerk, sequence number) it saw, so
/// the state — and every snapshot — grows with the number of writes
/// (`snapshot_size_4b`'s bound must catch it).
#[cfg(feature = "mutants")]
pub const MUTANT_DEDUP_HISTORY: &str = "kvraft-dedup-history";

impl KvStateMachine {
    /// Applies `op` and returns what its clerk should hear: a Get's value
    /// ("" for a missing key), "" for a write. Writes seen before are not
    /// re-applied; reads are always answered from the current state (a
    /// retried Get is a new read, which is linearizable).
    pub fn apply(&mut self, op: &Op) -> String {
        // SOLUTION BEGIN 4A: apply one op; writes at most once per clerk sequence number
        match &op.kind {
            OpKind::Get { key } => self.data.get(key).cloned().unwrap_or_default(),
            OpKind::Put { key, value } => {
                if self.is_new_write(op) {
                    self.data.insert(key.clone(), value.clone());
                }
                String::new()
            }
            OpKind::Append { key, value } => {
                if self.is_new_write(op) {
                    self.data.entry(key.clone()).or_default().push_str(value);
                }
                String::new()
            }
        }
        // SOLUTION END
    }

    fn is_new_write(&mut self, op: &Op) -> bool {
        let last = self.last_write.entry(op.client_id).or_insert(0);
        if op.seq > *last {
            *last = op.seq;
            #[cfg(feature = "mutants")]
            if labrpc::sim::mutant(MUTANT_DEDUP_HISTORY) {
                self.history.push((op.client_id, op.seq));
            }
            true
        } else {
            false
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client_id: u64, seq: u64, kind: OpKind) -> Op {
        Op {
            client_id,
            seq,
            kind,
        }
    }

    fn append(c: u64, s: u64, v: &str) -> Op {
        op(
            c,
            s,
            OpKind::Append {
                key: "k".into(),
                value: v.into(),
            },
        )
    }

    #[test]
    fn writes_apply_once_reads_always() {
        let mut sm = KvStateMachine::default();
        let get = op(9, 1, OpKind::Get { key: "k".into() });
        assert_eq!(sm.apply(&get), "");
        sm.apply(&append(1, 1, "a"));
        sm.apply(&append(1, 1, "a")); // a retry after a lost reply
        sm.apply(&append(2, 1, "b"));
        sm.apply(&append(1, 2, "c"));
        assert_eq!(sm.get("k"), Some("abc"));
        sm.apply(&op(
            1,
            3,
            OpKind::Put {
                key: "k".into(),
                value: "z".into(),
            },
        ));
        sm.apply(&append(1, 2, "c")); // a stale retry must not resurface
        assert_eq!(sm.apply(&get), "z");
    }

    #[test]
    fn snapshot_round_trip_keeps_dedup() {
        let mut sm = KvStateMachine::default();
        sm.apply(&append(1, 5, "x"));
        let bytes = labrpc::to_bytes(&sm);
        let mut restored: KvStateMachine = labrpc::decode(&bytes).unwrap();
        assert_eq!(restored, sm);
        restored.apply(&append(1, 5, "x"));
        assert_eq!(restored.get("k"), Some("x"));
    }
}
