//! Stable storage for one Raft peer, kept in memory by the tester.

use std::sync::{Arc, Mutex, MutexGuard};

/// In-memory stable storage: Raft's state and the service's snapshot, always
/// saved together so a crash never sees one without the other.
///
/// Cloning gives another handle to the same storage (the tester keeps one to
/// read sizes); [`Persister::copy`] makes an independent copy, which is what
/// a restarted peer gets, so a killed instance's late writes are invisible.
#[derive(Clone, Default)]
pub struct Persister {
    inner: Arc<Mutex<Stored>>,
}

#[derive(Clone, Default)]
struct Stored {
    raft_state: Arc<Vec<u8>>,
    snapshot: Arc<Vec<u8>>,
}

impl Persister {
    /// Empty storage.
    pub fn new() -> Persister {
        Persister::default()
    }

    fn lock(&self) -> MutexGuard<'_, Stored> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An independent copy of the current contents.
    pub fn copy(&self) -> Persister {
        Persister {
            inner: Arc::new(Mutex::new(self.lock().clone())),
        }
    }

    /// Atomically replaces both the Raft state and the snapshot (an empty
    /// snapshot means none).
    pub fn save(&self, raft_state: Vec<u8>, snapshot: Vec<u8>) {
        let mut stored = self.lock();
        stored.raft_state = Arc::new(raft_state);
        stored.snapshot = Arc::new(snapshot);
    }

    /// Replaces the Raft state and keeps the current snapshot.
    pub fn save_raft_state(&self, raft_state: Vec<u8>) {
        self.lock().raft_state = Arc::new(raft_state);
    }

    /// A copy of the saved Raft state.
    pub fn read_raft_state(&self) -> Vec<u8> {
        self.lock().raft_state.to_vec()
    }

    /// A copy of the saved snapshot.
    pub fn read_snapshot(&self) -> Vec<u8> {
        self.lock().snapshot.to_vec()
    }

    /// Bytes of saved Raft state (what `maxraftstate` is compared with).
    pub fn raft_state_size(&self) -> usize {
        self.lock().raft_state.len()
    }

    /// Bytes of saved snapshot.
    pub fn snapshot_size(&self) -> usize {
        self.lock().snapshot.len()
    }
}
