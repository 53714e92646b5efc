//! The client library: finds the leader and retries until an operation is done.

use std::time::Duration;

use labrpc::{ClientEnd, Reply, Rpc};

use crate::messages::{Append, Get, GetArgs, Put, PutAppendArgs};

/// Pause after every server in turn has failed, e.g. during an election.
const ROUND_BACKOFF: Duration = Duration::from_millis(20);

/// A client of the replicated key/value service. One operation at a time.
pub struct Clerk {
    servers: Vec<ClientEnd>,
    /// The server that last answered as leader: tried first.
    leader: usize,
    client_id: u64,
    /// Sequence number of the last request; retries of a request reuse it.
    seq: u64,
}

impl Clerk {
    /// A clerk that reaches the replicas through `servers` (in any order).
    pub fn new(servers: Vec<ClientEnd>) -> Clerk {
        Clerk {
            servers,
            leader: 0,
            client_id: labrpc::rng::u64(),
            seq: 0,
        }
    }

    /// The current value of `key`, or "" if it does not exist. Retries forever.
    pub async fn get(&mut self, key: &str) -> String {
        self.seq += 1;
        let args = GetArgs {
            key: key.to_string(),
            client_id: self.client_id,
            seq: self.seq,
        };
        self.call::<Get, _>(&args).await
    }

    /// Sets `key` to `value`.
    pub async fn put(&mut self, key: &str, value: &str) {
        self.write::<Put>(key, value).await
    }

    /// Appends `value` to `key`'s value.
    pub async fn append(&mut self, key: &str, value: &str) {
        self.write::<Append>(key, value).await
    }

    async fn write<R: Rpc<Args = PutAppendArgs, Reply = Reply<()>>>(
        &mut self,
        key: &str,
        value: &str,
    ) {
        self.seq += 1;
        let args = PutAppendArgs {
            key: key.to_string(),
            value: value.to_string(),
            client_id: self.client_id,
            seq: self.seq,
        };
        self.call::<R, _>(&args).await
    }

    /// Tries servers, starting with the last leader, until one carries the
    /// request out. Every refusal of this service (wrong leader, timeout,
    /// killed) says "try the next server" ([`labrpc::ServiceError::retry`]).
    async fn call<R: Rpc<Reply = Reply<T>>, T>(&mut self, args: &R::Args) -> T {
        // SOLUTION BEGIN 4A: try servers from the last leader on until one accepts
        let mut failures = 0;
        loop {
            match self.servers[self.leader].call::<R>(args).await {
                Ok(Ok(out)) => return out,
                Ok(Err(e)) if e.retry() != labrpc::Retry::NextServer => {
                    tracing::error!(client = self.client_id, "unexpected reply: {e}");
                }
                Ok(Err(_)) => {}
                Err(e) if !e.is_disconnected() => {
                    tracing::error!(client = self.client_id, "{e}");
                }
                Err(_) => {}
            }
            self.leader = (self.leader + 1) % self.servers.len();
            failures += 1;
            if failures % self.servers.len() == 0 {
                tokio::time::sleep(ROUND_BACKOFF).await;
            }
        }
        // SOLUTION END
    }
}
