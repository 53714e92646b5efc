//! The client library: route each key to the group that serves its shard.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use labrpc::{ClientEnd, Rpc};
use shardctrler::Config;

use crate::MakeEnd;
use crate::messages::{ClientOp, ClientOpKind, ClientReply, Get, PutAppend};

/// Pause before refreshing the configuration, as the reference clerk does.
pub const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Ends to servers by name, made once with the tester's `make_end`.
#[derive(Clone)]
pub(crate) struct Ends {
    make_end: MakeEnd,
    cache: Arc<Mutex<BTreeMap<String, ClientEnd>>>,
}

impl Ends {
    pub(crate) fn new(make_end: MakeEnd) -> Ends {
        Ends {
            make_end,
            cache: Arc::default(),
        }
    }

    pub(crate) fn get(&self, name: &str) -> ClientEnd {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(name.to_string())
            .or_insert_with(|| (self.make_end)(name))
            .clone()
    }
}

/// A client of the sharded store. One operation at a time.
pub struct Clerk {
    ctrler: shardctrler::Clerk,
    config: Config,
    ends: Ends,
    client_id: u64,
    seq: u64,
}

impl Clerk {
    /// A clerk that asks `ctrlers` for configurations and reaches group
    /// servers through `make_end`.
    pub fn new(ctrlers: Vec<ClientEnd>, make_end: MakeEnd) -> Clerk {
        Clerk {
            ctrler: shardctrler::Clerk::new(ctrlers),
            config: Config::default(),
            ends: Ends::new(make_end),
            client_id: labrpc::rng::u64(),
            seq: 0,
        }
    }

    /// The value of `key` ("" if missing). Retries forever.
    pub async fn get(&mut self, key: &str) -> String {
        self.request::<Get>(key, ClientOpKind::Get).await
    }

    /// Sets `key` to `value`.
    pub async fn put(&mut self, key: &str, value: &str) {
        self.request::<PutAppend>(key, ClientOpKind::Put(value.to_string()))
            .await;
    }

    /// Appends `value` to `key`.
    pub async fn append(&mut self, key: &str, value: &str) {
        self.request::<PutAppend>(key, ClientOpKind::Append(value.to_string()))
            .await;
    }

    async fn request<R: Rpc<Args = ClientOp, Reply = ClientReply>>(
        &mut self,
        key: &str,
        kind: ClientOpKind,
    ) -> String {
        self.seq += 1;
        let op = ClientOp {
            key: key.to_string(),
            kind,
            client_id: self.client_id,
            seq: self.seq,
        };
        let shard = crate::key2shard(key);
        loop {
            if self.config.num == 0 {
                // No configuration yet: ask before trying anyone.
                self.config = self.ctrler.query(-1).await;
            }
            let gid = self.config.shards[shard];
            if let Some(servers) = self.config.groups.get(&gid).cloned() {
                for name in &servers {
                    match self.ends.get(name).call::<R>(&op).await {
                        Ok(Ok(value)) => return value,
                        Ok(Err(e)) if e.retry() == labrpc::Retry::RefreshConfig => break,
                        Ok(Err(e)) if e.retry() != labrpc::Retry::NextServer => {
                            tracing::error!(client = self.client_id, "unexpected reply: {e}")
                        }
                        Ok(Err(_)) => {}
                        Err(e) if !e.is_disconnected() => {
                            tracing::error!(client = self.client_id, "{e}")
                        }
                        Err(_) => {}
                    }
                }
            }
            tokio::time::sleep(RETRY_PAUSE).await;
            self.config = self.ctrler.query(-1).await;
        }
    }
}
