//! The [`Model`] trait: the sequential specification a history is checked
//! against.

use std::fmt::Debug;

use crate::Operation;

/// A sequential specification: a state machine whose transitions are labelled
/// by (input, output) pairs.
///
/// A history is linearizable when its operations can be put in one order that
/// respects real time (an operation that returned before another was called
/// comes first) and in which every operation is a legal [`Model::step`] from
/// the state the previous ones left.
///
/// The model must be *deterministic*: `step` on equal states with the same
/// input and output gives equal results. The memo cache relies on it.
pub trait Model {
    /// The state of the specified object.
    type State: Clone + PartialEq + Debug;
    /// An operation's request.
    type Input: Clone + Debug;
    /// An operation's response.
    type Output: Clone + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after `input` produced `output` from `state`, or `None` if
    /// the sequential specification does not allow that response there.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;

    /// Whether two states are the same for the rest of any history. Defaults
    /// to `==`; override when distinct values are observationally equal.
    fn equal(&self, a: &Self::State, b: &Self::State) -> bool {
        a == b
    }

    /// Whether this operation never changes any state: for every state `s`,
    /// `step(s, input, output)` is `None` or equal to `s` (a read).
    ///
    /// The search linearizes a read-only operation as soon as it is legal
    /// and may come next, without trying alternatives, which is what keeps
    /// reads concurrent with many writes cheap. Answering `true` for an
    /// operation that can change some state would make the checker unsound,
    /// so the default is `false`.
    fn is_read_only(&self, input: &Self::Input, output: &Self::Output) -> bool {
        let _ = (input, output);
        false
    }

    /// Roughly how many bytes `state` occupies beyond its inline size (a
    /// string's length, say). The memo cache keeps every state it stores, so
    /// the budget charges for them: see [`crate::CheckOptions`]. Defaults
    /// to 0, for small states.
    fn state_size(&self, state: &Self::State) -> usize {
        let _ = state;
        0
    }

    /// A hash of `state` for the memo cache. States that are
    /// [`Model::equal`] must hash alike.
    ///
    /// The default, a constant, is always correct but puts every state
    /// reached with the same set of linearized operations in one cache
    /// bucket, searched linearly (Porcupine's behaviour). When concurrent
    /// operations can be ordered many ways that bucket grows to thousands,
    /// so models with many distinct states should override this.
    fn hash_state(&self, state: &Self::State) -> u64 {
        let _ = state;
        0
    }

    /// Splits a history into independent parts, checked separately (a
    /// key/value store partitions by key: linearizability is local, so the
    /// whole is linearizable exactly when every key's history is).
    ///
    /// Returns lists of *indices* into `history` rather than copies of the
    /// operations, so the report and the errors can name each operation by
    /// its position in the caller's history. Every index must appear at most
    /// once; an operation left out of every part is not checked. The default
    /// is one part holding everything.
    fn partition(&self, history: &[Operation<Self::Input, Self::Output>]) -> Vec<Vec<usize>> {
        vec![(0..history.len()).collect()]
    }

    /// A name for one part in the report (the key, for a key/value store).
    /// `part` holds indices into `history`. Defaults to none.
    fn describe_partition(
        &self,
        history: &[Operation<Self::Input, Self::Output>],
        part: &[usize],
    ) -> Option<String> {
        let _ = (history, part);
        None
    }

    /// One line for an operation, e.g. `get('k') -> 'v'`.
    fn describe_operation(&self, input: &Self::Input, output: &Self::Output) -> String {
        format!("{input:?} -> {output:?}")
    }

    /// One line for a state.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}
