//! kvsrv harness (in progress).
