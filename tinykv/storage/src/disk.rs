//! The disk engine, on [redb](https://docs.rs/redb): one B-tree table per
//! CF in a single file, a write batch is one write transaction, a snapshot
//! is one MVCC read transaction.
//!
//! Why redb (measured against fjall, see `benches/engine.rs` and the crate
//! README): it runs no background threads (no compaction, flush or journal
//! workers), so what a reader sees depends only on the sequence of calls —
//! the deterministic simulation can use it and still replay byte for byte.
//! A synced commit is durable when `write` returns; an unsynced one
//! (`Durability::None`) may be lost on a crash but the file reopens at the
//! last durable commit, never torn.
//!
//! A data directory holds `kv.redb` and a marker file, [`MARKER`]; opening
//! a non-empty directory without the marker is refused (it is not ours),
//! and redb's exclusive file lock refuses a second opener — another process
//! or this one.

use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadOnlyTable, ReadTransaction, TableDefinition};

use crate::Error;
use crate::engine::{Cf, DbIterator, Engine, Modify, Snapshot, WriteBatch, WriteOptions};
use crate::mem::{bounds, is_empty_range};

/// The marker file's name inside a data directory.
pub const MARKER: &str = "TINYKV-STORAGE";
/// The marker file's content: format and version of the directory.
const MARKER_TEXT: &str = "tinykv-storage data directory; engine redb 2; layout 1\n";
/// The database file's name inside a data directory.
const DB_FILE: &str = "kv.redb";

type Table = TableDefinition<'static, &'static [u8], &'static [u8]>;

/// One table per keyspace, indexed by [`Cf::index`].
const TABLES: [Table; 4] = [
    TableDefinition::new("default"),
    TableDefinition::new("write"),
    TableDefinition::new("lock"),
    TableDefinition::new("meta"),
];

fn table(cf: Cf) -> Table {
    TABLES[cf.index()]
}

fn db_error(err: impl Into<redb::Error>) -> Error {
    Error::Db(err.into().to_string())
}

/// An engine in a data directory on disk.
#[derive(Debug)]
pub struct DiskEngine {
    db: Database,
    dir: PathBuf,
}

impl DiskEngine {
    /// Opens the engine in `dir`, creating the directory and the database
    /// if needed.
    ///
    /// # Errors
    /// [`Error::NotOurs`] if `dir` is a file, or a non-empty directory
    /// without our marker (nothing in it is touched);
    /// [`Error::Locked`] if the database is open elsewhere;
    /// [`Error::Io`]/[`Error::Db`] for anything the OS or redb refuses.
    pub fn open(dir: impl AsRef<Path>) -> Result<DiskEngine, Error> {
        let dir = dir.as_ref().to_path_buf();
        let shown = dir.display().to_string();
        let io = |what: &str, e: std::io::Error| Error::Io(format!("{what} {shown}: {e}"));
        if dir.exists() && !dir.is_dir() {
            return Err(Error::NotOurs {
                dir: shown,
                reason: "it is not a directory".into(),
            });
        }
        std::fs::create_dir_all(&dir).map_err(|e| io("cannot create", e))?;
        let marker = dir.join(MARKER);
        match std::fs::read_to_string(&marker) {
            Ok(text) if text == MARKER_TEXT => {}
            Ok(_) => {
                return Err(Error::NotOurs {
                    dir: shown,
                    reason: format!("{MARKER} names another format or version"),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let empty = std::fs::read_dir(&dir)
                    .map_err(|e| io("cannot list", e))?
                    .next()
                    .is_none();
                if !empty {
                    return Err(Error::NotOurs {
                        dir: shown,
                        reason: format!("it is not empty and has no {MARKER} file"),
                    });
                }
                write_marker(&dir).map_err(|e| io("cannot initialise", e))?;
            }
            Err(e) => return Err(io("cannot read the marker in", e)),
        }
        let db = match Database::create(dir.join(DB_FILE)) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(Error::Locked { dir: shown });
            }
            Err(e) => return Err(db_error(e)),
        };
        // Create every table once, so readers never meet a missing one.
        let txn = db.begin_write().map_err(db_error)?;
        for def in TABLES {
            txn.open_table(def).map_err(db_error)?;
        }
        txn.commit().map_err(db_error)?;
        Ok(DiskEngine { db, dir })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Writes the marker durably: to a temporary name, fsynced, then renamed,
/// so a crash leaves either no marker (the directory is still empty of
/// data) or a whole one.
fn write_marker(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{MARKER}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(MARKER_TEXT.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(MARKER))?;
    std::fs::File::open(dir)?.sync_all()
}

impl Engine for DiskEngine {
    fn write(&self, batch: &WriteBatch, opts: WriteOptions) -> Result<(), Error> {
        let mut txn = self.db.begin_write().map_err(db_error)?;
        txn.set_durability(if opts.sync {
            Durability::Immediate
        } else {
            Durability::None
        });
        {
            // Tables are opened lazily, each at most once per batch.
            let mut open: [Option<redb::Table<'_, &[u8], &[u8]>>; 4] = Default::default();
            for modify in batch.modifies() {
                match modify {
                    Modify::Put { cf, key, value } => {
                        let t = open_in(&txn, &mut open, *cf)?;
                        t.insert(key.as_slice(), value.as_slice())
                            .map_err(db_error)?;
                    }
                    Modify::Delete { cf, key } => {
                        let t = open_in(&txn, &mut open, *cf)?;
                        t.remove(key.as_slice()).map_err(db_error)?;
                    }
                    Modify::DeleteRange { start, end } if is_empty_range(start, end) => {}
                    Modify::DeleteRange { start, end } => {
                        for cf in Cf::DATA {
                            let t = open_in(&txn, &mut open, cf)?;
                            t.retain_in::<&[u8], _>(bounds(start, end), |_, _| false)
                                .map_err(db_error)?;
                        }
                    }
                }
            }
        }
        // Any error above drops `txn` uncommitted: redb aborts it, so the
        // batch is all or nothing.
        txn.commit().map_err(db_error)
    }

    fn snapshot(&self) -> Result<Box<dyn Snapshot>, Error> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let mut tables = Vec::with_capacity(4);
        for def in TABLES {
            tables.push(txn.open_table(def).map_err(db_error)?);
        }
        Ok(Box::new(DiskSnapshot { _txn: txn, tables }))
    }
}

fn open_in<'t, 'o>(
    txn: &'t redb::WriteTransaction,
    open: &'o mut [Option<redb::Table<'t, &'static [u8], &'static [u8]>>; 4],
    cf: Cf,
) -> Result<&'o mut redb::Table<'t, &'static [u8], &'static [u8]>, Error> {
    let slot = &mut open[cf.index()];
    if slot.is_none() {
        *slot = Some(txn.open_table(table(cf)).map_err(db_error)?);
    }
    slot.as_mut()
        .ok_or_else(|| Error::Db("table vanished".into()))
}

struct DiskSnapshot {
    /// Keeps the MVCC read transaction (the point in time) alive.
    _txn: ReadTransaction,
    /// The four tables as of that point, indexed by [`Cf::index`].
    tables: Vec<ReadOnlyTable<&'static [u8], &'static [u8]>>,
}

impl Snapshot for DiskSnapshot {
    fn get_cf(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let guard = self.tables[cf.index()].get(key).map_err(db_error)?;
        Ok(guard.map(|v| v.value().to_vec()))
    }

    fn iter_cf(&self, cf: Cf) -> Result<Box<dyn DbIterator + '_>, Error> {
        let mut it = DiskIter {
            table: &self.tables[cf.index()],
            range: None,
            current: None,
        };
        it.seek(&[])?;
        Ok(Box::new(it))
    }
}

struct DiskIter<'a> {
    table: &'a ReadOnlyTable<&'static [u8], &'static [u8]>,
    /// The pairs after `current`.
    range: Option<redb::Range<'static, &'static [u8], &'static [u8]>>,
    /// The current pair, copied out of the page it lives on.
    current: Option<(Vec<u8>, Vec<u8>)>,
}

impl DiskIter<'_> {
    fn advance(&mut self) -> Result<(), Error> {
        self.current = match self.range.as_mut().and_then(Iterator::next) {
            None => None,
            Some(Err(e)) => {
                self.range = None;
                return Err(db_error(e));
            }
            Some(Ok((k, v))) => Some((k.value().to_vec(), v.value().to_vec())),
        };
        Ok(())
    }
}

impl DbIterator for DiskIter<'_> {
    fn seek(&mut self, key: &[u8]) -> Result<(), Error> {
        self.range = Some(self.table.range::<&[u8]>(key..).map_err(db_error)?);
        self.advance()
    }

    fn item(&self) -> Option<(&[u8], &[u8])> {
        self.current
            .as_ref()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    fn next(&mut self) -> Result<(), Error> {
        if self.current.is_some() {
            self.advance()?;
        }
        Ok(())
    }
}
