//! Logging inside simulations.
//!
//! Each simulation installs a `tracing` subscriber for its own thread that
//! honours `RUST_LOG` (default `warn`), stamps every line with virtual time
//! ([`crate::sim::VirtualTime`]) and writes through the test harness's capture,
//! so a passing test stays quiet and `--nocapture` shows the log. Lines carry
//! no wall time, thread id or address: two runs with one seed print the same
//! bytes.

use tracing_subscriber::EnvFilter;

/// Installs the simulation's subscriber on this thread until the guard drops.
pub(crate) fn install() -> tracing::subscriber::DefaultGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(crate::sim::VirtualTime)
        .with_ansi(false)
        .with_thread_ids(false)
        .with_thread_names(false)
        .with_test_writer()
        .finish();
    tracing::subscriber::set_default(subscriber)
}
