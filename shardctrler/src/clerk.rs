//! The controller's client library.

use std::collections::BTreeMap;
use std::time::Duration;

use labrpc::{ClientEnd, Rpc};

use crate::config::{Config, Gid};
use crate::messages::{
    ChangeReply, CtrlerError, Join, JoinArgs, Leave, LeaveArgs, Move, MoveArgs, Query, QueryArgs,
    RequestId, Status,
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
        self.call::<Query, _>(&args, |r| {
            (r.status == Status::Ok).then(|| r.config.clone())
        })
        .await
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
    async fn change<R: Rpc<Reply = ChangeReply>>(
        &mut self,
        args: &R::Args,
    ) -> Result<(), CtrlerError> {
        self.call::<R, _>(args, |r| match r.status {
            Status::Ok => Some(Ok(())),
            Status::Rejected(e) => Some(Err(e)),
            Status::WrongLeader => None,
        })
        .await
    }

    async fn call<R: Rpc, T>(
        &mut self,
        args: &R::Args,
        done: impl Fn(&R::Reply) -> Option<T>,
    ) -> T {
        let mut failures = 0;
        loop {
            match self.servers[self.leader].call::<R>(args).await {
                Ok(reply) => {
                    if let Some(out) = done(&reply) {
                        return out;
                    }
                }
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
