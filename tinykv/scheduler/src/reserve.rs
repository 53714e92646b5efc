//! What a restarted scheduler must not hand out again: ids and timestamps
//! are reserved in windows, and a window is on disk before anything in it
//! leaves the scheduler.
//!
//! PD keeps the same two high-water marks in etcd: ids are allocated in
//! steps of 1,000 and the TSO saves "now + 3 s" ahead of the timestamps it
//! hands out, so a restart costs at most a gap, never a repeat. Here the
//! marks are one small file in the scheduler's data directory, replaced
//! atomically (write, sync, rename, sync the directory).
//!
//! [`Reserved`] is the pure part (what must be durable before a request
//! is served); [`ReservationFile`] reads and writes it.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;

/// Ids reserved at a time.
pub const ID_WINDOW: u64 = 1_000;
/// Milliseconds of timestamps reserved at a time.
pub const TS_WINDOW_MS: u64 = 3_000;

/// The high-water marks: every id handed out is below `ids_below`, every
/// timestamp's physical part below `ts_below_ms`. A restart resumes ids at
/// `ids_below` and timestamps at `ts_below_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reserved {
    /// Ids handed out are below this.
    pub ids_below: u64,
    /// Timestamps handed out have a physical part (ms) below this.
    pub ts_below_ms: u64,
}

impl Reserved {
    /// What must be durable before handing out ids up to (not including)
    /// `ids_needed` and timestamps with a physical part below
    /// `ts_needed_ms`: `None` if this reservation already covers both,
    /// else the next one (each mark that falls short moves a window past
    /// what is needed; the other stays).
    pub fn extend_to(&self, ids_needed: u64, ts_needed_ms: u64) -> Option<Reserved> {
        if ids_needed <= self.ids_below && ts_needed_ms <= self.ts_below_ms {
            return None;
        }
        let ids_below = if ids_needed <= self.ids_below {
            self.ids_below
        } else {
            ids_needed.saturating_add(ID_WINDOW)
        };
        let ts_below_ms = if ts_needed_ms <= self.ts_below_ms {
            self.ts_below_ms
        } else {
            ts_needed_ms.saturating_add(TS_WINDOW_MS)
        };
        Some(Reserved {
            ids_below,
            ts_below_ms,
        })
    }

    fn encode(&self) -> String {
        format!(
            "tinykv-scheduler reservation v1\nids_below {}\nts_below_ms {}\n",
            self.ids_below, self.ts_below_ms
        )
    }

    fn decode(text: &str) -> Option<Reserved> {
        let mut lines = text.lines();
        if lines.next()? != "tinykv-scheduler reservation v1" {
            return None;
        }
        let mut field = |name: &str| {
            let (key, value) = lines.next()?.split_once(' ')?;
            (key == name).then(|| value.parse::<u64>().ok()).flatten()
        };
        let reserved = Reserved {
            ids_below: field("ids_below")?,
            ts_below_ms: field("ts_below_ms")?,
        };
        lines.next().is_none().then_some(reserved)
    }
}

/// The reservation's file, `DIR/reservation`.
#[derive(Debug)]
pub struct ReservationFile {
    dir: PathBuf,
    current: Reserved,
}

/// The file's name in the data directory.
pub const FILE_NAME: &str = "reservation";

impl ReservationFile {
    /// Opens `dir` (created if missing) and reads its reservation; a new
    /// directory reserves nothing yet. A file that is not a reservation is
    /// refused, never overwritten.
    pub fn open(dir: &Path) -> Result<ReservationFile, Error> {
        let io = |what: &str, path: &Path, e: std::io::Error| {
            Error::Storage(format!("{what} {}: {e}", path.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
        let path = dir.join(FILE_NAME);
        let current = match std::fs::read_to_string(&path) {
            Ok(text) => Reserved::decode(&text).ok_or_else(|| {
                Error::Storage(format!(
                    "{} is not a tinykv-scheduler reservation (a corrupt or foreign data \
                     directory?); refusing to start",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Reserved::default(),
            Err(e) => return Err(io("cannot read", &path, e)),
        };
        Ok(ReservationFile {
            dir: dir.to_path_buf(),
            current,
        })
    }

    /// What is reserved (durably).
    pub fn current(&self) -> Reserved {
        self.current
    }

    /// Makes sure ids below `ids_needed` and timestamps below
    /// `ts_needed_ms` are reserved on disk, writing a new reservation if
    /// they are not. On an error nothing new is reserved.
    pub fn cover(&mut self, ids_needed: u64, ts_needed_ms: u64) -> Result<(), Error> {
        let Some(next) = self.current.extend_to(ids_needed, ts_needed_ms) else {
            return Ok(());
        };
        self.write(next)?;
        self.current = next;
        Ok(())
    }

    fn write(&self, reserved: Reserved) -> Result<(), Error> {
        let path = self.dir.join(FILE_NAME);
        let tmp = self.dir.join(format!("{FILE_NAME}.tmp"));
        let fail = |what: &str, e: std::io::Error| {
            Error::Storage(format!("cannot {what} {}: {e}", path.display()))
        };
        let mut file = std::fs::File::create(&tmp).map_err(|e| fail("write", e))?;
        file.write_all(reserved.encode().as_bytes())
            .map_err(|e| fail("write", e))?;
        file.sync_all().map_err(|e| fail("sync", e))?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(|e| fail("replace", e))?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| fail("sync the directory of", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_moves_only_the_mark_that_falls_short() {
        let r = Reserved {
            ids_below: 1_000,
            ts_below_ms: 5_000,
        };
        assert_eq!(r.extend_to(1_000, 5_000), None, "both covered");
        assert_eq!(
            r.extend_to(1_001, 10),
            Some(Reserved {
                ids_below: 2_001,
                ts_below_ms: 5_000
            })
        );
        assert_eq!(
            r.extend_to(3, 5_001),
            Some(Reserved {
                ids_below: 1_000,
                ts_below_ms: 8_001
            })
        );
    }

    #[test]
    fn the_file_round_trips_and_refuses_what_is_not_a_reservation() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = ReservationFile::open(dir.path()).unwrap();
        assert_eq!(file.current(), Reserved::default());
        file.cover(7, 1_767_225_600_000).unwrap();
        let want = Reserved {
            ids_below: 7 + ID_WINDOW,
            ts_below_ms: 1_767_225_600_000 + TS_WINDOW_MS,
        };
        assert_eq!(file.current(), want);
        assert_eq!(ReservationFile::open(dir.path()).unwrap().current(), want);
        assert!(!dir.path().join("reservation.tmp").exists());
        for bad in [
            "",
            "tinykv-scheduler reservation v1\nids_below 5\n",
            "tinykv-scheduler reservation v1\nids_below x\nts_below_ms 1\n",
            "tinykv-scheduler reservation v1\nts_below_ms 1\nids_below 5\n",
            "tinykv-scheduler reservation v1\nids_below 5\nts_below_ms 1\nmore\n",
        ] {
            std::fs::write(dir.path().join(FILE_NAME), bad).unwrap();
            let err = ReservationFile::open(dir.path()).unwrap_err();
            assert!(
                err.to_string()
                    .contains("not a tinykv-scheduler reservation"),
                "{err}"
            );
            assert_eq!(
                std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap(),
                bad
            );
        }
    }
}
