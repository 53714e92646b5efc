//! Recording clerk operations for the linearizability check.

use std::sync::{Arc, Mutex};

use labrpc::sim;

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
    pub call: i64,
    /// Virtual nanoseconds since the simulation started, at the return.
    pub ret: i64,
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
    pub fn now() -> i64 {
        sim::elapsed().as_nanos() as i64
    }

    /// Records an operation that was called at `call` and returns now.
    pub fn record(&self, client: usize, op: KvOp, key: &str, value: &str, output: &str, call: i64) {
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
