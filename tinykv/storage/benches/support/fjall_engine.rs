//! fjall behind the [`Engine`] trait, for the benchmark only: one
//! partition per CF, a batch is one fjall batch, a snapshot is every
//! partition read at one sequence number.

use std::path::Path;

use fjall::{Config, Keyspace, PartitionCreateOptions, PartitionHandle, PersistMode};
use tinykv_storage::{Cf, DbIterator, Engine, Error, Modify, Snapshot, WriteBatch, WriteOptions};

pub struct FjallEngine {
    keyspace: Keyspace,
    /// Indexed like `Cf::ALL`.
    parts: Vec<PartitionHandle>,
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Db(e.to_string())
}

fn slot(cf: Cf) -> usize {
    Cf::ALL.iter().position(|&c| c == cf).unwrap()
}

impl FjallEngine {
    pub fn open(dir: &Path) -> FjallEngine {
        let keyspace = Config::new(dir.join("fjall")).open().unwrap();
        let parts = Cf::ALL
            .iter()
            .map(|cf| {
                keyspace
                    .open_partition(cf.name(), PartitionCreateOptions::default())
                    .unwrap()
            })
            .collect();
        FjallEngine { keyspace, parts }
    }
}

impl Engine for FjallEngine {
    fn write(&self, batch: &WriteBatch, opts: WriteOptions) -> Result<(), Error> {
        let mut b = self.keyspace.batch();
        if opts.sync {
            b = b.durability(Some(PersistMode::SyncAll));
        }
        for m in batch.modifies() {
            match m {
                Modify::Put { cf, key, value } => {
                    b.insert(&self.parts[slot(*cf)], key.as_slice(), value.as_slice())
                }
                Modify::Delete { cf, key } => b.remove(&self.parts[slot(*cf)], key.as_slice()),
                Modify::DeleteRange { .. } => return Err(Error::Db("not in the bench".into())),
            }
        }
        b.commit().map_err(err)
    }

    fn snapshot(&self) -> Result<Box<dyn Snapshot>, Error> {
        let at = self.keyspace.instant();
        Ok(Box::new(FjallSnapshot(
            self.parts.iter().map(|p| p.snapshot_at(at)).collect(),
        )))
    }
}

struct FjallSnapshot(Vec<fjall::Snapshot>);

impl Snapshot for FjallSnapshot {
    fn get_cf(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.0[slot(cf)].get(key).map_err(err)?.map(|v| v.to_vec()))
    }

    fn iter_cf(&self, cf: Cf) -> Result<Box<dyn DbIterator + '_>, Error> {
        let mut it = FjallIter {
            snap: &self.0[slot(cf)],
            range: None,
            current: None,
        };
        it.seek(&[])?;
        Ok(Box::new(it))
    }
}

type Range = Box<dyn Iterator<Item = Result<(fjall::Slice, fjall::Slice), fjall::LsmError>>>;

struct FjallIter<'a> {
    snap: &'a fjall::Snapshot,
    range: Option<Range>,
    current: Option<(fjall::Slice, fjall::Slice)>,
}

impl DbIterator for FjallIter<'_> {
    fn seek(&mut self, key: &[u8]) -> Result<(), Error> {
        self.range = Some(Box::new(self.snap.range(key.to_vec()..)));
        self.current = None;
        self.next_any()
    }

    fn item(&self) -> Option<(&[u8], &[u8])> {
        self.current.as_ref().map(|(k, v)| (&k[..], &v[..]))
    }

    fn next(&mut self) -> Result<(), Error> {
        self.next_any()
    }
}

impl FjallIter<'_> {
    fn next_any(&mut self) -> Result<(), Error> {
        self.current = match self.range.as_mut().and_then(Iterator::next) {
            None => None,
            Some(r) => Some(r.map_err(err)?),
        };
        Ok(())
    }
}
