//! The history of client operations and the final linearizability check.

use std::sync::{Arc, Mutex};

/// Which operation a [`Recorded`] entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedOp {
    /// Get; its output is the value read.
    Get,
    /// Put.
    Put,
    /// Append without a return value (Lab 4's Append).
    Append,
}

/// One completed clerk operation with its virtual call and return times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The tester's number for the client (a row in the HTML report).
    pub client_id: usize,
    /// The operation.
    pub op: RecordedOp,
    /// The key.
    pub key: String,
    /// The value put or appended ("" for Get).
    pub value: String,
    /// The value a Get returned ("" otherwise).
    pub output: String,
    /// Virtual nanoseconds since the simulation started, before the call.
    pub call: u64,
    /// Virtual nanoseconds since the simulation started, after the return.
    pub ret: u64,
}

/// The operations of one test, shared by its client tasks (the reference
/// `OpLog`). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct OpLog {
    ops: Arc<Mutex<Vec<Recorded>>>,
}

impl OpLog {
    /// An empty history.
    pub fn new() -> OpLog {
        OpLog::default()
    }

    /// Adds a completed operation.
    pub fn push(&self, op: Recorded) {
        self.ops.lock().unwrap_or_else(|e| e.into_inner()).push(op);
    }

    /// A copy of the operations so far, in completion order.
    pub fn read(&self) -> Vec<Recorded> {
        self.ops.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Checks that `ops` is linearizable against the key/value model with the
/// reference's 1-s budget.
///
/// * Illegal: writes the HTML visualization to a temporary `.html` file,
///   prints `info: wrote history visualization to <path>` and panics
///   ("history is not linearizable").
/// * Unknown (budget exhausted): prints the reference's info line and
///   returns, as the reference does.
///
/// # Panics
/// If the history is not linearizable.
pub fn check_linearizable(ops: &[Recorded]) {
    // Interim, until the `linearizability` crate lands: say loudly that
    // nothing was checked rather than pretend to.
    println!(
        "info: linearizability checker not available yet; {} operations NOT checked",
        ops.len()
    );
}
