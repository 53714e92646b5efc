//! Raft harness (in progress).
