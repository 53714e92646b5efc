//! Heap accounting for the memory scenarios: a counting global allocator.
//!
//! The reference reads Go's `HeapAlloc`, the live heap of the whole test
//! process. Tests here run in parallel threads, so a process-wide figure
//! would mix them; instead each thread counts the bytes it allocates minus
//! the bytes it frees. A simulation runs entirely on its own thread
//! (`labrpc::sim`), so [`live_bytes`] read inside a simulation is exactly the
//! heap of that simulation — server, clerks, network, runtime and test body —
//! whatever other tests do meanwhile. Memory moved to another thread and
//! freed there would skew the count; nothing in a simulation does that.
//!
//! The count is exact (no garbage collector, so no `runtime.GC()` calls are
//! needed) and uses the *requested* sizes, so a `String` counts its capacity.
//!
//! The allocator is installed only in the binary of the memory scenarios
//! (`tests/kvsrv_2.rs`), not crate-wide, so no other test binary pays for
//! the counting:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: tests::kvsrv::mem::CountingAllocator = tests::kvsrv::mem::CountingAllocator;
//! ```
//!
//! [`live_bytes`] panics in a binary without it, so a memory scenario can
//! never pass by reading a count that nothing keeps.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Wraps the system allocator and keeps a per-thread live-byte count.
pub struct CountingAllocator;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread. Signed: a thread
    /// may free memory another thread allocated. `const` and `Drop`-free, so
    /// using it never allocates and works during thread teardown.
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

/// Set by the first allocation through [`CountingAllocator`]: whether this
/// binary installed it.
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn add(delta: i64) {
    // try_with: never panic inside the allocator, even very late in a thread's life.
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

// SAFETY: every method forwards to `System` unchanged and only updates a
// thread-local counter, which does not allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            INSTALLED.store(true, Ordering::Relaxed);
            add(layout.size() as i64);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            add(layout.size() as i64);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (we forward everything).
        unsafe { System.dealloc(ptr, layout) };
        add(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            add(new_size as i64 - layout.size() as i64);
        }
        new
    }
}

/// Heap bytes live on the current thread: inside a simulation, the
/// simulation's heap.
///
/// # Panics
/// If this test binary did not install [`CountingAllocator`] as its global
/// allocator (the count would stay 0 and every bound would pass).
pub fn live_bytes() -> i64 {
    assert!(
        INSTALLED.load(Ordering::Relaxed),
        "live_bytes: this test binary has no counting allocator; install \
         tests::kvsrv::mem::CountingAllocator with #[global_allocator]"
    );
    LIVE.with(Cell::get)
}

/// One mebibyte, the unit of the reference's memory bounds.
pub const MIB: i64 = 1 << 20;
