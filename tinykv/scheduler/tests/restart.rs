//! A scheduler with a data directory never hands out an id or a timestamp
//! twice across a restart, even when the clock has gone back; and one that
//! cannot write its reservation hands out nothing.
//!
//! The clocks here are tokio's with chosen offsets (outside a runtime they
//! read the system's monotonic clock), so "the clock went back a minute" is
//! exact.

use tinykv_scheduler::messages::TsoRequest;
use tinykv_scheduler::reserve::{ID_WINDOW, TS_WINDOW_MS};
use tinykv_scheduler::tso::physical;
use tinykv_scheduler::{Clock, Config, Error, SIMULATED_EPOCH_MS, SchedulerServer};

fn clock_at(offset_ms: u64) -> Clock {
    Clock::Tokio {
        base: tokio::time::Instant::now(),
        offset_ms,
    }
}

fn ts(server: &SchedulerServer) -> Result<u64, Error> {
    server.get_tso(TsoRequest { count: 1 })
}

#[test]
fn a_restart_hands_out_no_id_or_timestamp_again() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = SIMULATED_EPOCH_MS;
    let first = SchedulerServer::durable(Config::default(), 1, clock_at(t0), dir.path()).unwrap();
    // More ids than one window holds: the reservation moves on as they go.
    let ids: Vec<u64> = (0..2 * ID_WINDOW + 500)
        .map(|_| first.alloc_id().unwrap())
        .collect();
    assert_eq!(ids[0], 1);
    let last_id = *ids.last().unwrap();
    let mut last_ts = 0;
    for _ in 0..100 {
        let t = ts(&first).unwrap();
        assert!(t > last_ts);
        last_ts = t;
    }
    let reserved = first.reserved().unwrap();
    assert!(reserved.ids_below > last_id, "{reserved:?}");
    assert!(
        reserved.ids_below <= last_id + 1 + ID_WINDOW,
        "{reserved:?}"
    );
    assert!(reserved.ts_below_ms > physical(last_ts), "{reserved:?}");
    assert!(
        reserved.ts_below_ms <= t0 + 2 + TS_WINDOW_MS + 1_000,
        "{reserved:?}"
    );
    // A crash: nothing more is written.
    drop(first);

    // The clock went back a minute, and the flag asks for ids from 1.
    let late = clock_at(t0 - 60_000);
    let second = SchedulerServer::durable(Config::default(), 1, late, dir.path()).unwrap();
    let id = second.alloc_id().unwrap();
    assert!(
        id > last_id,
        "id {id} again after a restart (last was {last_id})"
    );
    assert_eq!(id, reserved.ids_below, "a restart costs a gap, no more");
    let t = ts(&second).unwrap();
    assert!(t > last_ts, "timestamp {t} is not after {last_ts}");

    // Without the directory the same restart repeats both.
    let amnesiac = SchedulerServer::new(Config::default(), 1, late);
    assert_eq!(amnesiac.alloc_id(), Ok(1));
    assert!(ts(&amnesiac).unwrap() < last_ts);
}

#[test]
fn a_reservation_that_cannot_be_written_hands_out_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("scheduler");
    let server =
        SchedulerServer::durable(Config::default(), 1, clock_at(SIMULATED_EPOCH_MS), &dir).unwrap();
    let id = server.alloc_id().unwrap();
    let reserved = server.reserved().unwrap();
    // The directory goes away under the running scheduler.
    std::fs::remove_dir_all(&dir).unwrap();
    for _ in id + 1..reserved.ids_below {
        server.alloc_id().unwrap();
    }
    // The window is used up and a new one cannot be written.
    let err = server.alloc_id().unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err}");
    assert!(err.to_string().contains("reservation"), "{err}");
    assert_eq!(server.reserved(), Some(reserved), "nothing new is reserved");
    assert!(server.alloc_id().is_err(), "still refused");
}
