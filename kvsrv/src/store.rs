//! The key/value state machine and its duplicate table — pure logic: no
//! clocks, tasks or network, so every rule here is tested directly.
//!
//! # At most once, with little memory
//!
//! The network may drop a reply after the handler ran; the clerk then
//! retries with the same sequence number, and a write must not happen twice.
//! The server remembers, per clerk, only its **last** write (a clerk has one
//! call outstanding, so nothing older can come back), and forgets it as soon
//! as the clerk sends a request with a larger number: that request proves
//! the clerk saw the reply. Gets change nothing, so a retried Get is simply
//! read again (the new read falls inside the operation's interval, which is
//! linearizable) and Gets are never remembered.
//!
//! What a remembered write costs:
//! * **Put**: its sequence number (the reply is empty).
//! * **Append**: its reply is the old value, which can be as large as the
//!   value itself. The server does not copy it. Until the key is next
//!   *replaced*, the old value is a prefix of the key's current value (later
//!   appends only extend it), so the entry stores the prefix's *length* and
//!   the key records the clerks whose replies are prefixes of it. Only a Put
//!   on that key, which destroys the prefix, copies it out first — and only
//!   for clerks whose reply is still unacknowledged.

use std::collections::{BTreeMap, BTreeSet};

use crate::Rejection;
use crate::messages::{ClientId, OpKind};

/// The store: keys, values and the duplicate table.
#[derive(Debug, Default)]
pub struct KvStore {
    /// Every key ever written, with its value.
    data: BTreeMap<String, Value>,
    /// The last write of each clerk whose reply is not yet acknowledged.
    /// Invariant: at most one entry per clerk, removed by the clerk's next
    /// request; a clerk with no unacknowledged write has no entry.
    sessions: BTreeMap<ClientId, Session>,
}

#[derive(Debug, Default)]
struct Value {
    text: String,
    /// Clerks whose remembered Append reply is `text[..len]` for some len.
    /// Invariant: `c` is here iff `sessions[c]` is `Reply::Prefix` on this key.
    prefix_holders: BTreeSet<ClientId>,
}

/// A clerk's last write, remembered so a retry gets the same answer.
#[derive(Debug)]
struct Session {
    seq: u64,
    /// `None` for a Put (its reply is empty), boxed for an Append so that
    /// the many-Put-clerks case costs as little as possible per clerk.
    append: Option<Box<AppendReply>>,
}

/// How to rebuild the reply of a remembered Append.
#[derive(Debug)]
enum AppendReply {
    /// The first `len` bytes of `key`'s current value.
    Prefix { key: String, len: usize },
    /// A copy, made when the prefix was about to be overwritten by a Put
    /// (or the old value was empty, which costs nothing to keep).
    Owned(String),
}

/// What [`KvStore::acknowledge`] decided about a request.
enum Fresh {
    /// A new operation: apply it.
    New,
    /// A retry of the remembered write.
    Retry,
}

impl KvStore {
    /// An empty store.
    pub fn new() -> KvStore {
        KvStore::default()
    }

    /// Reads `key` ("" if absent). Never remembered; acknowledges the
    /// clerk's previous write.
    pub fn get(&mut self, client: ClientId, seq: u64, key: &str) -> Result<String, Rejection> {
        // SOLUTION BEGIN 2: read a key ("" if absent); a Get acknowledges the clerk's previous write and is never remembered
        match self.acknowledge(client, seq, OpKind::Get)? {
            Fresh::New => Ok(self
                .data
                .get(key)
                .map(|v| v.text.clone())
                .unwrap_or_default()),
            // Unreachable: acknowledge only reports Retry for a remembered
            // write of the same kind, and Gets are never remembered.
            Fresh::Retry => Err(Rejection::SequenceReused {
                client,
                seq,
                previous: OpKind::Get,
                now: OpKind::Get,
            }),
        }
        // SOLUTION END
    }

    /// Replaces `key`'s value with `value`, at most once per `(client, seq)`.
    pub fn put(
        &mut self,
        client: ClientId,
        seq: u64,
        key: &str,
        value: String,
    ) -> Result<(), Rejection> {
        // SOLUTION BEGIN 2: replace the value at most once per (client, seq); a Put must not destroy the replies of unacknowledged Appends
        if let Fresh::Retry = self.acknowledge(client, seq, OpKind::Put)? {
            return Ok(());
        }
        let sessions = &mut self.sessions;
        let entry = self.data.entry(key.to_string()).or_default();
        // The prefixes of the value being replaced must survive it.
        for holder in std::mem::take(&mut entry.prefix_holders) {
            if let Some(reply) = sessions.get_mut(&holder).and_then(|s| s.append.as_mut())
                && let AppendReply::Prefix { len, .. } = **reply
                && let Some(old) = entry.text.get(..len)
            {
                **reply = AppendReply::Owned(old.to_string());
            }
        }
        entry.text = value;
        sessions.insert(client, Session { seq, append: None });
        Ok(())
        // SOLUTION END
    }

    /// Appends `value` to `key`'s value at most once per `(client, seq)`
    /// and returns the value before the append (also on a retry).
    pub fn append(
        &mut self,
        client: ClientId,
        seq: u64,
        key: &str,
        value: &str,
    ) -> Result<String, Rejection> {
        // SOLUTION BEGIN 2: append at most once per (client, seq) and return the old value, also on a retry, without keeping a copy of it
        if let Fresh::Retry = self.acknowledge(client, seq, OpKind::Append)? {
            return self
                .remembered_append(client)
                .ok_or(Rejection::ReplyLost { client, seq });
        }
        let entry = self.data.entry(key.to_string()).or_default();
        let old = entry.text.clone();
        entry.text.push_str(value);
        let reply = if old.is_empty() {
            // An empty String owns no heap memory: nothing to track.
            AppendReply::Owned(String::new())
        } else {
            entry.prefix_holders.insert(client);
            AppendReply::Prefix {
                key: key.to_string(),
                len: old.len(),
            }
        };
        self.sessions.insert(
            client,
            Session {
                seq,
                append: Some(Box::new(reply)),
            },
        );
        Ok(old)
        // SOLUTION END
    }

    /// Number of clerks with a remembered write (for tests and logs).
    pub fn remembered(&self) -> usize {
        self.sessions.len()
    }

    /// Classifies a request against the clerk's remembered write and, if it
    /// is a new operation, forgets that write: the clerk has seen its reply.
    fn acknowledge(&mut self, client: ClientId, seq: u64, now: OpKind) -> Result<Fresh, Rejection> {
        // SOLUTION BEGIN 2: classify the request against the clerk's remembered write (new, retry, stale, reused number); forget the write it acknowledges
        let Some(session) = self.sessions.get(&client) else {
            return Ok(Fresh::New);
        };
        if seq < session.seq {
            // labrpc returns a call only once its handler finished or can no
            // longer run, so a correct clerk never sends this.
            return Err(Rejection::StaleRequest {
                client,
                seq,
                latest: session.seq,
            });
        }
        if seq == session.seq {
            let previous = match session.append {
                Some(_) => OpKind::Append,
                None => OpKind::Put,
            };
            return if previous == now {
                Ok(Fresh::Retry)
            } else {
                Err(Rejection::SequenceReused {
                    client,
                    seq,
                    previous,
                    now,
                })
            };
        }
        self.forget(client);
        Ok(Fresh::New)
        // SOLUTION END
    }

    fn forget(&mut self, client: ClientId) {
        // SOLUTION BEGIN 2: drop the clerk's remembered write and its hold on a key's prefix
        let Some(session) = self.sessions.remove(&client) else {
            return;
        };
        if let Some(reply) = session.append
            && let AppendReply::Prefix { key, .. } = *reply
            && let Some(value) = self.data.get_mut(&key)
        {
            value.prefix_holders.remove(&client);
        }
        // SOLUTION END
    }

    /// The reply of `client`'s remembered Append; `None` only if the
    /// invariants above were broken (reported as an error, not a panic).
    fn remembered_append(&self, client: ClientId) -> Option<String> {
        // SOLUTION BEGIN 2: rebuild the reply of the clerk's remembered Append
        match self.sessions.get(&client)?.append.as_deref()? {
            AppendReply::Owned(old) => Some(old.clone()),
            AppendReply::Prefix { key, len } => {
                self.data.get(key)?.text.get(..*len).map(str::to_string)
            }
        }
        // SOLUTION END
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ClientId = 1;
    const B: ClientId = 2;

    #[test]
    fn get_of_missing_key_is_empty_and_append_treats_it_as_empty() {
        let mut kv = KvStore::new();
        assert_eq!(kv.get(A, 1, "k"), Ok(String::new()));
        assert_eq!(kv.append(A, 2, "k", "x"), Ok(String::new()));
        assert_eq!(kv.append(A, 3, "k", "y"), Ok("x".to_string()));
        assert_eq!(kv.get(B, 1, "k"), Ok("xy".to_string()));
    }

    #[test]
    fn retried_writes_apply_once_and_answer_the_same() {
        let mut kv = KvStore::new();
        kv.put(A, 1, "k", "a".into()).unwrap();
        kv.put(A, 1, "k", "a".into()).unwrap();
        assert_eq!(kv.append(A, 2, "k", "b"), Ok("a".to_string()));
        // Another clerk appends before A's retry arrives: A still hears "a".
        assert_eq!(kv.append(B, 1, "k", "c"), Ok("ab".to_string()));
        assert_eq!(kv.append(A, 2, "k", "b"), Ok("a".to_string()));
        assert_eq!(kv.get(B, 2, "k"), Ok("abc".to_string()));
    }

    #[test]
    fn a_put_preserves_unacknowledged_append_replies() {
        let mut kv = KvStore::new();
        kv.put(A, 1, "k", "hello".into()).unwrap();
        assert_eq!(kv.append(A, 2, "k", " world"), Ok("hello".to_string()));
        assert_eq!(kv.append(B, 1, "k", "!"), Ok("hello world".to_string()));
        // A third clerk replaces the value while A's and B's replies are unacknowledged.
        kv.put(3, 1, "k", "replaced".into()).unwrap();
        assert!(kv.data["k"].prefix_holders.is_empty());
        assert_eq!(kv.append(A, 2, "k", " world"), Ok("hello".to_string()));
        assert_eq!(kv.append(B, 1, "k", "!"), Ok("hello world".to_string()));
        assert_eq!(kv.get(B, 2, "k"), Ok("replaced".to_string()));
    }

    #[test]
    fn the_next_request_frees_the_remembered_write() {
        let mut kv = KvStore::new();
        kv.append(A, 1, "k", "x").unwrap();
        kv.append(A, 2, "k", "y").unwrap();
        kv.put(B, 1, "j", "v".into()).unwrap();
        assert_eq!(kv.remembered(), 2);
        assert!(kv.data["k"].prefix_holders.contains(&A));
        kv.get(A, 3, "k").unwrap();
        kv.get(B, 2, "k").unwrap();
        assert_eq!(kv.remembered(), 0);
        assert!(kv.data["k"].prefix_holders.is_empty());
        // Gets alone never create state.
        for c in 10..20 {
            kv.get(c, 1, "k").unwrap();
        }
        assert_eq!(kv.remembered(), 0);
    }

    #[test]
    fn bad_sequence_numbers_are_errors() {
        let mut kv = KvStore::new();
        kv.put(A, 5, "k", "v".into()).unwrap();
        assert_eq!(
            kv.get(A, 4, "k"),
            Err(Rejection::StaleRequest {
                client: A,
                seq: 4,
                latest: 5
            })
        );
        assert_eq!(
            kv.append(A, 5, "k", "x"),
            Err(Rejection::SequenceReused {
                client: A,
                seq: 5,
                previous: OpKind::Put,
                now: OpKind::Append
            })
        );
        // Nothing was applied by the rejected requests.
        assert_eq!(kv.get(B, 1, "k"), Ok("v".to_string()));
    }
}
