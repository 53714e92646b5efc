//! One history recorder for every service the linearizability checker
//! judges (kvsrv, kvraft, shardkv — the reference `OpLog`/`porcupine` glue
//! — and the TinyKV raftstore), and the final check.
//!
//! ## Timestamps keep the real order
//! Virtual time moves in whole milliseconds and stands still while tasks
//! run, so a client's return and its next call — or another client's call a
//! moment later — usually carry the same virtual instant, and the checker
//! treats equal call/return times as concurrent. A stale read right after a
//! client's own write would then look legal. So every stamp the recorder
//! hands out ([`Recorder::call`], and the return stamp taken inside
//! [`Recorder::record`]) is virtual nanoseconds since the simulation
//! started, raised to one more than the previous stamp of this recorder when
//! it would not be larger: stamps are **strictly increasing in the order the
//! tester takes them**. Everything runs on one thread, so that order is the
//! real order — "returned before the next call" is always visible to the
//! checker — across clients too — and the stamps stay within a few
//! nanoseconds of virtual time.
//!
//! ## What is recorded, what is checked
//! A [`Recorder<I, O>`] stores operations of whatever input and output
//! types the service's clients produce. [`Recorder::check_linearizable`]
//! judges them under a [`Model`] of exactly those types; a tester whose
//! model is built from the whole history (the raftstore interns keys and
//! values first) takes [`Recorder::operations`] and calls the free
//! [`check_linearizable`] on what it built. Both end the same way.
//!
//! ## Unknown verdicts
//! The checker's budget is a step count ([`check_budget`]), so a seed always
//! gets the same verdict. Every check reports its verdict on the simulation's
//! `LAB_SIM_REPORT` line (`check=ok|illegal|unknown`), where `labtool stress`
//! and `labtool grade` count it. `Unknown` passes with the reference's info
//! line, unless `LAB_STRICT_CHECK=1` (our CI and `labtool stress`), where it
//! fails with the history's size and how to raise the budget.

use std::sync::{Arc, Mutex, MutexGuard};

use labrpc::sim;
use linearizability::{
    CheckOptions, CheckResult, DEFAULT_MAX_STEPS, KvInput, KvModel, KvOutput, LinearizationInfo,
    Model, Operation, check_operations_verbose, visualize_temp,
};

/// Set to `1` to fail a test whose history check runs out of budget.
pub const STRICT_CHECK_ENV: &str = "LAB_STRICT_CHECK";

/// Overrides the checker's step budget ([`DEFAULT_MAX_STEPS`]).
pub const CHECK_STEPS_ENV: &str = "LAB_CHECK_STEPS";

/// A history of the operations of one test, shared by its client tasks
/// (cheap to clone): inputs `I` and outputs `O`, each with its client and
/// its call and return stamps. The kv labs use [`KvHistory`].
pub struct Recorder<I, O> {
    inner: Arc<Mutex<State<I, O>>>,
}

/// The key/value labs' history: inputs and outputs of [`KvModel`].
pub type KvHistory = Recorder<KvInput, KvOutput>;

struct State<I, O> {
    ops: Vec<Operation<I, O>>,
    /// The last stamp handed out.
    last: Option<u64>,
}

impl<I, O> Clone for Recorder<I, O> {
    fn clone(&self) -> Self {
        Recorder {
            inner: self.inner.clone(),
        }
    }
}

impl<I, O> Default for Recorder<I, O> {
    fn default() -> Self {
        Recorder {
            inner: Arc::new(Mutex::new(State {
                ops: Vec::new(),
                last: None,
            })),
        }
    }
}

impl<I, O> std::fmt::Debug for Recorder<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("operations", &self.lock().ops.len())
            .finish()
    }
}

impl<I, O> Recorder<I, O> {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State<I, O>> {
        // A panicking client task already fails the test; keep the history.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A stamp for "now", strictly greater than every stamp handed out
    /// before (see the module doc).
    fn stamp(state: &mut State<I, O>) -> u64 {
        let now = sim::elapsed().as_nanos() as u64;
        let t = match state.last {
            Some(last) if now <= last => last + 1,
            _ => now,
        };
        state.last = Some(t);
        t
    }

    /// The call stamp of an operation about to start; pass it to
    /// [`Recorder::record`] when the operation returns.
    pub fn call(&self) -> u64 {
        Self::stamp(&mut self.lock())
    }

    /// Records an operation of client `client` called at `call` (from
    /// [`Recorder::call`]) that returns now.
    pub fn record(&self, client: usize, input: I, output: O, call: u64) {
        let mut state = self.lock();
        let ret = Self::stamp(&mut state);
        state
            .ops
            .push(Operation::new(client, input, call, output, ret));
    }

    /// Number of operations recorded so far.
    pub fn len(&self) -> usize {
        self.lock().ops.len()
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<I: Clone, O: Clone> Recorder<I, O> {
    /// A copy of the operations recorded so far, in completion order.
    pub fn operations(&self) -> Vec<Operation<I, O>> {
        self.lock().ops.clone()
    }

    /// The checker's verdict on the history under `model` ([`verdict`]).
    ///
    /// # Panics
    /// If the checker rejects the history as malformed (a tester bug).
    pub fn verdict<M>(&self, model: &M) -> (CheckResult, LinearizationInfo<I, O>)
    where
        M: Model<Input = I, Output = O>,
    {
        verdict(model, &self.lock().ops)
    }

    /// The final check of the history under `model` ([`check_linearizable`]).
    ///
    /// # Panics
    /// If the history is not linearizable, is malformed, or (strict) the
    /// check ran out of budget.
    pub fn check_linearizable<M>(&self, model: &M)
    where
        M: Model<Input = I, Output = O>,
    {
        // Checked in place, not copied: nothing else runs meanwhile (one
        // thread), and a failed check's panic leaves the lock usable.
        check_linearizable(model, &self.lock().ops);
    }
}

impl KvHistory {
    /// Records a key/value operation: `input` called at `call` returned
    /// `output` (`""` for Put and Lab 4's Append) now.
    pub fn record_kv(&self, client: usize, input: KvInput, output: &str, call: u64) {
        self.record(client, input, KvOutput::new(output), call);
    }

    /// [`Recorder::check_linearizable`] under the key/value model.
    pub fn check(&self) {
        self.check_linearizable(&KvModel);
    }
}

/// The checker's verdict on `ops` under `model`, within [`check_budget`]
/// steps, also reported as `check=<verdict>` on the simulation's report
/// line.
///
/// # Panics
/// If the checker rejects the history as malformed (a tester bug).
pub fn verdict<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
) -> (CheckResult, LinearizationInfo<M::Input, M::Output>) {
    tracing::info!(operations = ops.len(), "linearizability check");
    let options = CheckOptions::with_max_steps(check_budget());
    let (result, info) = match check_operations_verbose(model, ops, options) {
        Ok(checked) => checked,
        Err(e) => panic!("the tester recorded a malformed history: {e}"),
    };
    let name = match result {
        CheckResult::Ok => "ok",
        CheckResult::Illegal => "illegal",
        CheckResult::Unknown => "unknown",
    };
    sim::report("check", name);
    (result, info)
}

/// The reference's final check: `ops` must be linearizable under `model`.
///
/// * Illegal: writes the HTML visualization to a temporary file, prints
///   `info: wrote history visualization to <path>` and fails the test.
/// * Unknown (budget exhausted): prints the reference's info line and
///   passes, as the reference does — unless `LAB_STRICT_CHECK=1`, where
///   it fails, naming the history's size and how to raise the budget.
///
/// # Panics
/// If the history is not linearizable, is malformed, or (strict) the
/// check ran out of budget.
pub fn check_linearizable<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>]) {
    let (result, info) = verdict(model, ops);
    match result {
        CheckResult::Ok => {}
        CheckResult::Illegal => {
            match visualize_temp(model, &info) {
                Ok(path) => println!("info: wrote history visualization to {}", path.display()),
                Err(e) => println!("info: failed to write history visualization: {e}"),
            }
            panic!("history is not linearizable");
        }
        CheckResult::Unknown => {
            println!("info: linearizability check timed out, assuming history is ok");
            if strict_check() {
                panic!(
                    "{STRICT_CHECK_ENV}=1: the linearizability check of {} operations ran \
                     out of its budget of {} steps (verdict Unknown); raise it with \
                     {CHECK_STEPS_ENV}=<steps> to get a verdict",
                    ops.len(),
                    check_budget()
                );
            }
        }
    }
}

/// True if `LAB_STRICT_CHECK=1`: an `Unknown` verdict fails the test.
pub fn strict_check() -> bool {
    std::env::var(STRICT_CHECK_ENV).is_ok_and(|v| v == "1")
}

/// The checker's step budget: `LAB_CHECK_STEPS` if set to a number, else
/// [`DEFAULT_MAX_STEPS`] (about one second of checking, the reference's
/// Porcupine timeout).
pub fn check_budget() -> u64 {
    std::env::var(CHECK_STEPS_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_MAX_STEPS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(ops: &[(usize, KvInput, &str, u64, u64)]) -> KvHistory {
        let h = KvHistory::new();
        for (client, input, output, call, ret) in ops {
            h.lock().ops.push(Operation::new(
                *client,
                input.clone(),
                *call,
                KvOutput::new(*output),
                *ret,
            ));
        }
        h
    }

    #[test]
    fn a_linearizable_history_passes() {
        history(&[
            (0, KvInput::put("k", "x"), "", 0, 10),
            (1, KvInput::append("k", "y"), "", 20, 40),
            // Concurrent with the append: may see it or not.
            (2, KvInput::get("k"), "xy", 25, 30),
            (0, KvInput::append_return("k", "z"), "xy", 50, 60),
        ])
        .check();
    }

    #[test]
    #[should_panic(expected = "history is not linearizable")]
    fn a_stale_read_fails() {
        history(&[
            (0, KvInput::put("k", "x"), "", 0, 10),
            (1, KvInput::append("k", "y"), "", 20, 30),
            // Starts after the append returned, yet misses it.
            (2, KvInput::get("k"), "x", 40, 50),
        ])
        .check();
    }

    /// The stale read after a client's own write, through the recording
    /// path: Put(k, "a") over [0, 10 ms], then the same client's Get(k)
    /// over [10, 14 ms] returns "". Stamped with plain virtual time the two
    /// operations touch at 10 ms and look concurrent (Ok); the recorder's
    /// stamps keep the return before the next call, so the check sees
    /// Illegal.
    #[test]
    fn a_stale_read_after_own_write_is_illegal_through_the_recorder() {
        use std::time::Duration;
        let (plain, recorded) = sim::Sim::new().seed(1).run(|| async {
            let h = KvHistory::new();
            let call = h.call();
            tokio::time::sleep(Duration::from_millis(10)).await;
            h.record_kv(0, KvInput::put("k", "a"), "", call);
            let call = h.call();
            tokio::time::sleep(Duration::from_millis(4)).await;
            h.record_kv(0, KvInput::get("k"), "", call);

            let ops = h.operations();
            assert!(ops[0].return_time < ops[1].call, "{ops:?}");
            // The same history with whole virtual-time stamps.
            let ms = 1_000_000;
            let plain = history(&[
                (0, KvInput::put("k", "a"), "", 0, 10 * ms),
                (0, KvInput::get("k"), "", 10 * ms, 14 * ms),
            ]);
            (plain.verdict(&KvModel).0, h.verdict(&KvModel).0)
        });
        assert_eq!(plain, CheckResult::Ok, "the old stamps hid the stale read");
        assert_eq!(recorded, CheckResult::Illegal);
    }

    #[test]
    fn stamps_strictly_increase_across_clients_at_one_instant() {
        sim::Sim::new().seed(2).run(|| async {
            let h = KvHistory::new();
            let a = h.call();
            let b = h.call();
            h.record_kv(1, KvInput::get("k"), "", b);
            h.record_kv(0, KvInput::get("k"), "", a);
            let ops = h.operations();
            let stamps = [a, b, ops[0].return_time, ops[1].return_time];
            assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
            // Still virtual time, give or take the few nanoseconds added.
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            assert_eq!(h.call(), 3_000_000);
        });
    }
}
