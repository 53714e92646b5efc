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
//!
//! **Reads first.** Before that walk, each new configuration is scanned for
//! a read ([`crate::Model::is_read_only`]: it never changes any state) that
//! may come next and is legal from the current state. It is linearized at
//! once, as the only choice: if any order completes the history from here,
//! one that puts the read first does too (moving it earlier breaks no
//! real-time constraint, since it may come next, and as it changes no state
//! every other operation sees the same states as before). So
//! when such a *forced* choice fails, the configuration before it fails as
//! well, and the search backs out past it. Without this, a read concurrent
//! with a few writes makes the search try every order of the writes before
//! placing the read, which is exponential in the overlap; with it, random
//! histories with ten overlapping clients on one key check in linear time.

use std::rc::Rc;

use crate::bitset::{Bitset, element_hash, mix};
use crate::cache::Cache;
use crate::info::{PartialRecord, PartitionInfo, TrieNode};
use crate::{CheckResult, Model, Operation};

/// A configuration stored in the memo cache costs one extra budget step per
/// this many bytes (set and state). Chosen so that a budget takes about the
/// same time whether states are short or tens of kilobytes long (measured by
/// the benchmark), and so that the default budget bounds the cache to a few
/// hundred megabytes.
pub(crate) const SURCHARGE_BYTES: usize = 128;

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
    state_before: Rc<S>,
    /// A read linearized as the only choice (see the module docs): undoing it
    /// means the configuration before it fails too.
    forced: bool,
    /// Verbose mode: the trie node naming the linearization up to and
    /// including this operation.
    trie: usize,
    /// Verbose mode: the longest failure recorded since this frame was
    /// pushed. Non-increasing up the stack, so a failure of length `L` only
    /// needs to look at the frames on top with a mark below `L`.
    fail_mark: usize,
}

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

/// What the walk over the list is doing in the current configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Looking for a read to linearize as the only choice.
    Reads,
    /// Trying each operation that may come next, in list order.
    Walk,
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
    phase: Phase,
    linearized: Bitset,
    /// Zobrist hash of `linearized`.
    hash: u64,
    cache: Cache<M::State>,
    calls: Vec<Frame<M::State>>,
    state: Rc<M::State>,
    status: Status,
    steps: u64,
    /// Budget charged by the current step beyond its unit cost: storing a
    /// configuration costs one more step per `SURCHARGE_BYTES` it keeps.
    surcharge: u64,
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
            phase: Phase::Reads,
            linearized: Bitset::new(n),
            hash: 0,
            cache: Cache::new(n),
            calls: Vec::new(),
            state: Rc::new(model.init()),
            status: Status::Running,
            steps: 0,
            surcharge: 0,
            recorder,
        }
    }

    /// Runs until `budget` steps are used (the last step may overshoot by
    /// its surcharge); returns how many were used. A step is one move of the
    /// search: stepping the model for one call entry, or undoing at a return
    /// entry, plus one per `SURCHARGE_BYTES` of any configuration it stores in the
    /// memo cache. Finishing takes no step.
    pub(crate) fn run(&mut self, budget: u64) -> u64 {
        let mut used = 0;
        while self.status == Status::Running {
            if self.nodes[0].next == NIL {
                self.finish_ok();
                break;
            }
            if used >= budget {
                break;
            }
            used += 1;
            let entry = self.cursor;
            let node = self.nodes[entry];
            match (self.phase, node.ret != NIL) {
                (Phase::Reads, true) => {
                    if !self.try_read(entry, node) {
                        used -= 1;
                    }
                }
                (Phase::Reads, false) => {
                    // No read can go first here; try everything in order.
                    self.phase = Phase::Walk;
                    self.cursor = self.nodes[0].next;
                    used -= 1; // reaching the end of the scan costs nothing
                }
                (Phase::Walk, true) => self.try_call(entry, node),
                (Phase::Walk, false) => {
                    if let Some(rec) = &mut self.recorder {
                        record_failure(rec, &mut self.calls, &self.nodes, node.op);
                    }
                    self.backtrack();
                }
            }
            used += std::mem::take(&mut self.surcharge);
        }
        self.steps += used;
        used
    }

    pub(crate) fn status(&self) -> Status {
        self.status
    }

    /// Reads phase, at a call entry: linearize it now if it is a read that
    /// is legal here. Returns whether the model was stepped (the budget
    /// counts model steps; skipping a write costs nothing).
    fn try_read(&mut self, entry: usize, node: Node) -> bool {
        let op = self.ops[node.op];
        if !self.model.is_read_only(&op.input, &op.output) {
            self.cursor = node.next;
            return false;
        }
        if self
            .model
            .step(&self.state, &op.input, &op.output)
            .is_some()
        {
            // A read leaves the state as it is: keep the one we share.
            let same = Rc::clone(&self.state);
            if !self.lift_if_new(entry, node.op, same, true) {
                // Seen before, so it fails, and so does this configuration.
                self.backtrack();
            }
        } else {
            self.cursor = node.next;
        }
        true
    }

    /// Walk phase, at a call entry: linearize the operation next if that is
    /// legal and leads somewhere new; otherwise move on to the next entry.
    fn try_call(&mut self, entry: usize, node: Node) {
        let op = self.ops[node.op];
        let lifted = match self.model.step(&self.state, &op.input, &op.output) {
            Some(next) => self.lift_if_new(entry, node.op, Rc::new(next), false),
            None => false,
        };
        if !lifted {
            self.cursor = node.next;
        }
    }

    /// Linearizes `op` (call entry `entry`) next, moving to `next_state`,
    /// unless that configuration is in the memo cache: it was explored
    /// before and failed (it cannot be on the current path, where every
    /// configuration has fewer operations). Returns whether it lifted.
    fn lift_if_new(
        &mut self,
        entry: usize,
        op: usize,
        next_state: Rc<M::State>,
        forced: bool,
    ) -> bool {
        self.linearized.set(op);
        self.hash ^= element_hash(op);
        // The key mixes the set's hash with the state's, so a bucket holds
        // only candidates that are probably equal (Porcupine keys by the set
        // alone, and scans every state reached with that set).
        let key = self.hash ^ mix(self.model.hash_state(&next_state));
        if !self
            .cache
            .insert_new(self.model, key, &self.linearized, &next_state)
        {
            self.linearized.clear(op);
            self.hash ^= element_hash(op);
            return false;
        }
        let trie = match &mut self.recorder {
            Some(rec) => {
                let parent = self.calls.last().map_or(0, |f| f.trie);
                rec.trie.push(TrieNode { parent, op });
                rec.trie.len() - 1
            }
            None => 0,
        };
        let stored = 8 * self.linearized.words().len() + self.model.state_size(&next_state);
        self.surcharge += (stored / SURCHARGE_BYTES) as u64;
        let state_before = std::mem::replace(&mut self.state, next_state);
        self.calls.push(Frame {
            node: entry,
            state_before,
            forced,
            trie,
            fail_mark: 0,
        });
        self.lift(entry);
        self.cursor = self.nodes[0].next;
        self.phase = Phase::Reads;
        true
    }

    /// The current configuration cannot be completed: undo the last choice
    /// and resume the walk after it. A forced choice is not a choice, so
    /// undoing it means its configuration failed too: keep undoing. With
    /// nothing left to undo, no order works.
    fn backtrack(&mut self) {
        while let Some(frame) = self.calls.pop() {
            let op = self.nodes[frame.node].op;
            self.state = frame.state_before;
            self.linearized.clear(op);
            self.hash ^= element_hash(op);
            self.unlift(frame.node);
            if !frame.forced {
                self.cursor = self.nodes[frame.node].next;
                self.phase = Phase::Walk;
                return;
            }
        }
        self.status = Status::Done(false);
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
///
/// Porcupine scans the whole prefix at every failure, which is quadratic on
/// long histories. A frame whose `fail_mark` is at least `len` already saw a
/// failure this long, so its operation cannot improve, and neither can any
/// frame below it; only the frames pushed since are visited.
fn record_failure<S>(rec: &mut Recorder, calls: &mut [Frame<S>], nodes: &[Node], blocked: usize) {
    let len = calls.len();
    let end = calls.last().map_or(0, |f| f.trie);
    let mut idx = None;
    let mut keep = |op: usize, rec: &mut Recorder| {
        if rec.largest[op].is_none() || len > rec.largest_len[op] {
            let i = *idx.get_or_insert_with(|| {
                rec.partials.push(PartialRecord { end, len, blocked });
                rec.partials.len() - 1
            });
            rec.largest[op] = Some(i);
            rec.largest_len[op] = len;
        }
    };
    keep(blocked, rec);
    for frame in calls.iter_mut().rev() {
        if frame.fail_mark >= len {
            break;
        }
        frame.fail_mark = len;
        keep(nodes[frame.node].op, rec);
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
