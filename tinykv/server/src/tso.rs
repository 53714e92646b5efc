//! The standalone server's timestamp oracle: `physical_ms << 18 | logical`
//! with the physical part from the wall clock, strictly increasing — also
//! across a restart or a crash of the server, which the simulation's
//! [`tinykv_txn::Tso`] (virtual time from zero) need not survive.
//!
//! As PD does, the oracle saves a high-water mark a little ahead of the
//! clock (synced, in the engine's `meta` CF, which clients cannot reach)
//! and hands out timestamps only below it; on start it begins above the
//! saved mark. So a timestamp is never handed out twice, even if the wall
//! clock steps back, at the cost of one synced write every
//! [`WINDOW_MS`].

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tinykv_storage::{Cf, Engine, WriteBatch, WriteOptions};
use tinykv_txn::{compose, physical};

use crate::Error;

/// The oracle's key in [`Cf::Meta`].
pub const TSO_KEY: &[u8] = b"\x7ftinykv-server/tso-high-water";
/// How far ahead of the clock the saved mark runs.
pub const WINDOW_MS: u64 = 3000;

/// A timestamp oracle for one standalone server. Cheap to clone.
#[derive(Clone)]
pub struct WallTso {
    state: Arc<Mutex<State>>,
    /// Where the mark is saved (none for a memory engine: its data dies
    /// with the process, so older timestamps cannot matter).
    engine: Option<Arc<dyn Engine>>,
}

struct State {
    /// The last timestamp handed out.
    last: u64,
    /// Physical milliseconds saved as the high-water mark.
    saved_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl WallTso {
    /// An oracle that persists its mark in `engine` (if any), starting above
    /// the mark saved there before.
    pub fn open(engine: Option<Arc<dyn Engine>>) -> Result<WallTso, Error> {
        let mut saved_ms = 0;
        if let Some(engine) = &engine {
            if let Some(bytes) = engine.snapshot()?.get_cf(Cf::Meta, TSO_KEY)? {
                let bytes: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                    Error::Io(format!(
                        "the saved timestamp mark is {} bytes, not 8",
                        bytes.len()
                    ))
                })?;
                saved_ms = u64::from_be_bytes(bytes);
            }
        }
        Ok(WallTso {
            state: Arc::new(Mutex::new(State {
                last: compose(saved_ms, 0),
                saved_ms,
            })),
            engine,
        })
    }

    /// Reserves `count` (at least 1) consecutive timestamps and returns the
    /// last.
    pub fn get(&self, count: u32) -> Result<u64, Error> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let next = (state.last + 1).max(compose(now_ms(), 0));
        let end = next + u64::from(count.max(1)) - 1;
        if let Some(engine) = &self.engine
            && physical(end) >= state.saved_ms
        {
            let mark = physical(end) + WINDOW_MS;
            let mut batch = WriteBatch::new();
            batch.put(Cf::Meta, TSO_KEY, mark.to_be_bytes());
            engine.write(&batch, WriteOptions::SYNC)?;
            state.saved_ms = mark;
        }
        state.last = end;
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinykv_storage::MemEngine;

    #[test]
    fn increases_and_starts_above_the_saved_mark() {
        let engine: Arc<dyn Engine> = Arc::new(MemEngine::new());
        let tso = WallTso::open(Some(engine.clone())).unwrap();
        let a = tso.get(1).unwrap();
        let b = tso.get(5).unwrap();
        assert!(b >= a + 5);
        // A "restarted" oracle on the same engine starts past the window,
        // even though the clock has not moved.
        let again = WallTso::open(Some(engine.clone())).unwrap();
        let c = again.get(1).unwrap();
        assert!(physical(c) > physical(b), "{c} vs {b}");
        assert!(physical(c) > physical(a) + WINDOW_MS / 2);
        // A mark far in the future (a clock that stepped back) still wins.
        let mut batch = WriteBatch::new();
        let future = now_ms() + 10 * 3600 * 1000;
        batch.put(Cf::Meta, TSO_KEY, future.to_be_bytes());
        engine.write(&batch, WriteOptions::SYNC).unwrap();
        let later = WallTso::open(Some(engine)).unwrap();
        assert!(physical(later.get(1).unwrap()) >= future);
    }

    #[test]
    fn a_garbled_mark_is_an_error() {
        let engine: Arc<dyn Engine> = Arc::new(MemEngine::new());
        let mut batch = WriteBatch::new();
        batch.put(Cf::Meta, TSO_KEY, b"short");
        engine.write(&batch, WriteOptions::SYNC).unwrap();
        assert!(WallTso::open(Some(engine)).is_err());
    }
}
