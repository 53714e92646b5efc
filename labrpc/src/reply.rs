//! The one reply convention of every service in the labs.
//!
//! A service RPC replies `Result<T, ServiceError<R>>` (alias [`Reply`]):
//! `Ok` carries the answer, `Err` says why the server did not carry the
//! request out, and [`ServiceError::retry`] says what a clerk does next.
//! kvsrv, kvraft, shardctrler and shardkv all answer this way, and the
//! replicated state machine (`rsm`) reports an op that was not applied with
//! the same type, so a server forwards it unchanged.
//!
//! `R` is the service's own reason for a final refusal (kvsrv's bad
//! sequence numbers, the controller's bad Join); services that never refuse
//! use the default, [`Never`], which has no values.
//!
//! On the wire a reply costs one byte more than its answer (the `Result`
//! tag) and an error variant without data costs one byte, as the
//! reference's `Err` strings would cost at least that much.

use serde::{Deserialize, Serialize};

/// A reply: the answer, or why there is none. See the [module](self) docs.
pub type Reply<T, R = Never> = Result<T, ServiceError<R>>;

/// Why a server did not carry out a request. `R`: the service's reasons
/// for a final refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ServiceError<R = Never> {
    /// This server is not the leader of its group, or lost leadership
    /// before the request was applied.
    #[error("wrong leader")]
    WrongLeader,
    /// This group does not serve the key's shard in the configuration it
    /// has applied.
    #[error("wrong group")]
    WrongGroup,
    /// The server lags behind the request (it has not yet reached the
    /// configuration the request names).
    #[error("not ready")]
    NotReady,
    /// The server gave up waiting for its group to agree (a leader cut off
    /// from its majority keeps believing it leads).
    #[error("timed out waiting for agreement")]
    Timeout,
    /// The server has been killed.
    #[error("server killed")]
    Killed,
    /// The request was refused for a reason retrying cannot change.
    #[error("rejected: {0}")]
    Rejected(R),
}

/// What a clerk does after a [`ServiceError`]: the clerks' one retry rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Ask the same server again after a pause.
    SameServer,
    /// Try the next server of the group.
    NextServer,
    /// Ask the controller for a newer configuration, then retry.
    RefreshConfig,
    /// Give up: report the error to the caller.
    Never,
}

impl<R> ServiceError<R> {
    /// What a clerk does next.
    pub fn retry(&self) -> Retry {
        match self {
            ServiceError::WrongLeader | ServiceError::Timeout | ServiceError::Killed => {
                Retry::NextServer
            }
            ServiceError::WrongGroup => Retry::RefreshConfig,
            ServiceError::NotReady => Retry::SameServer,
            ServiceError::Rejected(_) => Retry::Never,
        }
    }
}

impl ServiceError<Never> {
    /// The same error as a `ServiceError<R>`: one that cannot be
    /// `Rejected` fits any service's reply.
    pub fn widen<R>(self) -> ServiceError<R> {
        match self {
            ServiceError::WrongLeader => ServiceError::WrongLeader,
            ServiceError::WrongGroup => ServiceError::WrongGroup,
            ServiceError::NotReady => ServiceError::NotReady,
            ServiceError::Timeout => ServiceError::Timeout,
            ServiceError::Killed => ServiceError::Killed,
            ServiceError::Rejected(never) => match never {},
        }
    }
}

/// The refusal reason of a service that never refuses: no value exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Never {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_cost_one_byte_and_replies_one_more_than_their_answer() {
        let wrong: Reply<String> = Err(ServiceError::WrongLeader);
        assert_eq!(crate::to_bytes(&wrong).len(), 2);
        let answer: Reply<String> = Ok("abc".into());
        assert_eq!(
            crate::to_bytes(&answer).len(),
            crate::to_bytes("abc").len() + 1
        );
        let rejected: Reply<(), u8> = Err(ServiceError::Rejected(7));
        let back: Reply<(), u8> = crate::decode(&crate::to_bytes(&rejected)).unwrap();
        assert_eq!(back, rejected);
    }

    #[test]
    fn retry_rules() {
        assert_eq!(
            ServiceError::<Never>::WrongLeader.retry(),
            Retry::NextServer
        );
        assert_eq!(ServiceError::<Never>::Timeout.retry(), Retry::NextServer);
        assert_eq!(
            ServiceError::<Never>::WrongGroup.retry(),
            Retry::RefreshConfig
        );
        assert_eq!(ServiceError::<Never>::NotReady.retry(), Retry::SameServer);
        assert_eq!(ServiceError::Rejected(1).retry(), Retry::Never);
        assert_eq!(
            ServiceError::<Never>::Killed.widen::<u8>(),
            ServiceError::Killed
        );
    }
}
