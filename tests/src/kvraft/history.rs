//! The history of client operations and the final linearizability check.

use std::sync::{Arc, Mutex};

use linearizability::{
    CheckOptions, CheckResult, KvInput, KvModel, KvOperation, KvOutput, Operation,
    check_operations_verbose, visualize_temp,
};

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

/// The recorded operation as the checker's key/value model sees it.
fn to_operation(op: &Recorded) -> KvOperation {
    let input = match op.op {
        RecordedOp::Get => KvInput::get(&op.key),
        RecordedOp::Put => KvInput::put(&op.key, &op.value),
        RecordedOp::Append => KvInput::append(&op.key, &op.value),
    };
    Operation::new(
        op.client_id,
        input,
        op.call,
        KvOutput::new(&op.output),
        op.ret,
    )
}

/// Checks that `ops` is linearizable against the key/value model, within
/// the checker's default budget (its deterministic counterpart of the
/// reference's 1-s timeout, so a seed always gets the same verdict).
///
/// * Illegal: writes the HTML visualization to a temporary `.html` file,
///   prints `info: wrote history visualization to <path>` and panics
///   ("history is not linearizable").
/// * Unknown (budget exhausted): prints the reference's info line and
///   returns, as the reference does.
///
/// # Panics
/// If the history is not linearizable, or malformed (a tester bug).
pub fn check_linearizable(ops: &[Recorded]) {
    let history: Vec<KvOperation> = ops.iter().map(to_operation).collect();
    let (result, info) = match check_operations_verbose(&KvModel, &history, CheckOptions::default())
    {
        Ok(checked) => checked,
        Err(e) => panic!("the tester recorded a malformed history: {e}"),
    };
    match result {
        CheckResult::Ok => {}
        CheckResult::Unknown => {
            println!("info: linearizability check timed out, assuming history is ok");
        }
        CheckResult::Illegal => {
            match visualize_temp(&KvModel, &info) {
                Ok(path) => println!("info: wrote history visualization to {}", path.display()),
                Err(e) => println!("info: failed to write history visualization: {e}"),
            }
            panic!("history is not linearizable");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(
        client_id: usize,
        op: RecordedOp,
        value: &str,
        output: &str,
        call: u64,
        ret: u64,
    ) -> Recorded {
        Recorded {
            client_id,
            op,
            key: "k".into(),
            value: value.into(),
            output: output.into(),
            call,
            ret,
        }
    }

    #[test]
    fn accepts_a_linearizable_history() {
        check_linearizable(&[
            rec(0, RecordedOp::Put, "a", "", 0, 10),
            // Concurrent with the append: may see it or not.
            rec(1, RecordedOp::Get, "", "a", 15, 30),
            rec(0, RecordedOp::Append, "b", "", 20, 40),
            rec(1, RecordedOp::Get, "", "ab", 41, 50),
        ]);
    }

    #[test]
    #[should_panic(expected = "history is not linearizable")]
    fn rejects_a_stale_read() {
        check_linearizable(&[
            rec(0, RecordedOp::Put, "a", "", 0, 10),
            rec(0, RecordedOp::Put, "b", "", 11, 20),
            // Starts after "b" was acknowledged, yet reads "a".
            rec(1, RecordedOp::Get, "", "a", 21, 30),
        ]);
    }

    #[test]
    #[should_panic(expected = "history is not linearizable")]
    fn rejects_a_lost_append() {
        check_linearizable(&[
            rec(0, RecordedOp::Append, "x", "", 0, 10),
            rec(1, RecordedOp::Append, "y", "", 5, 12),
            rec(0, RecordedOp::Get, "", "y", 20, 30),
        ]);
    }
}
