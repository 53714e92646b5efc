//! A completed client operation, as the checker sees it.

use serde::{Deserialize, Serialize};

use crate::Error;

/// One completed operation: who called it, with what, when, and what came
/// back when.
///
/// Times are nanoseconds of (virtual) time from any fixed origin; only their
/// order matters. `call <= return_time` must hold. Two operations whose
/// intervals merely touch (one's return equals the other's call) are treated
/// as concurrent: a coarse clock can only make the checker more permissive,
/// never report a false violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation<I, O> {
    /// The client that issued it; one row per client in the HTML report.
    pub client_id: usize,
    /// The request, as the model understands it.
    pub input: I,
    /// When the client called it.
    pub call: u64,
    /// What the operation returned.
    pub output: O,
    /// When the result reached the client.
    pub return_time: u64,
}

impl<I, O> Operation<I, O> {
    /// An operation; arguments in the order of the fields.
    pub fn new(client_id: usize, input: I, call: u64, output: O, return_time: u64) -> Self {
        Operation {
            client_id,
            input,
            call,
            output,
            return_time,
        }
    }
}

/// Checks that every operation returns no earlier than it is called.
///
/// The checking functions call this first; it is public so that a tester can
/// reject a bad history before anything else.
pub fn validate_history<I, O>(history: &[Operation<I, O>]) -> Result<(), Error> {
    match history
        .iter()
        .enumerate()
        .find(|(_, op)| op.call > op.return_time)
    {
        Some((index, op)) => Err(Error::ReturnBeforeCall {
            index,
            client_id: op.client_id,
            call: op.call,
            return_time: op.return_time,
        }),
        None => Ok(()),
    }
}
