//! kvraft harness (in progress).
