//! shardctrler harness (in progress).
