//! Recording clerk operations for the linearizability check.

use std::sync::{Arc, Mutex};

use labrpc::sim;
use linearizability::{
    CheckOptions, CheckResult, KvInput, KvModel, KvOperation, KvOutput, Operation,
    check_operations_verbose, visualize_temp,
};

/// A client operation as the checker's key/value model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOp {
    /// Read; the output is the value read.
    Get,
    /// Replace; no output.
    Put,
    /// Append that returns the old value (the reference's op 3).
    Append,
}

/// One completed operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The test's client number (not the clerk's random id).
    pub client: usize,
    /// What was done.
    pub op: KvOp,
    /// The key.
    pub key: String,
    /// Put/Append argument ("" for Get).
    pub value: String,
    /// Get's value or Append's old value ("" for Put).
    pub output: String,
    /// Virtual nanoseconds since the simulation started, at the call.
    pub call: u64,
    /// Virtual nanoseconds since the simulation started, at the return.
    pub ret: u64,
}

/// The history of a test, shared by its client tasks.
#[derive(Debug, Clone, Default)]
pub struct History {
    ops: Arc<Mutex<Vec<Record>>>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// The timestamp of "now": virtual nanoseconds since the simulation
    /// started. Virtual time moves in whole milliseconds, so operations that
    /// touch the same instant look concurrent to the checker — coarser than
    /// the real order, never wrong.
    pub fn now() -> u64 {
        sim::elapsed().as_nanos() as u64
    }

    /// Records an operation that was called at `call` and returns now.
    pub fn record(&self, client: usize, op: KvOp, key: &str, value: &str, output: &str, call: u64) {
        let record = Record {
            client,
            op,
            key: key.to_string(),
            value: value.to_string(),
            output: output.to_string(),
            call,
            ret: History::now(),
        };
        self.ops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
    }

    /// A copy of the operations recorded so far, in completion order.
    pub fn operations(&self) -> Vec<Record> {
        self.ops.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Record {
    /// The record as the checker's key/value model sees it. kvsrv's Append
    /// returns the old value, so it is checked as the model's AppendReturn
    /// (the reference's op 3).
    pub fn to_operation(&self) -> KvOperation {
        let input = match self.op {
            KvOp::Get => KvInput::get(&self.key),
            KvOp::Put => KvInput::put(&self.key, &self.value),
            KvOp::Append => KvInput::append_return(&self.key, &self.value),
        };
        Operation::new(
            self.client,
            input,
            self.call,
            KvOutput::new(&self.output),
            self.ret,
        )
    }
}

/// The reference's final check: is the recorded history linearizable?
///
/// The budget is the checker's default, its deterministic counterpart of the
/// reference's 1-s timeout. `Illegal` writes the HTML visualization to a
/// temporary file, prints `info: wrote history visualization to <path>` and
/// fails the test; `Unknown` prints the reference's info line and passes.
///
/// # Panics
/// If the history is not linearizable (or malformed).
pub fn check_linearizable(history: &History) {
    let ops: Vec<KvOperation> = history
        .operations()
        .iter()
        .map(Record::to_operation)
        .collect();
    let (result, info) = match check_operations_verbose(&KvModel, &ops, CheckOptions::default()) {
        Ok(checked) => checked,
        Err(e) => panic!("malformed history: {e}"),
    };
    match result {
        CheckResult::Ok => {}
        CheckResult::Illegal => {
            match visualize_temp(&KvModel, &info) {
                Ok(path) => println!("info: wrote history visualization to {}", path.display()),
                Err(e) => println!("info: failed to write history visualization: {e}"),
            }
            panic!("history is not linearizable");
        }
        CheckResult::Unknown => {
            println!("info: linearizability check timed out, assuming history is ok");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(client: usize, op: KvOp, value: &str, output: &str, call: u64, ret: u64) -> Record {
        Record {
            client,
            op,
            key: "k".into(),
            value: value.into(),
            output: output.into(),
            call,
            ret,
        }
    }

    fn history(records: Vec<Record>) -> History {
        let h = History::new();
        h.ops.lock().unwrap().extend(records);
        h
    }

    #[test]
    fn a_linearizable_history_passes() {
        check_linearizable(&history(vec![
            record(0, KvOp::Append, "x", "", 0, 10),
            // Concurrent with the append: may read before or after it.
            record(1, KvOp::Get, "", "", 5, 20),
            record(1, KvOp::Append, "y", "x", 30, 40),
        ]));
    }

    #[test]
    #[should_panic(expected = "history is not linearizable")]
    fn an_append_applied_twice_fails_the_check() {
        // Client 0's append returned "" at t=10, yet a later read sees it twice.
        check_linearizable(&history(vec![
            record(0, KvOp::Append, "x", "", 0, 10),
            record(1, KvOp::Get, "", "xx", 20, 30),
        ]));
    }
}
