//! Timestamps and ids: the timestamp oracle (TSO) and the id allocator.
//!
//! A timestamp is `physical_ms << 18 | logical`: the physical part is the
//! scheduler's clock in milliseconds, the 18 logical bits count timestamps
//! handed out within one millisecond. Timestamps strictly increase, even if
//! the clock stands still or goes back: the oracle never lets its physical
//! part fall, and when a millisecond's logical space is used up it moves the
//! physical part on by one instead of waiting for the clock.

use crate::Error;

/// Logical bits of a timestamp.
pub const LOGICAL_BITS: u32 = 18;
/// Timestamps one millisecond can hold.
pub const MAX_LOGICAL: u64 = 1 << LOGICAL_BITS;

/// `physical_ms << 18 | logical`.
pub fn compose_ts(physical_ms: u64, logical: u64) -> u64 {
    (physical_ms << LOGICAL_BITS) | (logical & (MAX_LOGICAL - 1))
}

/// The physical part (ms) of `ts`.
pub fn physical(ts: u64) -> u64 {
    ts >> LOGICAL_BITS
}

/// The logical part of `ts`.
pub fn logical(ts: u64) -> u64 {
    ts & (MAX_LOGICAL - 1)
}

/// The timestamp oracle. Pure: the caller passes the clock's reading.
#[derive(Debug, Clone, Default)]
pub struct Tso {
    physical_ms: u64,
    logical: u64,
}

impl Tso {
    /// An oracle that has handed out nothing.
    pub fn new() -> Tso {
        Tso::default()
    }

    /// Reserves `count` consecutive timestamps at clock reading `now_ms` and
    /// returns the last; the first is `last - count + 1`. Refuses `count` of
    /// 0 or more than one millisecond holds.
    pub fn next(&mut self, now_ms: u64, count: u32) -> Result<u64, Error> {
        let count = u64::from(count);
        if count == 0 || count >= MAX_LOGICAL {
            return Err(Error::InvalidRequest(format!(
                "timestamp count {count} is not in 1..{MAX_LOGICAL}"
            )));
        }
        if now_ms > self.physical_ms {
            self.physical_ms = now_ms;
            self.logical = 0;
        }
        if self.logical + count >= MAX_LOGICAL {
            // This millisecond is full: borrow the next one.
            self.physical_ms += 1;
            self.logical = 0;
        }
        self.logical += count;
        Ok(compose_ts(self.physical_ms, self.logical))
    }

    /// The physical part (ms) of the last timestamp handed out (0 before
    /// the first). A call of [`Tso::next`] at `now_ms` hands out nothing
    /// with a physical part above `max(now_ms, physical_ms()) + 1`.
    pub fn physical_ms(&self) -> u64 {
        self.physical_ms
    }

    /// Makes every later timestamp's physical part at least `floor_ms`: a
    /// restarted oracle resumes above what it may have handed out before.
    pub fn resume_at(&mut self, floor_ms: u64) {
        if floor_ms > self.physical_ms {
            self.physical_ms = floor_ms;
            self.logical = 0;
        }
    }
}

/// Hands out cluster-unique ids (stores, regions, peers), ascending.
#[derive(Debug, Clone)]
pub struct IdAllocator {
    next: u64,
}

impl IdAllocator {
    /// The first id handed out is `first` (never 0: ids start at 1).
    pub fn new(first: u64) -> IdAllocator {
        IdAllocator { next: first.max(1) }
    }

    /// The next id.
    pub fn alloc(&mut self) -> Result<u64, Error> {
        let id = self.next;
        self.next = id.checked_add(1).ok_or(Error::IdsExhausted)?;
        Ok(id)
    }

    /// The id [`IdAllocator::alloc`] hands out next.
    pub fn peek(&self) -> u64 {
        self.next
    }

    /// Notes an id in use that this allocator may not have handed out (a
    /// store's or a bootstrapped region's, or one from before a restart):
    /// later ids are above it.
    pub fn observe(&mut self, id: u64) {
        if id >= self.next {
            self.next = id.saturating_add(1);
        }
    }
}
