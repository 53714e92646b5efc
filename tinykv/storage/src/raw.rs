//! The raw KV API (the reference `kvrpcpb` Raw* messages) and its handlers:
//! pure functions of a [`Storage`] and a request. The labrpc service
//! (`service.rs`) and the TCP server (`net.rs`) are thin layers over
//! [`RawServer`].
//!
//! Errors never fail the RPC: they are reported in the response's `error`
//! string, as in the reference, and the server goes on serving.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::engine::{Cf, KvPair, WriteBatch};
use crate::storage::{Context, Storage};

/// Longest key accepted (TiKV's default `max-key-size`).
pub const MAX_KEY_LEN: usize = 8 * 1024;
/// Largest value accepted; keeps any request well inside one network frame
/// of the TCP server (`tinykv-server`'s `MAX_FRAME`, 16 MiB).
pub const MAX_VALUE_LEN: usize = 4 * 1024 * 1024;
/// Largest total of keys and values one RawScan returns; a scan that would
/// return more fails and asks for a smaller limit.
pub const MAX_SCAN_BYTES: usize = 8 * 1024 * 1024;

/// RawGet arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawGetRequest {
    /// Routing information (unused by the standalone storage).
    pub context: Context,
    /// The key; must not be empty.
    pub key: Vec<u8>,
    /// The column family: `default` (or empty), `lock` or `write`.
    pub cf: String,
}

/// RawGet reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawGetResponse {
    /// A region error (Project 2+); always `None` in standalone mode.
    pub region_error: Option<String>,
    /// Why the request failed; empty on success.
    pub error: String,
    /// The value (empty when not found).
    pub value: Vec<u8>,
    /// True when the key is absent — which is not an error.
    pub not_found: bool,
}

/// RawPut arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawPutRequest {
    /// Routing information.
    pub context: Context,
    /// The key; must not be empty.
    pub key: Vec<u8>,
    /// The value; may be empty, at most [`MAX_VALUE_LEN`] bytes.
    pub value: Vec<u8>,
    /// The column family.
    pub cf: String,
}

/// RawPut reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawPutResponse {
    /// A region error (Project 2+).
    pub region_error: Option<String>,
    /// Why the request failed; empty on success.
    pub error: String,
}

/// RawDelete arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawDeleteRequest {
    /// Routing information.
    pub context: Context,
    /// The key; must not be empty.
    pub key: Vec<u8>,
    /// The column family.
    pub cf: String,
}

/// RawDelete reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawDeleteResponse {
    /// A region error (Project 2+).
    pub region_error: Option<String>,
    /// Why the request failed; empty on success.
    pub error: String,
}

/// RawScan arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawScanRequest {
    /// Routing information.
    pub context: Context,
    /// First key to return (empty: from the start of the CF).
    pub start_key: Vec<u8>,
    /// At most this many pairs; there is no end key.
    pub limit: u32,
    /// The column family.
    pub cf: String,
}

/// RawScan reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawScanResponse {
    /// A region error (Project 2+).
    pub region_error: Option<String>,
    /// Why the request failed; empty on success.
    pub error: String,
    /// The pairs with keys `>= start_key`, in key order.
    pub kvs: Vec<KvPair>,
}

/// The raw KV handlers over one storage (the reference `server.Server`'s
/// Raw* methods). Cheap to clone.
#[derive(Clone)]
pub struct RawServer {
    storage: Arc<dyn Storage>,
}

impl RawServer {
    /// A server over `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> RawServer {
        RawServer { storage }
    }

    /// The storage it serves.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// RawGet: the value of a key, or `not_found`.
    pub fn raw_get(&self, req: RawGetRequest) -> RawGetResponse {
        // SOLUTION BEGIN p1: check the CF and key, read the key from a storage reader; an absent key sets not_found (it is not an error)
        let read = || -> Result<Option<Vec<u8>>, Error> {
            let cf = data_cf(&req.cf)?;
            check_key(&req.key)?;
            self.storage.reader(&req.context)?.get_cf(cf, &req.key)
        };
        match read() {
            Ok(Some(value)) => RawGetResponse {
                value,
                ..Default::default()
            },
            Ok(None) => RawGetResponse {
                not_found: true,
                ..Default::default()
            },
            Err(e) => RawGetResponse {
                error: e.to_string(),
                ..Default::default()
            },
        }
        // SOLUTION END
    }

    /// RawPut: one Put, written durably before the reply.
    pub fn raw_put(&self, req: RawPutRequest) -> RawPutResponse {
        // SOLUTION BEGIN p1: check the CF, key and value size, then write a batch of one Put
        let write = || -> Result<(), Error> {
            let cf = data_cf(&req.cf)?;
            check_key(&req.key)?;
            if req.value.len() > MAX_VALUE_LEN {
                return Err(Error::ValueTooLarge {
                    len: req.value.len(),
                    max: MAX_VALUE_LEN,
                });
            }
            let mut batch = WriteBatch::new();
            batch.put(cf, req.key, req.value);
            self.storage.write(&req.context, batch)
        };
        RawPutResponse {
            error: error_text(write()),
            ..Default::default()
        }
        // SOLUTION END
    }

    /// RawDelete: one Delete (absent keys are fine).
    pub fn raw_delete(&self, req: RawDeleteRequest) -> RawDeleteResponse {
        // SOLUTION BEGIN p1: check the CF and key, then write a batch of one Delete
        let write = || -> Result<(), Error> {
            let cf = data_cf(&req.cf)?;
            check_key(&req.key)?;
            let mut batch = WriteBatch::new();
            batch.delete(cf, req.key);
            self.storage.write(&req.context, batch)
        };
        RawDeleteResponse {
            error: error_text(write()),
            ..Default::default()
        }
        // SOLUTION END
    }

    /// RawScan: up to `limit` pairs from `start_key` on, in key order.
    pub fn raw_scan(&self, req: RawScanRequest) -> RawScanResponse {
        // SOLUTION BEGIN p1: seek an iterator of one reader to start_key and collect up to limit pairs (bounded by MAX_SCAN_BYTES)
        let scan = || -> Result<Vec<KvPair>, Error> {
            let cf = data_cf(&req.cf)?;
            let reader = self.storage.reader(&req.context)?;
            let mut it = reader.iter_cf(cf)?;
            it.seek(&req.start_key)?;
            let (mut kvs, mut bytes) = (Vec::new(), 0);
            while kvs.len() < req.limit as usize {
                let Some((key, value)) = it.item() else { break };
                bytes += key.len() + value.len();
                if bytes > MAX_SCAN_BYTES {
                    return Err(Error::ScanTooLarge {
                        max: MAX_SCAN_BYTES,
                        pairs: kvs.len(),
                    });
                }
                kvs.push(KvPair {
                    key: key.to_vec(),
                    value: value.to_vec(),
                });
                it.next()?;
            }
            Ok(kvs)
        };
        match scan() {
            Ok(kvs) => RawScanResponse {
                kvs,
                ..Default::default()
            },
            Err(e) => RawScanResponse {
                error: e.to_string(),
                ..Default::default()
            },
        }
        // SOLUTION END
    }
}

/// A client-named data CF.
pub fn data_cf(name: &str) -> Result<Cf, Error> {
    name.parse()
}

/// A client key must be non-empty and at most [`MAX_KEY_LEN`] bytes.
pub fn check_key(key: &[u8]) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::EmptyKey);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::KeyTooLarge {
            len: key.len(),
            max: MAX_KEY_LEN,
        });
    }
    Ok(())
}

fn error_text(result: Result<(), Error>) -> String {
    match result {
        Ok(()) => String::new(),
        Err(e) => e.to_string(),
    }
}
