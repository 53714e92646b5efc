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

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Wraps the system allocator and keeps a per-thread live-byte count.
pub struct CountingAllocator;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread. Signed: a thread
    /// may free memory another thread allocated. `const` and `Drop`-free, so
    /// using it never allocates and works during thread teardown.
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

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

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Heap bytes live on the current thread: inside a simulation, the
/// simulation's heap.
pub fn live_bytes() -> i64 {
    LIVE.with(Cell::get)
}

/// One mebibyte, the unit of the reference's memory bounds.
pub const MIB: i64 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_this_threads_allocations_only() {
        let before = live_bytes();
        let v: Vec<u8> = Vec::with_capacity(1 << 20);
        assert_eq!(live_bytes() - before, 1 << 20);
        drop(v);
        assert_eq!(live_bytes(), before);
        let there = std::thread::spawn(|| {
            let start = live_bytes();
            let v = vec![1u8; 1 << 22];
            let grown = live_bytes() - start;
            drop(v);
            grown
        });
        // The other thread saw exactly its own allocation.
        assert_eq!(there.join().unwrap(), 1 << 22);
    }
}
