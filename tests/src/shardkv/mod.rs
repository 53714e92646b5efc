//! shardkv harness (in progress).
