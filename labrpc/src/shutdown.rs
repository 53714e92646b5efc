//! One kill switch per server, with child switches and a count of the
//! tasks still running under it.
//!
//! Servers need "stop every background task when `kill()` is called", and
//! the tester needs to know when they have stopped. A server makes one root
//! [`Shutdown`]; each part of it (the Raft peer, the replicated state
//! machine, the shard mover) takes a [`Shutdown::child`], which is
//! triggered with its parent (not the other way round). Every background
//! task is started with [`Shutdown::spawn`], which counts it in its switch
//! and in every ancestor until the task's future is dropped, so
//! [`Shutdown::live_tasks`] of the root counts the whole server and
//! [`Shutdown::finished`] completes once it is quiet — mini-redis's
//! `shutdown_complete`, kept deterministic.
//!
//! The obvious tool, `tokio::sync::watch`, spreads its waiters over several
//! lists chosen by tokio's own unseeded RNG, so the order in which killed
//! tasks wake (and so everything after a kill) would vary between runs of
//! the same seed. [`Shutdown`] is built on `Notify` lists instead, which
//! wake waiters in a fixed order.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

/// A cloneable, one-way kill switch: once triggered it stays triggered.
/// Clones are the same switch.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    triggered: AtomicBool,
    /// Woken by `trigger`.
    notify: Notify,
    /// Switches made by `child`, triggered with this one.
    children: Mutex<Vec<Weak<Inner>>>,
    /// Keeps the ancestors alive so a task's count reaches all of them.
    parent: Option<Arc<Inner>>,
    /// Tasks spawned on this switch or a descendant, not yet ended.
    live: AtomicUsize,
    /// Woken when `live` drops to zero.
    quiet: Notify,
}

impl Shutdown {
    /// A root switch that has not been triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// A switch triggered together with this one (and on its own by its
    /// own `trigger`); its tasks count in this switch too.
    pub fn child(&self) -> Shutdown {
        let child = Arc::new(Inner {
            parent: Some(self.inner.clone()),
            ..Inner::default()
        });
        let mut children = self.inner.lock_children();
        children.retain(|c| c.strong_count() > 0);
        children.push(Arc::downgrade(&child));
        drop(children);
        if self.is_triggered() {
            child.trigger();
        }
        Shutdown { inner: child }
    }

    /// Triggers the switch and its descendants, and wakes every task
    /// waiting in [`Shutdown::wait`] on them.
    pub fn trigger(&self) {
        self.inner.trigger();
    }

    /// Whether the switch has been triggered (by itself or an ancestor).
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

    /// Spawns `task` on the current runtime, counted in this switch and its
    /// ancestors until it ends (or is dropped). The task must itself watch
    /// [`Shutdown::wait`] or [`Shutdown::is_triggered`] and end when
    /// triggered: the switch counts tasks, it does not cancel them.
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let guard = TaskGuard::new(self.inner.clone());
        tokio::spawn(async move {
            let _guard = guard;
            task.await
        })
    }

    /// Tasks spawned on this switch or a descendant that have not ended.
    pub fn live_tasks(&self) -> usize {
        self.inner.live.load(Ordering::SeqCst)
    }

    /// Completes once no task spawned on this switch or a descendant is
    /// running (at once if none is).
    pub async fn finished(&self) {
        loop {
            let quiet = self.inner.quiet.notified();
            if self.live_tasks() == 0 {
                return;
            }
            quiet.await;
        }
    }
}

impl Inner {
    fn lock_children(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Inner>>> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn trigger(&self) {
        if self.triggered.swap(true, Ordering::SeqCst) {
            return;
        }
        self.notify.notify_waiters();
        let children: Vec<Arc<Inner>> = self
            .lock_children()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for child in children {
            child.trigger();
        }
    }
}

/// Counts one task in a switch and its ancestors while it lives.
struct TaskGuard(Arc<Inner>);

impl TaskGuard {
    fn new(inner: Arc<Inner>) -> TaskGuard {
        let mut at = Some(&inner);
        while let Some(switch) = at {
            switch.live.fetch_add(1, Ordering::SeqCst);
            at = switch.parent.as_ref();
        }
        TaskGuard(inner)
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let mut at = Some(&self.0);
        while let Some(switch) = at {
            if switch.live.fetch_sub(1, Ordering::SeqCst) == 1 {
                switch.quiet.notify_waiters();
            }
            at = switch.parent.as_ref();
        }
    }
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .field("live_tasks", &self.live_tasks())
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

    #[tokio::test(flavor = "current_thread")]
    async fn a_parent_triggers_its_children_not_the_reverse() {
        let root = Shutdown::new();
        let child = root.child();
        let grandchild = child.child();
        let sibling = root.child();
        child.trigger();
        assert!(child.is_triggered() && grandchild.is_triggered());
        assert!(!root.is_triggered() && !sibling.is_triggered());
        root.trigger();
        assert!(sibling.is_triggered());
        // A child of a triggered switch starts triggered.
        assert!(root.child().is_triggered());
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_root_counts_every_task_until_it_ends() {
        let root = Shutdown::new();
        let child = root.child().child();
        for s in [&root, &child] {
            let s2 = s.clone();
            s.spawn(async move { s2.wait().await });
        }
        tokio::task::yield_now().await;
        assert_eq!((root.live_tasks(), child.live_tasks()), (2, 1));
        root.trigger();
        root.finished().await;
        assert_eq!((root.live_tasks(), child.live_tasks()), (0, 0));
    }

    /// The broken variant the count exists to catch: a task that ignores
    /// the switch keeps the server from ever being quiet.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_task_that_ignores_the_switch_stays_counted() {
        let root = Shutdown::new();
        root.child().spawn(async {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        root.trigger();
        let quiet = tokio::time::timeout(std::time::Duration::from_secs(60), root.finished()).await;
        assert!(quiet.is_err(), "finished() returned with a task running");
        assert_eq!(root.live_tasks(), 1);
    }
}
