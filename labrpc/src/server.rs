//! Servers and services: where RPCs are handled.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;

use crate::codec;
use crate::error::RpcError;
use crate::rpc::{Rpc, split_method};

/// Type-erased handler: request bytes in, reply bytes out.
type Handler = Arc<dyn Fn(Vec<u8>) -> BoxFuture<'static, Result<Vec<u8>, RpcError>> + Send + Sync>;

/// A named set of RPC handlers, e.g. the `Raft` service of one peer.
pub struct Service {
    name: String,
    methods: BTreeMap<String, Handler>,
}

impl Service {
    /// An empty service; `name` is the part before the dot in method names.
    pub fn new(name: impl Into<String>) -> Service {
        Service {
            name: name.into(),
            methods: BTreeMap::new(),
        }
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Registers the handler of RPC `R`.
    ///
    /// The handler receives decoded arguments and returns the reply; the
    /// network encodes and decodes, so handler and caller share no memory.
    ///
    /// # Panics
    /// If `R::METHOD` does not belong to this service (`"Raft.X"` on a service
    /// named `"KV"`): a wiring mistake, caught when the server is built.
    pub fn handle<R, F, Fut>(self, handler: F) -> Service
    where
        R: Rpc,
        F: Fn(R::Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R::Reply> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.handle_or_decline::<R, _, _>(move |args| {
            let reply = handler(args);
            async move { Some(reply.await) }
        })
    }

    /// Registers a handler of RPC `R` that may decline to reply (`None`),
    /// as a crashed server sends nothing: the caller's call ends
    /// `Disconnected`, exactly as if the reply had been lost, and no reply
    /// bytes cross the network.
    ///
    /// # Panics
    /// As [`Service::handle`].
    pub fn handle_or_decline<R, F, Fut>(mut self, handler: F) -> Service
    where
        R: Rpc,
        F: Fn(R::Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<R::Reply>> + Send + 'static,
    {
        let (service, method) = match split_method(R::METHOD) {
            Some(parts) => parts,
            None => panic!("rpc name {:?} is not \"Service.Method\"", R::METHOD),
        };
        assert_eq!(
            service,
            self.name,
            "rpc {} registered on service {:?}",
            R::METHOD,
            self.name
        );
        let handler = Arc::new(handler);
        let erased: Handler = Arc::new(move |bytes: Vec<u8>| {
            let handler = handler.clone();
            Box::pin(async move {
                let args: R::Args = codec::decode(&bytes).map_err(|reason| RpcError::BadArgs {
                    method: R::METHOD.to_string(),
                    reason,
                })?;
                let Some(reply) = handler(args).await else {
                    return Err(RpcError::Disconnected {
                        method: R::METHOD.to_string(),
                    });
                };
                codec::encode(&reply).map_err(|reason| RpcError::Encode {
                    method: R::METHOD.to_string(),
                    reason,
                })
            })
        });
        self.methods.insert(method.to_string(), erased);
        self
    }
}

impl Service {
    /// The names of its methods (without the service's), in order.
    pub fn methods(&self) -> impl Iterator<Item = &str> {
        self.methods.keys().map(String::as_str)
    }

    /// Runs the handler of `method` (`"Service.Method"`) on encoded
    /// arguments: the future of the encoded reply (a declined call is
    /// [`RpcError::Disconnected`]), or `None` for a method this service does
    /// not have. For serving a service over another transport (TinyKV's
    /// TCP server); the simulated network dispatches through [`Server`].
    pub fn call(
        &self,
        method: &str,
        args: Vec<u8>,
    ) -> Option<BoxFuture<'static, Result<Vec<u8>, RpcError>>> {
        let (service, name) = split_method(method)?;
        if service != self.name {
            return None;
        }
        let handler = self.methods.get(name)?;
        Some(handler(args))
    }
}

/// A simulated server: several services behind one name in the network.
///
/// Cloning gives another handle to the same server. The network tells a
/// server apart from a replacement registered under the same name, which is
/// how a crashed peer's late replies are suppressed.
#[derive(Clone, Default)]
pub struct Server {
    inner: Arc<ServerInner>,
}

#[derive(Default)]
struct ServerInner {
    services: Mutex<BTreeMap<String, Service>>,
    /// RPCs that reached dispatch on this server (the reference `GetCount`).
    count: AtomicU64,
}

impl Server {
    /// A server with no services.
    pub fn new() -> Server {
        Server::default()
    }

    /// Adds (or replaces) a service.
    pub fn add_service(&self, service: Service) {
        let mut services = self
            .inner
            .services
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        services.insert(service.name.clone(), service);
    }

    /// RPCs dispatched to this server so far.
    pub fn count(&self) -> u64 {
        self.inner.count.load(Ordering::Relaxed)
    }

    pub(crate) fn same_as(&self, other: &Server) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Finds the handler for `method` and returns the future that runs it.
    pub(crate) fn dispatch(
        &self,
        method: &str,
        request: Vec<u8>,
    ) -> Result<BoxFuture<'static, Result<Vec<u8>, RpcError>>, RpcError> {
        self.inner.count.fetch_add(1, Ordering::Relaxed);
        let services = self
            .inner
            .services
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (service_name, method_name) = split_method(method).unwrap_or((method, ""));
        let service = services
            .get(service_name)
            .ok_or_else(|| RpcError::UnknownService {
                method: method.to_string(),
                service: service_name.to_string(),
                registered: join(services.keys()),
            })?;
        let handler = service
            .methods
            .get(method_name)
            .ok_or_else(|| RpcError::UnknownMethod {
                method: method.to_string(),
                name: method_name.to_string(),
                registered: join(service.methods.keys()),
            })?;
        Ok(handler(request))
    }
}

fn join<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
