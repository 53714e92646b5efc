//! The one source of randomness for simulated code.
//!
//! Inside a simulation ([`crate::sim`]) every call here draws from a single
//! [`SmallRng`] seeded from the test's seed, so network drops and delays,
//! election timeouts, clerk ids and the test's own choices all replay exactly
//! from `LAB_SEED`. Outside a simulation the same calls draw from an RNG
//! seeded with OS entropy, so library code need not know where it runs.
//!
//! Never call `rand::rng()` in lab code: it bypasses the seed.

use std::cell::RefCell;

use rand::distr::uniform::{SampleRange, SampleUniform};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

thread_local! {
    /// The simulation's RNG while a simulation runs on this thread.
    static SIM_RNG: RefCell<Option<SmallRng>> = const { RefCell::new(None) };
    /// Fallback for code running outside any simulation.
    static ENTROPY_RNG: RefCell<SmallRng> = RefCell::new(rand::make_rng());
}

/// Installs the simulation RNG on this thread; the guard removes it.
pub(crate) fn install(seed: u64) -> RngGuard {
    SIM_RNG.with(|r| *r.borrow_mut() = Some(SmallRng::seed_from_u64(seed)));
    RngGuard(())
}

/// Removes the simulation RNG when dropped.
pub(crate) struct RngGuard(());

impl Drop for RngGuard {
    fn drop(&mut self) {
        SIM_RNG.with(|r| *r.borrow_mut() = None);
    }
}

/// Runs `f` with the current RNG: the simulation's inside a simulation, an
/// entropy-seeded one otherwise. `f` must not call back into this module.
pub fn with<T>(f: impl FnOnce(&mut SmallRng) -> T) -> T {
    SIM_RNG.with(|sim| match sim.borrow_mut().as_mut() {
        Some(rng) => f(rng),
        None => ENTROPY_RNG.with(|e| f(&mut e.borrow_mut())),
    })
}

/// A uniformly random value in `range` (e.g. `range(0..27)`, `range(150..=300)`).
pub fn range<T, R>(range: R) -> T
where
    T: SampleUniform,
    R: SampleRange<T>,
{
    with(|rng| rng.random_range(range))
}

/// True with probability `p` (clamped to `0.0..=1.0`).
pub fn chance(p: f64) -> bool {
    with(|rng| rng.random_bool(p.clamp(0.0, 1.0)))
}

/// A uniformly random `u64` (e.g. a clerk id).
pub fn u64() -> u64 {
    with(|rng| rng.random())
}

/// A new independent RNG seeded from the current one, for a pure state
/// machine that takes its randomness as an argument (a Raft core, a checker).
pub fn fork() -> SmallRng {
    SmallRng::seed_from_u64(u64())
}

/// A random string of `n` characters from `[a-zA-Z0-9]`, as the reference
/// testers use for end names and values.
pub fn string(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    with(|rng| {
        (0..n)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    })
}

/// Shuffles a slice in place (Fisher–Yates) with the current RNG.
pub fn shuffle<T>(items: &mut [T]) {
    with(|rng| {
        for i in (1..items.len()).rev() {
            let j = rng.random_range(0..=i);
            items.swap(i, j);
        }
    })
}
