//! The controller's client library.

use std::collections::BTreeMap;
use std::time::Duration;

use labrpc::{ClientEnd, Reply, Retry, Rpc, ServiceError};

use crate::config::{Config, Gid};
use crate::messages::{
    CtrlerError, Join, JoinArgs, Leave, LeaveArgs, Move, MoveArgs, Query, QueryArgs, RequestId,
};

/// Pause after every controller has been tried, as the reference clerk does.
pub const ROUND_BACKOFF: Duration = Duration::from_millis(100);

/// A client of the shard controller. One request at a time.
pub struct Clerk {
    servers: Vec<ClientEnd>,
    /// The controller that last answered as leader: tried first.
    leader: usize,
    client_id: u64,
    seq: u64,
}

impl Clerk {
    /// A clerk that reaches the controllers through `servers`.
    pub fn new(servers: Vec<ClientEnd>) -> Clerk {
        Clerk {
            servers,
            leader: 0,
            client_id: labrpc::rng::u64(),
            seq: 0,
        }
    }

    /// Configuration `num` (-1: the latest).
    pub async fn query(&mut self, num: i64) -> Config {
        let args = QueryArgs { num };
        match self.call::<Query, _, _>(&args).await {
            Ok(config) => config,
            Err(never) => match never {},
        }
    }

    /// Adds groups. Retries until a controller leader answers.
    ///
    /// # Errors
    /// [`CtrlerError::JoinGidZero`], [`CtrlerError::DuplicateGid`] or
    /// [`CtrlerError::EmptyGroup`]: the controller refused the Join and
    /// nothing changed.
    pub async fn join(&mut self, servers: BTreeMap<Gid, Vec<String>>) -> Result<(), CtrlerError> {
        let id = self.next_id();
        self.change::<Join>(&JoinArgs { servers, id }).await
    }

    /// Removes groups. Retries until a controller leader answers.
    ///
    /// # Errors
    /// [`CtrlerError::UnknownGid`]: a group is not in the configuration;
    /// the controller refused the Leave and nothing changed.
    pub async fn leave(&mut self, gids: Vec<Gid>) -> Result<(), CtrlerError> {
        let id = self.next_id();
        self.change::<Leave>(&LeaveArgs { gids, id }).await
    }

    /// Assigns `shard` to `gid`. Retries until a controller leader answers.
    ///
    /// # Errors
    /// [`CtrlerError::ShardOutOfRange`] or [`CtrlerError::UnknownGid`]: the
    /// controller refused the Move and nothing changed.
    pub async fn move_shard(&mut self, shard: usize, gid: Gid) -> Result<(), CtrlerError> {
        let id = self.next_id();
        self.change::<Move>(&MoveArgs { shard, gid, id }).await
    }

    fn next_id(&mut self) -> RequestId {
        self.seq += 1;
        RequestId {
            client_id: self.client_id,
            seq: self.seq,
        }
    }

    /// Sends a change until a leader answers; a refusal is final, not retried.
    async fn change<R: Rpc<Reply = Reply<(), CtrlerError>>>(
        &mut self,
        args: &R::Args,
    ) -> Result<(), CtrlerError> {
        self.call::<R, _, _>(args).await
    }

    /// Tries controllers, from the last leader on, until one answers or
    /// refuses for good; a refusal's reason is returned. What to do after
    /// any other error is [`ServiceError::retry`]'s to say.
    async fn call<R, T, E>(&mut self, args: &R::Args) -> Result<T, E>
    where
        R: Rpc<Reply = Reply<T, E>>,
        E: std::fmt::Debug,
    {
        let mut failures = 0;
        loop {
            match self.servers[self.leader].call::<R>(args).await {
                Ok(Ok(out)) => return Ok(out),
                Ok(Err(ServiceError::Rejected(reason))) => return Err(reason),
                Ok(Err(e)) if e.retry() != Retry::NextServer => {
                    tracing::error!(client = self.client_id, "unexpected reply: {e:?}");
                }
                Ok(Err(_)) => {}
                Err(e) if !e.is_disconnected() => tracing::error!(client = self.client_id, "{e}"),
                Err(_) => {}
            }
            self.leader = (self.leader + 1) % self.servers.len();
            failures += 1;
            if failures % self.servers.len() == 0 {
                tokio::time::sleep(ROUND_BACKOFF).await;
            }
        }
    }
}
