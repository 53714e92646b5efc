//! The client library: one operation at a time, retried until it succeeds.

use labrpc::{ClientEnd, Reply, Rpc};

use crate::messages::{Append, ClientId, Get, GetArgs, Put, PutAppendArgs};
use crate::{Error, Rejection};

/// A client of the key/value server.
///
/// Methods take `&mut self`: a clerk has at most one call outstanding, which
/// is what lets the server keep only each clerk's last write.
#[derive(Debug)]
pub struct Clerk {
    end: ClientEnd,
    id: ClientId,
    /// Sequence number of the current (or last) operation; a retry reuses
    /// it, the next operation increments it.
    seq: u64,
}

impl Clerk {
    /// A clerk that talks to the server through `end`, with a random id.
    pub fn new(end: ClientEnd) -> Clerk {
        Clerk {
            end,
            id: labrpc::rng::u64(),
            seq: 0,
        }
    }

    /// This clerk's id, as the server sees it.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// The value of `key`, or "" if it was never written. Retries until the
    /// server answers.
    ///
    /// # Panics
    /// On an error that retrying cannot fix (see [`Clerk::try_get`]).
    pub async fn get(&mut self, key: impl Into<String>) -> String {
        self.try_get(key).await.unwrap_or_else(fail)
    }

    /// Sets `key` to `value`, exactly once. Retries until the server answers.
    ///
    /// # Panics
    /// On an error that retrying cannot fix (see [`Clerk::try_put`]).
    pub async fn put(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.try_put(key, value).await.unwrap_or_else(fail)
    }

    /// Appends `value` to `key`'s value, exactly once, and returns the value
    /// before the append. Retries until the server answers.
    ///
    /// # Panics
    /// On an error that retrying cannot fix (see [`Clerk::try_append`]).
    pub async fn append(&mut self, key: impl Into<String>, value: impl Into<String>) -> String {
        self.try_append(key, value).await.unwrap_or_else(fail)
    }

    /// [`Clerk::get`], returning errors that retrying cannot fix: the
    /// server rejected the request, or the network is shut down or has no
    /// such service.
    pub async fn try_get(&mut self, key: impl Into<String>) -> Result<String, Error> {
        // SOLUTION BEGIN 2: number the operation (a retry reuses the number) and send it until it gets a reply
        self.seq += 1;
        let args = GetArgs {
            key: key.into(),
            client: self.id,
            seq: self.seq,
        };
        self.call::<Get, _>(&args).await
        // SOLUTION END
    }

    /// [`Clerk::put`], returning errors as [`Clerk::try_get`] does.
    pub async fn try_put(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), Error> {
        let args = self.write_args(key.into(), value.into());
        self.call::<Put, _>(&args).await
    }

    /// [`Clerk::append`], returning errors as [`Clerk::try_get`] does.
    pub async fn try_append(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<String, Error> {
        let args = self.write_args(key.into(), value.into());
        self.call::<Append, _>(&args).await
    }

    fn write_args(&mut self, key: String, value: String) -> PutAppendArgs {
        // SOLUTION BEGIN 2: the arguments of a new write: the next sequence number
        self.seq += 1;
        PutAppendArgs {
            key,
            value,
            client: self.id,
            seq: self.seq,
        }
        // SOLUTION END
    }

    /// Sends `args` until a reply arrives. A lost request or reply is the
    /// normal case on an unreliable network; labrpc reports it only after
    /// the handler finished or can no longer run, so a retry never races
    /// an earlier copy of itself.
    async fn call<R, T>(&self, args: &R::Args) -> Result<T, Error>
    where
        R: Rpc<Reply = Reply<T, Rejection>>,
    {
        // SOLUTION BEGIN 2: send until a reply arrives: retry while the request or reply is lost, return the errors retrying cannot fix
        loop {
            match self.end.call::<R>(args).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(labrpc::ServiceError::Rejected(why))) => return Err(Error::Rejected(why)),
                // One server, never replaced: every other refusal
                // (`ServiceError::retry`) means "ask it again".
                Ok(Err(_)) => continue,
                Err(e) if e.is_disconnected() => continue,
                Err(e) => return Err(Error::Rpc(e)),
            }
        }
        // SOLUTION END
    }
}

fn fail<T>(e: Error) -> T {
    panic!("kvsrv clerk: {e}")
}
