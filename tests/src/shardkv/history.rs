//! Recording clerk operations for the linearizability check of
//! `unreliable3_5b`, and the check itself.

use std::sync::{Arc, Mutex};

use labrpc::sim;

/// A clerk operation as the checker's key/value model sees it (the
/// reference's op codes 0, 1 and 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOp {
    /// Read; the output is the value read (op 0).
    Get,
    /// Replace (op 1).
    Put,
    /// Append without a return value, as Lab 5's clerk (op 2).
    Append,
}

/// One completed operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The test's client number (a row in the HTML report).
    pub client: usize,
    /// What was done.
    pub op: KvOp,
    /// The key.
    pub key: String,
    /// Put/Append argument ("" for Get).
    pub value: String,
    /// What Get returned ("" otherwise).
    pub output: String,
    /// Virtual nanoseconds since the simulation started, at the call.
    pub call: u64,
    /// Virtual nanoseconds since the simulation started, at the return.
    pub ret: u64,
}

/// The operations of a test, shared by its client tasks. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct History {
    ops: Arc<Mutex<Vec<Record>>>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// "Now" as the checker sees it: virtual nanoseconds since the
    /// simulation started. Virtual time moves in whole milliseconds, so
    /// operations touching the same instant look concurrent to the checker
    /// — coarser than the real order, never wrong.
    pub fn now() -> u64 {
        sim::elapsed().as_nanos() as u64
    }

    /// Records an operation called at `call` (from [`History::now`]) that
    /// returns now.
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

type KvInfo =
    linearizability::LinearizationInfo<linearizability::KvInput, linearizability::KvOutput>;

/// The checker's verdict on `history` under the key/value model, with its
/// default budget (its counterpart of the reference's 1-s Porcupine
/// timeout; a step count, so a seed always gives the same verdict).
///
/// # Panics
/// If the checker rejects the history as malformed.
pub fn linearizability_verdict(history: &History) -> (linearizability::CheckResult, KvInfo) {
    use linearizability::{
        CheckOptions, KvInput, KvModel, KvOutput, Operation, check_operations_verbose,
    };
    let ops: Vec<Operation<KvInput, KvOutput>> = history
        .operations()
        .into_iter()
        .map(|r| {
            let input = match r.op {
                KvOp::Get => KvInput::get(r.key),
                KvOp::Put => KvInput::put(r.key, r.value),
                KvOp::Append => KvInput::append(r.key, r.value),
            };
            Operation::new(r.client, input, r.call, KvOutput::new(r.output), r.ret)
        })
        .collect();
    tracing::info!(operations = ops.len(), "linearizability check");
    match check_operations_verbose(&KvModel, &ops, CheckOptions::default()) {
        Ok(verdict) => verdict,
        Err(e) => panic!("the linearizability checker rejected the history: {e}"),
    }
}

/// The reference's final check: the history must be linearizable.
///
/// * Illegal: writes the HTML report to a temporary file, prints
///   `info: wrote history visualization to <path>` and fails the test.
/// * Unknown (budget exhausted): prints the reference's info line and
///   passes, as the reference does.
///
/// # Panics
/// If the history is not linearizable, or is malformed.
pub fn check_linearizable(history: &History) {
    use linearizability::{CheckResult, KvModel, visualize_temp};
    let (result, info) = linearizability_verdict(history);
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
            println!("info: linearizability check timed out, assuming history is ok")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(records: &[(usize, KvOp, &str, &str, u64, u64)]) -> History {
        let h = History::new();
        for &(client, op, value, output, call, ret) in records {
            h.ops.lock().unwrap().push(Record {
                client,
                op,
                key: "k".into(),
                value: value.into(),
                output: output.into(),
                call,
                ret,
            });
        }
        h
    }

    #[test]
    fn a_linearizable_history_passes() {
        // Put x, then concurrently append y and read either x or xy.
        check_linearizable(&history(&[
            (0, KvOp::Put, "x", "", 0, 10),
            (1, KvOp::Append, "y", "", 20, 40),
            (2, KvOp::Get, "", "xy", 25, 30),
            (0, KvOp::Get, "", "xy", 50, 60),
        ]));
    }

    #[test]
    fn a_stale_read_is_caught() {
        // The Get starts after the Append returned but misses it.
        let (verdict, _) = linearizability_verdict(&history(&[
            (0, KvOp::Put, "x", "", 0, 10),
            (1, KvOp::Append, "y", "", 20, 30),
            (2, KvOp::Get, "", "x", 40, 50),
        ]));
        assert_eq!(verdict, linearizability::CheckResult::Illegal);
    }
}
