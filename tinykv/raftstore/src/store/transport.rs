//! How a store reaches the other stores: [`Transport`], "call this method
//! with these bincode bytes, give me the reply's bytes". The simulation
//! passes labrpc [`ClientEnd`]s (unchanged behaviour: the same bytes, the
//! same calls, no extra task); `tinykv-server --store raft` passes TCP
//! connections. The store never knows which.

use std::future::Future;
use std::pin::Pin;

use labrpc::{ClientEnd, Rpc, RpcError};

/// A reply's bytes, or why there is none.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, RpcError>> + Send + 'static>>;

/// One store's way to another store's `Raftstore` service.
///
/// A lost request, a lost reply, a declined call, a dead or unreachable
/// store are all [`RpcError::Disconnected`] — the raft message is then
/// stepped back as `Unreachable`, and raft retries.
pub trait Transport: Send + Sync {
    /// Calls `method` (`"Raftstore.Append"`, …) with encoded `args`.
    fn call_bytes(&self, method: &'static str, args: Vec<u8>) -> CallFuture;
}

impl dyn Transport {
    /// Calls RPC `R`: the typed reply, or why there is none.
    pub async fn call<R: Rpc>(&self, args: &R::Args) -> Result<R::Reply, RpcError> {
        let request = labrpc::encode(args).map_err(|reason| RpcError::Encode {
            method: R::METHOD.to_string(),
            reason,
        })?;
        let reply = self.call_bytes(R::METHOD, request).await?;
        labrpc::decode(&reply).map_err(|reason| RpcError::BadReply {
            method: R::METHOD.to_string(),
            reason,
        })
    }
}

/// The simulated network: the very call [`ClientEnd::call`] makes.
impl Transport for ClientEnd {
    fn call_bytes(&self, method: &'static str, args: Vec<u8>) -> CallFuture {
        let end = self.clone();
        Box::pin(async move { end.call_bytes(method, args).await })
    }
}
