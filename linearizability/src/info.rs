//! What verbose checking learns about a history: per partition, the verdict
//! and the longest partial linearizations, for the HTML report.

use crate::{CheckResult, Operation};

/// "No node / no operation" in the compact representations below.
pub(crate) const NONE: usize = usize::MAX;

/// A node of the prefix tree of linearizations: the prefix of its parent
/// followed by one more operation (a partition-local index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrieNode {
    pub(crate) parent: usize,
    pub(crate) op: usize,
}

/// A partial linearization in compact form: the trie node ending its prefix,
/// the prefix length, and the operation (partition-local) that could not
/// follow, or [`NONE`] for a complete linearization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartialRecord {
    pub(crate) end: usize,
    pub(crate) len: usize,
    pub(crate) blocked: usize,
}

/// A partial linearization: operations in a legal order that respects real
/// time, and the operation that could not come next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialLinearization {
    /// The operations, as indices into the checked history, in linearization
    /// order. Every one is a legal step from the state the previous left.
    pub ops: Vec<usize>,
    /// The operation (index into the history) whose return was reached while
    /// it was still unlinearized, so the search had to back out of this
    /// prefix; `None` when the linearization is complete.
    pub blocked: Option<usize>,
}

/// The verdict and the partial linearizations of one partition.
#[derive(Debug, Clone)]
pub struct PartitionInfo {
    /// Indices into the history, in the order the model's partition gave.
    ops: Vec<usize>,
    result: CheckResult,
    steps: u64,
    /// Prefix tree of the kept linearizations; node 0 is the empty prefix and
    /// every parent precedes its children.
    trie: Vec<TrieNode>,
    partials: Vec<PartialRecord>,
    /// Per partition-local operation, the index in `partials` of the longest
    /// partial linearization that contains it (or that it blocks).
    largest: Vec<Option<usize>>,
}

impl PartitionInfo {
    pub(crate) fn new(
        ops: Vec<usize>,
        result: CheckResult,
        steps: u64,
        trie: Vec<TrieNode>,
        partials: Vec<PartialRecord>,
        largest: Vec<Option<usize>>,
    ) -> Self {
        PartitionInfo {
            ops,
            result,
            steps,
            trie,
            partials,
            largest,
        }
    }

    /// The partition's operations, as indices into the history.
    pub fn operations(&self) -> &[usize] {
        &self.ops
    }

    /// This partition's verdict. `Unknown` when the budget ran out before its
    /// search finished.
    pub fn result(&self) -> CheckResult {
        self.result
    }

    /// Search steps spent on this partition.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Number of distinct partial linearizations kept.
    pub fn partial_count(&self) -> usize {
        self.partials.len()
    }

    /// All kept partial linearizations, in the order the search found them.
    /// For an `Ok` partition the last one is complete.
    pub fn partial_linearizations(&self) -> Vec<PartialLinearization> {
        (0..self.partials.len()).map(|i| self.partial(i)).collect()
    }

    /// The `i`-th kept partial linearization.
    ///
    /// # Panics
    /// If `i >= self.partial_count()`.
    pub fn partial(&self, i: usize) -> PartialLinearization {
        let p = self.partials[i];
        PartialLinearization {
            ops: self
                .local_path(p.end)
                .into_iter()
                .map(|l| self.ops[l])
                .collect(),
            blocked: (p.blocked != NONE).then(|| self.ops[p.blocked]),
        }
    }

    /// For the operation at history index `op`, the index of the longest
    /// partial linearization containing it (or ending at it, if it is the
    /// one that could not be linearized); `None` if the operation is not in
    /// this partition or the search never reached it.
    pub fn largest_for(&self, op: usize) -> Option<usize> {
        let local = self.ops.iter().position(|&g| g == op)?;
        self.largest[local]
    }

    /// Partition-local operations from the root to trie node `end`.
    pub(crate) fn local_path(&self, mut end: usize) -> Vec<usize> {
        let mut path = Vec::new();
        while end != 0 && end != NONE {
            path.push(self.trie[end].op);
            end = self.trie[end].parent;
        }
        path.reverse();
        path
    }

    pub(crate) fn trie(&self) -> &[TrieNode] {
        &self.trie
    }

    pub(crate) fn partial_records(&self) -> &[PartialRecord] {
        &self.partials
    }

    pub(crate) fn largest_local(&self) -> &[Option<usize>] {
        &self.largest
    }
}

/// Everything [`crate::check_operations_verbose`] learned: the history (a
/// copy, so the report can be written later), the overall verdict and one
/// [`PartitionInfo`] per partition, in the model's partition order.
#[derive(Debug, Clone)]
pub struct LinearizationInfo<I, O> {
    history: Vec<Operation<I, O>>,
    result: CheckResult,
    steps: u64,
    partitions: Vec<PartitionInfo>,
    /// Names of the partitions from [`crate::Model::describe_partition`].
    names: Vec<Option<String>>,
}

impl<I, O> LinearizationInfo<I, O> {
    pub(crate) fn new(
        history: Vec<Operation<I, O>>,
        result: CheckResult,
        steps: u64,
        partitions: Vec<PartitionInfo>,
        names: Vec<Option<String>>,
    ) -> Self {
        LinearizationInfo {
            history,
            result,
            steps,
            partitions,
            names,
        }
    }

    /// The checked history.
    pub fn history(&self) -> &[Operation<I, O>] {
        &self.history
    }

    /// The overall verdict: `Illegal` if any partition is, else `Unknown` if
    /// any partition ran out of budget, else `Ok`.
    pub fn result(&self) -> CheckResult {
        self.result
    }

    /// Search steps spent in all.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One entry per partition.
    pub fn partitions(&self) -> &[PartitionInfo] {
        &self.partitions
    }

    /// The model's name for partition `i`, if it gave one.
    pub fn partition_name(&self, i: usize) -> Option<&str> {
        self.names.get(i).and_then(|n| n.as_deref())
    }
}

/// The [`LinearizationInfo`] of a history checked against model `M`.
pub type ModelInfo<M> = LinearizationInfo<<M as crate::Model>::Input, <M as crate::Model>::Output>;
