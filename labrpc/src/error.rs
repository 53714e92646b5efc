//! The one error type of the simulated network.

use thiserror::Error;

use crate::CodecError;

/// Why an RPC did not produce a reply.
///
/// [`RpcError::Disconnected`] is the only outcome a correct lab solution sees in
/// normal operation: it is what the reference `Call` reports as `false`. Every
/// other variant points at a bug in the caller (wrong method name, mismatched
/// types) or at a network that has already been shut down, and carries enough
/// detail to say which.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RpcError {
    /// The request or its reply was lost, the server is dead, deleted or
    /// unreachable, or the end is disabled. The handler may or may not have run.
    #[error("rpc {method} lost: request or reply dropped, or server unreachable")]
    Disconnected {
        /// The `"Service.Method"` that was called.
        method: String,
    },
    /// The server has no service of that name.
    #[error("rpc {method}: server has no service named {service:?} (registered: {registered})")]
    UnknownService {
        /// The `"Service.Method"` that was called.
        method: String,
        /// The service part of the name.
        service: String,
        /// The services the server does have, comma-separated.
        registered: String,
    },
    /// The service exists but has no such method.
    #[error("rpc {method}: service has no method {name:?} (registered: {registered})")]
    UnknownMethod {
        /// The `"Service.Method"` that was called.
        method: String,
        /// The method part of the name.
        name: String,
        /// The methods the service does have, comma-separated.
        registered: String,
    },
    /// The arguments could not be encoded by the caller.
    #[error("rpc {method}: cannot encode arguments: {reason}")]
    Encode {
        /// The `"Service.Method"` that was called.
        method: String,
        /// What the encoder reported.
        reason: CodecError,
    },
    /// The server could not decode the arguments as the handler's argument type:
    /// caller and handler disagree about the type.
    #[error(
        "rpc {method}: handler cannot decode the arguments (caller and handler types differ?): {reason}"
    )]
    BadArgs {
        /// The `"Service.Method"` that was called.
        method: String,
        /// What the decoder reported.
        reason: CodecError,
    },
    /// The caller could not decode the reply as the reply type it expected.
    #[error(
        "rpc {method}: cannot decode the reply (caller and handler reply types differ?): {reason}"
    )]
    BadReply {
        /// The `"Service.Method"` that was called.
        method: String,
        /// What the decoder reported.
        reason: CodecError,
    },
    /// The handler panicked; the panic is also reported by the simulation.
    #[error("rpc {method}: the handler panicked")]
    HandlerPanicked {
        /// The `"Service.Method"` that was called.
        method: String,
    },
    /// The network was cleaned up or dropped before the call.
    #[error("rpc {method}: the network has been shut down")]
    NetworkClosed {
        /// The `"Service.Method"` that was called.
        method: String,
    },
}

impl RpcError {
    /// True for the ordinary "no reply" outcome that a lab must tolerate and
    /// retry; false for errors that reveal a bug or a closed network.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, RpcError::Disconnected { .. })
    }
}
