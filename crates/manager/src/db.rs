//! The metadata store: one redb table of container records (JSON values keyed by id).
//!
//! redb locks its file for as long as a process has it open, so two `berth` commands (and
//! the monitors) cannot keep it open side by side. Each access therefore takes the data
//! root's flock, opens the database, runs one transaction and closes it again: commands
//! queue on the flock for the few hundred microseconds a transaction takes. redb's commits
//! are crash-safe, and the flock is released by the kernel when a holder is killed.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

use redb::{Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::record::ContainerRecord;

const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");

pub struct Db {
    path: PathBuf,
    lock: PathBuf,
}

/// The open database with the data root's lock held.
struct Open {
    db: Database,
    _lock: File,
}

/// Opened for reading only: no header write and no fsync (a read-write open costs several).
struct OpenRead {
    db: Box<dyn ReadableDatabase>,
    _lock: File,
}

impl Db {
    pub fn new(layout: &Layout) -> Db {
        Db {
            path: layout.db(),
            lock: layout.lock(),
        }
    }

    fn open(&self) -> Result<Open> {
        let lock = self.lock()?;
        if !self.path.exists() {
            self.create_atomically()?;
        }
        let db = Database::create(&self.path).map_err(|e| self.err(e))?;
        Ok(Open { db, _lock: lock })
    }

    fn open_read(&self) -> Result<OpenRead> {
        let lock = self.lock()?;
        if !self.path.exists() {
            self.create_atomically()?;
        }
        // After a crash the file may need redb's repair, which only a read-write open does.
        let db: Box<dyn ReadableDatabase> = match ReadOnlyDatabase::open(&self.path) {
            Ok(db) => Box::new(db),
            Err(_) => Box::new(Database::create(&self.path).map_err(|e| self.err(e))?),
        };
        Ok(OpenRead { db, _lock: lock })
    }

    fn lock(&self) -> Result<File> {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(|source| Error::Lock {
                path: self.lock.clone(),
                source,
            })?;
        loop {
            match rustix::fs::flock(lock.as_fd(), rustix::fs::FlockOperation::LockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    return Err(Error::Lock {
                        path: self.lock.clone(),
                        source: e.into(),
                    })
                }
            }
        }
        Ok(lock)
    }

    /// A new database is made under a temporary name and renamed into place: a kill while
    /// redb writes its header must not leave a file that is "not a redb database".
    fn create_atomically(&self) -> Result<()> {
        let tmp = self.path.with_extension("redb.tmp");
        match std::fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Remove { path: tmp, source }),
        }
        drop(Database::create(&tmp).map_err(|e| self.err(e))?);
        std::fs::rename(&tmp, &self.path).map_err(|source| Error::Write {
            path: self.path.clone(),
            source,
        })
    }

    fn err(&self, e: impl Into<redb::Error>) -> Error {
        Error::Db {
            path: self.path.clone(),
            source: e.into(),
        }
    }

    /// Every container record, in id order.
    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        let open = self.open_read()?;
        let tx = open.db.begin_read().map_err(|e| self.err(e))?;
        let table = match tx.open_table(CONTAINERS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.err(e))? {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    pub fn get(&self, id: &str) -> Result<Option<ContainerRecord>> {
        let open = self.open_read()?;
        let tx = open.db.begin_read().map_err(|e| self.err(e))?;
        let table = match tx.open_table(CONTAINERS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.err(e)),
        };
        match table.get(id).map_err(|e| self.err(e))? {
            Some(v) => Ok(Some(decode(id, v.value())?)),
            None => Ok(None),
        }
    }

    /// Read-modify-write of every record in one transaction: `f` sees all records and returns
    /// what to write back (`Some`) or delete (`None`) by id; its result is passed through.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&[ContainerRecord]) -> Result<(Vec<(String, Option<ContainerRecord>)>, T)>,
    ) -> Result<T> {
        let open = self.open()?;
        let tx = open.db.begin_write().map_err(|e| self.err(e))?;
        let out = {
            let mut table = tx.open_table(CONTAINERS).map_err(|e| self.err(e))?;
            let mut all = Vec::new();
            for entry in table.iter().map_err(|e| self.err(e))? {
                let (k, v) = entry.map_err(|e| self.err(e))?;
                all.push(decode(k.value(), v.value())?);
            }
            let (changes, out) = f(&all)?;
            for (id, rec) in changes {
                match rec {
                    Some(rec) => {
                        let data = serde_json::to_vec(&rec).map_err(|source| Error::Serialize {
                            what: "container record",
                            source,
                        })?;
                        table
                            .insert(id.as_str(), data.as_slice())
                            .map_err(|e| self.err(e))?;
                    }
                    None => {
                        table.remove(id.as_str()).map_err(|e| self.err(e))?;
                    }
                }
            }
            out
        };
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// Change one record if it still exists; returns the new record.
    pub fn modify(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerRecord),
    ) -> Result<Option<ContainerRecord>> {
        self.update(|all| {
            let Some(mut rec) = all.iter().find(|r| r.id == id).cloned() else {
                return Ok((Vec::new(), None));
            };
            f(&mut rec);
            Ok((vec![(id.to_string(), Some(rec.clone()))], Some(rec)))
        })
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        self.update(|_| Ok((vec![(id.to_string(), None)], ())))
    }
}

fn decode(id: &str, data: &[u8]) -> Result<ContainerRecord> {
    serde_json::from_slice(data).map_err(|source| Error::RecordCorrupt {
        id: id.to_string(),
        source,
    })
}
