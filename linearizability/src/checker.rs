//! The public checking functions, the verdict and the deterministic budget.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::info::ModelInfo;
use crate::search::{Search, Status};
use crate::{Error, LinearizationInfo, Model, Operation, validate_history};

/// The verdict on a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CheckResult {
    /// Linearizable: an order was found.
    Ok,
    /// Not linearizable: the search proved that no order exists. Never given
    /// for a linearizable history, whatever the budget.
    Illegal,
    /// The budget ran out before the search could decide.
    Unknown,
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckResult::Ok => "Ok",
            CheckResult::Illegal => "Illegal",
            CheckResult::Unknown => "Unknown",
        })
    }
}

/// The default budget, in search steps: about one second of work, the
/// counterpart of the reference testers' 1-s Porcupine timeout.
///
/// Measured with `cargo bench -p linearizability` (release build) on the
/// development machine (2 cores shared with other builds, load average 3–6):
/// exhausting it took 0.7–1.1 s on a key whose values grow to 14 kB and
/// 1.5–2.8 s on short values (every order of 12 concurrent appends); an idle
/// machine is faster. Histories of 10,000 key/value operations from our
/// generators need 13,000–2,200,000 steps, so the budget leaves room.
pub const DEFAULT_MAX_STEPS: u64 = 5_000_000;

/// How partitions share the budget: each running partition gets this many
/// steps in turn, round-robin in partition order. It plays the part of
/// Porcupine's parallel goroutines (a partition that fails quickly is found
/// even when another would exhaust the budget), deterministically.
const SLICE: u64 = 4096;

/// Options of a check.
///
/// **Why a step budget and not a timeout.** Porcupine stops after a
/// wall-clock timeout. Our checker runs inside deterministic simulated tests,
/// where the same seed must give the same outcome on any machine and under
/// any load; a wall-clock limit would let a slow machine turn `Ok` into
/// `Unknown`. So the limit is a number of search steps: the same history with
/// the same options always gives the same verdict. Like the timeout, running
/// out gives `Unknown`, never `Illegal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// Maximum number of search steps over all partitions; `None` for no
    /// limit. A step is one move of the depth-first search (stepping the
    /// model for one operation, or undoing one choice), plus one per 128
    /// bytes of any configuration it stores in the memo cache (the set of
    /// linearized operations and [`crate::Model::state_size`]). The
    /// surcharge keeps the budget close to both time and memory when states
    /// are long, e.g. a key's value after thousands of appends. The last
    /// step may overshoot the limit by its surcharge.
    pub max_steps: Option<u64>,
}

impl CheckOptions {
    /// No budget: the check runs until it decides (possibly for a very long
    /// time on a pathological history).
    pub const UNLIMITED: CheckOptions = CheckOptions { max_steps: None };

    /// A budget of `max_steps` search steps.
    pub fn with_max_steps(max_steps: u64) -> CheckOptions {
        CheckOptions {
            max_steps: Some(max_steps),
        }
    }
}

impl Default for CheckOptions {
    /// [`DEFAULT_MAX_STEPS`], the "about one second" budget.
    fn default() -> Self {
        CheckOptions::with_max_steps(DEFAULT_MAX_STEPS)
    }
}

/// Whether `history` is linearizable, with no budget (Porcupine's
/// `CheckOperations`).
///
/// # Panics
/// If the history is malformed (an operation returns before it is called)
/// or the model's partition is invalid; use [`check_operations_budget`] to
/// get those as errors.
pub fn check_operations<M: Model>(model: &M, history: &[Operation<M::Input, M::Output>]) -> bool {
    match check_operations_budget(model, history, CheckOptions::UNLIMITED) {
        Ok(result) => result == CheckResult::Ok,
        Err(e) => panic!("check_operations: {e}"),
    }
}

/// Checks `history` within the budget in `options`. Stops at the first
/// partition found illegal.
pub fn check_operations_budget<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    options: CheckOptions,
) -> Result<CheckResult, Error> {
    let parts = partitions(model, history)?;
    let (result, _, _) = run(model, history, &parts, options, false);
    Ok(result)
}

/// Checks `history` within the budget and records, per partition, the
/// longest partial linearizations for [`crate::visualize`] (Porcupine's
/// `CheckOperationsVerbose`). Every partition is searched to the end or
/// until the budget runs out, even after one is found illegal.
pub fn check_operations_verbose<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    options: CheckOptions,
) -> Result<(CheckResult, ModelInfo<M>), Error> {
    let parts = partitions(model, history)?;
    let (result, steps, infos) = run(model, history, &parts, options, true);
    let names = parts
        .iter()
        .map(|p| model.describe_partition(history, p))
        .collect();
    let info = LinearizationInfo::new(history.to_vec(), result, steps, infos, names);
    Ok((result, info))
}

/// Validates the history and the model's partition of it.
fn partitions<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
) -> Result<Vec<Vec<usize>>, Error> {
    validate_history(history)?;
    let parts = model.partition(history);
    let mut seen = vec![false; history.len()];
    for &i in parts.iter().flatten() {
        if i >= history.len() {
            return Err(Error::BadPartition(format!(
                "index {i} outside a history of {} operations",
                history.len()
            )));
        }
        if std::mem::replace(&mut seen[i], true) {
            return Err(Error::BadPartition(format!(
                "operation {i} is in two partitions"
            )));
        }
    }
    Ok(parts)
}

/// Runs the partitions' searches round-robin within the budget. Returns the
/// verdict, the steps used and, when `verbose`, each partition's info.
fn run<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    parts: &[Vec<usize>],
    options: CheckOptions,
    verbose: bool,
) -> (CheckResult, u64, Vec<crate::PartitionInfo>) {
    let mut searches: Vec<Search<'_, M>> = parts
        .iter()
        .map(|p| Search::new(model, history, p, verbose))
        .collect();
    let mut remaining = options.max_steps;
    let mut used = 0u64;
    let mut illegal = false;
    loop {
        let mut running = false;
        for s in searches.iter_mut() {
            if s.status() != Status::Running {
                continue;
            }
            let slice = remaining.map_or(SLICE, |r| r.min(SLICE));
            let spent = s.run(slice);
            used += spent;
            if let Some(r) = &mut remaining {
                *r = r.saturating_sub(spent);
            }
            match s.status() {
                Status::Done(false) => illegal = true,
                Status::Running => running = true,
                Status::Done(true) => {}
            }
            if illegal && !verbose {
                // Like Porcupine's kill flag: one illegal partition decides.
                return (CheckResult::Illegal, used, Vec::new());
            }
        }
        if !running || remaining == Some(0) {
            break;
        }
    }
    let unfinished = searches.iter().any(|s| s.status() == Status::Running);
    let result = if illegal {
        CheckResult::Illegal
    } else if unfinished {
        CheckResult::Unknown
    } else {
        CheckResult::Ok
    };
    let infos = if verbose {
        searches.into_iter().map(Search::into_info).collect()
    } else {
        Vec::new()
    };
    (result, used, infos)
}
