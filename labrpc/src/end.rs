//! Client ends: the caller's side of an RPC.

use std::sync::Arc;
use std::time::Duration;

use crate::codec;
use crate::error::RpcError;
use crate::network::{self, Admission, Inner, Route};
use crate::rng;
use crate::rpc::Rpc;

/// One client's connection to one server, as the reference `ClientEnd`.
///
/// Cheap to clone; concurrent calls on one end are allowed and may be
/// reordered. A call always returns: with the reply, or with an error no later
/// than the fault model's timeouts — callers need no timeouts of their own.
#[derive(Clone)]
pub struct ClientEnd {
    name: Arc<str>,
    net: Arc<Inner>,
}

impl std::fmt::Debug for ClientEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ClientEnd").field(&self.name).finish()
    }
}

impl ClientEnd {
    pub(crate) fn new(name: String, net: Arc<Inner>) -> ClientEnd {
        ClientEnd {
            name: name.into(),
            net,
        }
    }

    /// The end's name in the network.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls RPC `R` with `args` and waits for the reply.
    ///
    /// `Err(RpcError::Disconnected)` is the reference's `false`: the request
    /// or reply was lost or the server is unreachable; the handler may have
    /// run. Other errors report bugs (unknown method, mismatched types) or a
    /// closed network.
    pub async fn call<R: Rpc>(&self, args: &R::Args) -> Result<R::Reply, RpcError> {
        let request = codec::encode(args).map_err(|reason| RpcError::Encode {
            method: R::METHOD.to_string(),
            reason,
        })?;
        let reply = self.call_bytes(R::METHOD, request).await?;
        codec::decode(&reply).map_err(|reason| RpcError::BadReply {
            method: R::METHOD.to_string(),
            reason,
        })
    }

    /// Calls `method` with already-encoded arguments; returns the encoded
    /// reply. Prefer [`ClientEnd::call`], which checks types.
    pub async fn call_bytes(&self, method: &str, request: Vec<u8>) -> Result<Vec<u8>, RpcError> {
        let result = self.deliver(method, request).await;
        let outcome = match &result {
            Ok(reply) => format!("ok {}B", reply.len()),
            Err(RpcError::Disconnected { .. }) => "lost".to_string(),
            Err(e) => format!("error: {e}"),
        };
        tracing::debug!(end = %self.name, method, %outcome, "rpc");
        crate::sim::digest_rpc(&self.name, method, &outcome);
        self.net.record(|| {
            format!(
                "{:?} {} {} {}",
                crate::sim::elapsed(),
                self.name,
                method,
                outcome
            )
        });
        result
    }

    async fn deliver(&self, method: &str, request: Vec<u8>) -> Result<Vec<u8>, RpcError> {
        let lost = || RpcError::Disconnected {
            method: method.to_string(),
        };
        if self.net.is_closed() {
            return Err(RpcError::NetworkClosed {
                method: method.to_string(),
            });
        }
        let route = match self.net.admit(&self.name, request.len()) {
            Admission::Deliver(route) => route,
            Admission::Unreachable { long_delays } => {
                let max = if long_delays {
                    network::LONG_TIMEOUT_MAX
                } else {
                    network::SHORT_TIMEOUT_MAX
                };
                sleep(network::millis_below(max)).await;
                return Err(lost());
            }
        };

        // The request's trip.
        let mut delay = network::latency(route.latency);
        if !route.reliable {
            delay += network::millis_below(network::UNRELIABLE_EXTRA_DELAY);
        }
        sleep(delay).await;
        if !route.reliable && rng::range(0..100) < network::UNRELIABLE_DROP_PERCENT {
            return Err(lost());
        }
        // Delivered even if the end was disabled or the server deleted
        // during the trip, as the reference decides delivery at send time;
        // only the reply is then lost (`wait_for_handler`).

        let handler = route.server.dispatch(method, request)?;
        let reply = self
            .wait_for_handler(&route, handler)
            .await
            .ok_or_else(lost)?;
        let reply = match reply {
            Ok(reply) => reply,
            Err(join) if join.is_panic() => {
                return Err(RpcError::HandlerPanicked {
                    method: method.to_string(),
                });
            }
            Err(_) => return Err(lost()),
        }?;

        // The reply's trip.
        if !route.reliable && rng::range(0..100) < network::UNRELIABLE_DROP_PERCENT {
            return Err(lost());
        }
        let mut delay = network::latency(route.latency);
        if route.long_reordering && rng::range(0..900) < network::LONG_REORDER_PERCENT_OF_900 {
            let spread = rng::range(0..=network::LONG_REORDER_SPREAD);
            delay += network::LONG_REORDER_BASE + Duration::from_millis(rng::range(0..=spread));
        }
        sleep(delay).await;
        self.net.count_reply(reply.len());
        Ok(reply)
    }

    /// Runs the handler in its own task and waits for it, giving up as soon
    /// as the end is disabled or the server deleted or replaced. `None` means
    /// the server died: its reply, if any, must not be delivered.
    async fn wait_for_handler(
        &self,
        route: &Route,
        handler: futures::future::BoxFuture<'static, Result<Vec<u8>, RpcError>>,
    ) -> Option<Result<Result<Vec<u8>, RpcError>, tokio::task::JoinError>> {
        let mut task = tokio::spawn(handler);
        let result = loop {
            // Created before the check, so a change in between is not missed.
            let changed = self.net.changed();
            if !self.net.still_alive(&self.name, route) {
                // The handler runs on, as a real server's would; only its
                // reply is lost.
                return None;
            }
            tokio::select! {
                biased;
                result = &mut task => break result,
                () = changed => {}
            }
        };
        self.net.still_alive(&self.name, route).then_some(result)
    }
}

async fn sleep(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}
