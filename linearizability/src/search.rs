//! The search for one partition: Wing & Gong's algorithm with Lowe's memo
//! cache, as a resumable state machine so that several partitions can share
//! one deterministic work budget.
//!
//! The history becomes a doubly linked list of call and return entries in
//! time order. The search walks it: at a call entry it tries to linearize
//! that operation next (legal step from the current state, and the pair
//! (linearized set, new state) not seen before); if so it lifts the
//! operation's two entries out of the list and starts again from the head.
//! Reaching a return entry means that operation had to be linearized by now
//! and was not: undo the last choice. An empty list means every operation is
//! linearized; undoing with nothing to undo means no order works.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::bitset::{Bitset, element_hash};
use crate::info::{PartialRecord, PartitionInfo, TrieNode};
use crate::{CheckResult, Model, Operation};

/// End of the list / no node.
const NIL: usize = crate::info::NONE;

/// One call or return entry. Node 0 is the list head.
#[derive(Debug, Clone, Copy)]
struct Node {
    prev: usize,
    next: usize,
    /// The operation (index within the partition).
    op: usize,
    /// For a call entry, its return entry; `NIL` for a return entry.
    ret: usize,
}

/// A choice that can be undone: the call entry lifted and the state before.
struct Frame<S> {
    node: usize,
    state_before: S,
    /// Verbose mode: the trie node naming the linearization up to and
    /// including this operation.
    trie: usize,
}

/// The memo cache's keys are already well-mixed 64-bit hashes; hashing them
/// again would only cost time. Also deterministic, unlike `RandomState`
/// (the cache is never iterated, but nothing here should depend on the
/// process's random seed).
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | self.0 >> 56) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Cache<S> = HashMap<u64, Vec<(Bitset, S)>, BuildHasherDefault<PassThrough>>;

/// Verbose mode's record of the longest partial linearizations.
struct Recorder {
    /// Every linearization prefix ever built, as a tree: node 0 is the empty
    /// prefix. Sharing prefixes keeps this linear in the number of search
    /// steps; copying each prefix would be quadratic.
    trie: Vec<TrieNode>,
    /// Candidate partial linearizations: a prefix and the operation that
    /// could not follow it.
    partials: Vec<PartialRecord>,
    /// Per operation: the longest partial linearization it takes part in.
    largest: Vec<Option<usize>>,
    /// Length of that linearization (the prefix length).
    largest_len: Vec<usize>,
}

/// Where a search stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Running,
    Done(bool),
}

/// The search over one partition.
pub(crate) struct Search<'a, M: Model> {
    model: &'a M,
    /// The partition's operations, by local index.
    ops: Vec<&'a Operation<M::Input, M::Output>>,
    /// History indices of the partition's operations.
    global: Vec<usize>,
    nodes: Vec<Node>,
    /// The entry under consideration.
    cursor: usize,
    linearized: Bitset,
    /// Zobrist hash of `linearized`.
    hash: u64,
    cache: Cache<M::State>,
    calls: Vec<Frame<M::State>>,
    state: M::State,
    status: Status,
    steps: u64,
    recorder: Option<Recorder>,
}

impl<'a, M: Model> Search<'a, M> {
    /// Prepares the search over `part` (indices into `history`). `verbose`
    /// records partial linearizations for the report.
    pub(crate) fn new(
        model: &'a M,
        history: &'a [Operation<M::Input, M::Output>],
        part: &[usize],
        verbose: bool,
    ) -> Self {
        let ops: Vec<_> = part.iter().map(|&i| &history[i]).collect();
        let n = ops.len();
        // (time, is_return, op): on equal times calls sort first, so
        // operations that merely touch are concurrent. The op index breaks
        // the remaining ties so the order never depends on the sort.
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
        for (i, op) in ops.iter().enumerate() {
            events.push((op.call, false, i));
            events.push((op.return_time, true, i));
        }
        events.sort_unstable();

        let mut nodes = Vec::with_capacity(2 * n + 1);
        nodes.push(Node {
            prev: NIL,
            next: if events.is_empty() { NIL } else { 1 },
            op: NIL,
            ret: NIL,
        });
        let mut call_node = vec![NIL; n];
        let mut ret_node = vec![NIL; n];
        for (k, &(_, is_return, op)) in events.iter().enumerate() {
            let id = k + 1;
            if is_return {
                ret_node[op] = id;
            } else {
                call_node[op] = id;
            }
            nodes.push(Node {
                prev: id - 1,
                next: if id == events.len() { NIL } else { id + 1 },
                op,
                ret: NIL,
            });
        }
        for (&c, &r) in call_node.iter().zip(&ret_node) {
            nodes[c].ret = r;
        }

        let recorder = verbose.then(|| Recorder {
            trie: vec![TrieNode {
                parent: NIL,
                op: NIL,
            }],
            partials: Vec::new(),
            largest: vec![None; n],
            largest_len: vec![0; n],
        });
        let cursor = nodes[0].next;
        Search {
            model,
            ops,
            global: part.to_vec(),
            nodes,
            cursor,
            linearized: Bitset::new(n),
            hash: 0,
            cache: Cache::default(),
            calls: Vec::new(),
            state: model.init(),
            status: Status::Running,
            steps: 0,
            recorder,
        }
    }

    /// Runs at most `budget` steps; returns how many were used. A step is one
    /// move of the search: trying one call entry, or undoing one choice at a
    /// return entry. Finishing takes no step.
    pub(crate) fn run(&mut self, budget: u64) -> u64 {
        let mut used = 0;
        while self.status == Status::Running {
            if self.nodes[0].next == NIL {
                self.finish_ok();
                break;
            }
            if used == budget {
                break;
            }
            used += 1;
            let entry = self.cursor;
            let node = self.nodes[entry];
            if node.ret != NIL {
                self.try_call(entry, node);
            } else {
                self.undo(node.op);
            }
        }
        self.steps += used;
        used
    }

    pub(crate) fn status(&self) -> Status {
        self.status
    }

    /// At a call entry: linearize the operation next if that is legal and
    /// leads somewhere new; otherwise move on to the next entry.
    fn try_call(&mut self, entry: usize, node: Node) {
        let op = self.ops[node.op];
        let Some(next_state) = self.model.step(&self.state, &op.input, &op.output) else {
            self.cursor = node.next;
            return;
        };
        self.linearized.set(node.op);
        self.hash ^= element_hash(node.op);
        let bucket = self.cache.entry(self.hash).or_default();
        let seen = bucket
            .iter()
            .any(|(set, s)| *set == self.linearized && self.model.equal(s, &next_state));
        if seen {
            // This (linearized set, state) was explored before and failed
            // (or is being explored now, which is impossible: every
            // configuration on the current path has a smaller set).
            self.linearized.clear(node.op);
            self.hash ^= element_hash(node.op);
            self.cursor = node.next;
            return;
        }
        bucket.push((self.linearized.clone(), next_state.clone()));
        let trie = match &mut self.recorder {
            Some(rec) => {
                let parent = self.calls.last().map_or(0, |f| f.trie);
                rec.trie.push(TrieNode {
                    parent,
                    op: node.op,
                });
                rec.trie.len() - 1
            }
            None => 0,
        };
        let state_before = std::mem::replace(&mut self.state, next_state);
        self.calls.push(Frame {
            node: entry,
            state_before,
            trie,
        });
        self.lift(entry);
        self.cursor = self.nodes[0].next;
    }

    /// At the return entry of `blocked`, which is not linearized: the current
    /// prefix cannot be extended. Undo the last choice and try the entry after
    /// it, or conclude that nothing works.
    fn undo(&mut self, blocked: usize) {
        if let Some(rec) = &mut self.recorder {
            record_failure(rec, &self.calls, &self.nodes, blocked);
        }
        let Some(frame) = self.calls.pop() else {
            self.status = Status::Done(false);
            return;
        };
        let op = self.nodes[frame.node].op;
        self.state = frame.state_before;
        self.linearized.clear(op);
        self.hash ^= element_hash(op);
        self.unlift(frame.node);
        self.cursor = self.nodes[frame.node].next;
    }

    /// Removes a call entry and its return entry from the list.
    fn lift(&mut self, call: usize) {
        let ret = self.nodes[call].ret;
        for id in [call, ret] {
            let Node { prev, next, .. } = self.nodes[id];
            self.nodes[prev].next = next;
            if next != NIL {
                self.nodes[next].prev = prev;
            }
        }
    }

    /// Puts back what [`Search::lift`] removed, in reverse order. The removed
    /// nodes kept their own links, which is what makes this O(1).
    fn unlift(&mut self, call: usize) {
        let ret = self.nodes[call].ret;
        for id in [ret, call] {
            let Node { prev, next, .. } = self.nodes[id];
            self.nodes[prev].next = id;
            if next != NIL {
                self.nodes[next].prev = id;
            }
        }
    }

    fn finish_ok(&mut self) {
        self.status = Status::Done(true);
        if let Some(rec) = &mut self.recorder {
            // The full linearization is the longest for every operation.
            let end = self.calls.last().map_or(0, |f| f.trie);
            rec.partials.push(PartialRecord {
                end,
                len: self.calls.len(),
                blocked: NIL,
            });
            let idx = rec.partials.len() - 1;
            for (l, len) in rec.largest.iter_mut().zip(rec.largest_len.iter_mut()) {
                *l = Some(idx);
                *len = self.calls.len();
            }
        }
    }

    /// The partition's part of the report. The memo cache is dropped first:
    /// it is by far the largest structure and the report does not need it.
    pub(crate) fn into_info(self) -> PartitionInfo {
        let result = match self.status {
            Status::Running => CheckResult::Unknown,
            Status::Done(true) => CheckResult::Ok,
            Status::Done(false) => CheckResult::Illegal,
        };
        drop(self.cache);
        let (trie, partials, largest) = match self.recorder {
            Some(rec) => compact(rec),
            None => (Vec::new(), Vec::new(), vec![None; self.global.len()]),
        };
        PartitionInfo::new(self.global, result, self.steps, trie, partials, largest)
    }
}

/// Verbose mode, at a failure point: the prefix in `calls` followed by
/// `blocked` is a partial linearization that ends in a violation. Keep it for
/// every operation for which it is longer than anything seen before.
fn record_failure<S>(rec: &mut Recorder, calls: &[Frame<S>], nodes: &[Node], blocked: usize) {
    let len = calls.len();
    let improves =
        |op: usize, rec: &Recorder| rec.largest[op].is_none() || len > rec.largest_len[op];
    let any = improves(blocked, rec) || calls.iter().any(|f| improves(nodes[f.node].op, rec));
    if !any {
        return;
    }
    rec.partials.push(PartialRecord {
        end: calls.last().map_or(0, |f| f.trie),
        len,
        blocked,
    });
    let idx = rec.partials.len() - 1;
    for op in calls.iter().map(|f| nodes[f.node].op).chain([blocked]) {
        if improves(op, rec) {
            rec.largest[op] = Some(idx);
            rec.largest_len[op] = len;
        }
    }
}

/// Keeps only the partial linearizations some operation still points at, and
/// only the trie nodes on their paths, renumbered densely (parents first).
fn compact(rec: Recorder) -> (Vec<TrieNode>, Vec<PartialRecord>, Vec<Option<usize>>) {
    let Recorder {
        trie,
        partials,
        largest,
        ..
    } = rec;
    // Keep the referenced partials in the order the search found them,
    // which is stable and reads naturally in the report.
    let mut referenced = vec![false; partials.len()];
    for &p in largest.iter().flatten() {
        referenced[p] = true;
    }
    let mut partial_map = vec![NIL; partials.len()];
    let mut kept = Vec::new();
    for (old, p) in partials.iter().enumerate() {
        if referenced[old] {
            partial_map[old] = kept.len();
            kept.push(*p);
        }
    }

    let mut live = vec![false; trie.len()];
    live[0] = true;
    for p in &kept {
        let mut t = p.end;
        while t != NIL && !live[t] {
            live[t] = true;
            t = trie[t].parent;
        }
    }
    let mut trie_map = vec![NIL; trie.len()];
    let mut new_trie = Vec::new();
    for (old, node) in trie.iter().enumerate() {
        if live[old] {
            trie_map[old] = new_trie.len();
            new_trie.push(TrieNode {
                parent: if node.parent == NIL {
                    NIL
                } else {
                    trie_map[node.parent]
                },
                op: node.op,
            });
        }
    }
    for p in &mut kept {
        p.end = trie_map[p.end];
    }
    let new_largest = largest.iter().map(|l| l.map(|p| partial_map[p])).collect();
    (new_trie, kept, new_largest)
}
