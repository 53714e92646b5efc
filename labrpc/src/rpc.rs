//! Typed RPC declarations.
//!
//! An RPC is declared once, as a type that names the method and both message
//! types; callers and handlers both refer to that type, so a mismatch between
//! what is sent and what is expected is a compile error, not a runtime hang:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! #[derive(Serialize, Deserialize)]
//! pub struct EchoArgs { pub text: String }
//! labrpc::rpc!(
//!     /// Echoes its argument.
//!     pub Echo = "Echo.Say": EchoArgs => String
//! );
//! ```

use serde::{Serialize, de::DeserializeOwned};

/// One RPC method: its `"Service.Method"` name and its argument and reply types.
/// Declare implementations with [`rpc!`](crate::rpc!).
pub trait Rpc: 'static {
    /// `"Service.Method"`, as in the reference (`"Raft.RequestVote"`).
    const METHOD: &'static str;
    /// The argument type.
    type Args: Serialize + DeserializeOwned + Send + 'static;
    /// The reply type.
    type Reply: Serialize + DeserializeOwned + Send + 'static;
}

/// Declares a typed RPC: `rpc!(pub Name = "Service.Method": Args => Reply);`.
///
/// Expands to a unit struct `Name` implementing [`Rpc`]. Use it with
/// [`ClientEnd::call`](crate::ClientEnd::call) and
/// [`Service::handle`](crate::Service::handle).
#[macro_export]
macro_rules! rpc {
    ($(#[$meta:meta])* $vis:vis $name:ident = $method:literal : $args:ty => $reply:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::Rpc for $name {
            const METHOD: &'static str = $method;
            type Args = $args;
            type Reply = $reply;
        }
    };
}

/// Splits `"Service.Method"` into its two parts.
pub(crate) fn split_method(method: &str) -> Option<(&str, &str)> {
    method.split_once('.')
}
