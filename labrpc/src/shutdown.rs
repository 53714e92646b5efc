//! A kill switch that simulated servers can wait on deterministically.
//!
//! Servers need "stop every background task when `kill()` is called". The
//! obvious tool, `tokio::sync::watch`, spreads its waiters over several
//! lists chosen by tokio's own unseeded RNG, so the order in which killed
//! tasks wake (and so everything after a kill) would vary between runs of
//! the same seed. [`Shutdown`] is built on one `Notify` list instead, which
//! wakes waiters in a fixed order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A cloneable, one-way kill switch: once triggered it stays triggered.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    triggered: AtomicBool,
    notify: Notify,
}

impl Shutdown {
    /// A switch that has not been triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Triggers the switch and wakes every task waiting in [`Shutdown::wait`].
    pub fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Whether [`Shutdown::trigger`] has been called.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Completes once the switch is triggered (at once if it already is).
    pub async fn wait(&self) {
        loop {
            // Registered before the check, so a trigger in between is seen.
            let notified = self.inner.notify.notified();
            if self.is_triggered() {
                return;
            }
            notified.await;
        }
    }
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn wait_returns_after_trigger_and_stays_triggered() {
        let s = Shutdown::new();
        assert!(!s.is_triggered());
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        s.trigger();
        waiter.await.unwrap();
        // A later waiter sees the switch at once.
        s.wait().await;
        assert!(s.is_triggered());
    }
}
