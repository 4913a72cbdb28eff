//! Non-overlapping 65536-id ranges, one per container (LXD's `security.idmap.isolated`):
//! root in one container is an unprivileged, unique id to the host and to every other
//! container.
//!
//! The pool is the host's subordinate ids: the `berth` entry of /etc/subuid and
//! /etc/subgid, else the `root` entry; without either, [`DEFAULT_POOL_START`] (documented
//! and reported through [`PoolSource::Default`]). Allocations are kept in
//! `<data_root>/idranges.json`, replaced atomically (write, fsync, rename) under an
//! exclusive `flock` of `<data_root>/idranges.lock`, so concurrent managers never hand out
//! one range twice; a range comes back only through [`IdRangeAllocator::release`].

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Error;

/// Ids per container: the whole 16-bit id space a distribution image uses.
pub const RANGE_SIZE: u32 = 65536;
/// Start of the fallback pool when no subordinate-id entry exists: far above any uid a
/// distribution or LDAP directory hands out, and below 2^31 to keep clear of tools that
/// treat ids as signed.
pub const DEFAULT_POOL_START: u32 = 1_000_000_000;
/// Ranges in the fallback pool (1e9 .. 1e9 + 16384 * 65536 < 2^31).
pub const DEFAULT_POOL_RANGES: u32 = 16384;

const STATE_FILE: &str = "idranges.json";
const LOCK_FILE: &str = "idranges.lock";

/// Where the pool came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolSource {
    /// `/etc/subuid` + `/etc/subgid` entries of this user name.
    Subordinate { user: String },
    /// No entry: the documented default range starting at [`DEFAULT_POOL_START`].
    Default,
}

/// A contiguous id pool: `count` ids from `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    pub start: u32,
    pub count: u32,
}

/// One container's ids: container ids `0..size` are host ids `uid_start..` and `gid_start..`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub uid_start: u32,
    pub gid_start: u32,
    pub size: u32,
}

#[derive(Default, Serialize, Deserialize)]
struct State {
    /// owner (container id) -> slot index in the pool.
    slots: BTreeMap<String, u32>,
}

/// Hands out and takes back per-container id ranges, persistently.
pub struct IdRangeAllocator {
    root: PathBuf,
    uids: Pool,
    gids: Pool,
    source: PoolSource,
}

impl IdRangeAllocator {
    /// The allocator for the host's subordinate ids (see the module doc) with its state
    /// under `data_root` (created if missing).
    pub fn open(data_root: &Path) -> Result<Self, Error> {
        let (uids, gids, source) = host_pool(Path::new("/etc/subuid"), Path::new("/etc/subgid"))?;
        Self::with_pools(data_root, uids, gids, source)
    }

    /// An allocator over explicit pools (tests; managers with their own configuration).
    pub fn with_pools(
        data_root: &Path,
        uids: Pool,
        gids: Pool,
        source: PoolSource,
    ) -> Result<Self, Error> {
        for (what, p) in [("uid", uids), ("gid", gids)] {
            if p.count < RANGE_SIZE || p.start.checked_add(p.count - 1).is_none() {
                return Err(Error::PoolTooSmall {
                    what,
                    start: p.start,
                    count: p.count,
                });
            }
        }
        std::fs::create_dir_all(data_root).map_err(|source| Error::DataRoot {
            path: data_root.to_path_buf(),
            source,
        })?;
        Ok(Self {
            root: data_root.to_path_buf(),
            uids,
            gids,
            source,
        })
    }

    /// Where the pool came from (tell the user when it is the default).
    pub fn source(&self) -> &PoolSource {
        &self.source
    }

    /// The range of `owner`, allocating the lowest free one if it has none yet.
    pub fn allocate(&self, owner: &str) -> Result<IdRange, Error> {
        let _lock = self.lock()?;
        let mut state = self.load()?;
        if let Some(&slot) = state.slots.get(owner) {
            return Ok(self.range(slot));
        }
        let capacity = self.uids.count.min(self.gids.count) / RANGE_SIZE;
        let used: std::collections::BTreeSet<u32> = state.slots.values().copied().collect();
        let slot = (0..capacity)
            .find(|s| !used.contains(s))
            .ok_or(Error::Exhausted { ranges: capacity })?;
        state.slots.insert(owner.to_string(), slot);
        self.store(&state)?;
        Ok(self.range(slot))
    }

    /// The range of `owner`, if it has one.
    pub fn get(&self, owner: &str) -> Result<Option<IdRange>, Error> {
        let _lock = self.lock()?;
        Ok(self.load()?.slots.get(owner).map(|&s| self.range(s)))
    }

    /// Give `owner`'s range back (on container removal). Returns whether it had one.
    pub fn release(&self, owner: &str) -> Result<bool, Error> {
        let _lock = self.lock()?;
        let mut state = self.load()?;
        let had = state.slots.remove(owner).is_some();
        if had {
            self.store(&state)?;
        }
        Ok(had)
    }

    fn range(&self, slot: u32) -> IdRange {
        IdRange {
            uid_start: self.uids.start + slot * RANGE_SIZE,
            gid_start: self.gids.start + slot * RANGE_SIZE,
            size: RANGE_SIZE,
        }
    }

    fn lock(&self) -> Result<File, Error> {
        let path = self.root.join(LOCK_FILE);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(|source| Error::Lock {
                path: path.clone(),
                source,
            })?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).map_err(|e| {
            Error::Lock {
                path,
                source: e.into(),
            }
        })?;
        Ok(f)
    }

    fn load(&self) -> Result<State, Error> {
        let path = self.root.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| Error::StateCorrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(source) => Err(Error::StateIo { path, source }),
        }
    }

    fn store(&self, state: &State) -> Result<(), Error> {
        let path = self.root.join(STATE_FILE);
        let tmp = self.root.join(format!("{STATE_FILE}.tmp"));
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| Error::StateIo { path: p, source }
        };
        let data = serde_json::to_vec_pretty(state).map_err(|e| Error::StateCorrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(&data).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(&self.root)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.root))
    }
}

/// The pool from /etc/subuid and /etc/subgid: `berth`, else `root`, else the default.
pub fn host_pool(subuid: &Path, subgid: &Path) -> Result<(Pool, Pool, PoolSource), Error> {
    let read = |p: &Path| match std::fs::read_to_string(p) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(Error::Subordinate {
            path: p.to_path_buf(),
            source,
        }),
    };
    let (u, g) = (read(subuid)?, read(subgid)?);
    for user in ["berth", "root"] {
        if let (Some(up), Some(gp)) = (entry(&u, user), entry(&g, user)) {
            if up.count >= RANGE_SIZE && gp.count >= RANGE_SIZE {
                return Ok((up, gp, PoolSource::Subordinate { user: user.into() }));
            }
        }
    }
    let p = Pool {
        start: DEFAULT_POOL_START,
        count: DEFAULT_POOL_RANGES * RANGE_SIZE,
    };
    Ok((p, p, PoolSource::Default))
}

/// The largest `user:start:count` line for `user`.
fn entry(content: &str, user: &str) -> Option<Pool> {
    content
        .lines()
        .filter_map(|l| {
            let mut it = l.trim().split(':');
            let (name, start, count) = (it.next()?, it.next()?, it.next()?);
            (name == user).then_some(())?;
            Some(Pool {
                start: start.parse().ok()?,
                count: count.parse().ok()?,
            })
        })
        .max_by_key(|p| p.count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let p =
            std::env::temp_dir().join(format!("berth-test-idrange-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn ranges_are_unique_persistent_and_released() {
        let root = tmp("alloc");
        let pool = Pool {
            start: 200_000,
            count: 3 * RANGE_SIZE,
        };
        let a = IdRangeAllocator::with_pools(&root, pool, pool, PoolSource::Default).unwrap();
        let r1 = a.allocate("c1").unwrap();
        let r2 = a.allocate("c2").unwrap();
        assert_eq!(r1.uid_start, 200_000);
        assert_eq!(r2.uid_start, 200_000 + RANGE_SIZE);
        assert_eq!(a.allocate("c1").unwrap(), r1, "idempotent per owner");
        // A second allocator (another process) sees the same state.
        let b = IdRangeAllocator::with_pools(&root, pool, pool, PoolSource::Default).unwrap();
        assert_eq!(b.get("c2").unwrap(), Some(r2));
        let r3 = b.allocate("c3").unwrap();
        assert!(matches!(
            a.allocate("c4"),
            Err(Error::Exhausted { ranges: 3 })
        ));
        assert!(b.release("c2").unwrap());
        assert!(!b.release("c2").unwrap());
        assert_eq!(a.allocate("c4").unwrap(), r2, "released range reused");
        assert_ne!(r3, r1);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn concurrent_allocations_never_collide() {
        let root = tmp("conc");
        let pool = Pool {
            start: 300_000,
            count: 64 * RANGE_SIZE,
        };
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let root = root.clone();
                std::thread::spawn(move || {
                    let a = IdRangeAllocator::with_pools(&root, pool, pool, PoolSource::Default)
                        .unwrap();
                    (0..4)
                        .map(|i| a.allocate(&format!("t{t}-{i}")).unwrap().uid_start)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<u32> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort();
        let n = all.len();
        all.dedup();
        assert_eq!(all.len(), n, "a range was handed out twice");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn pool_from_subordinate_files() {
        let root = tmp("sub");
        std::fs::create_dir_all(&root).unwrap();
        let (u, g) = (root.join("subuid"), root.join("subgid"));
        std::fs::write(&u, "alice:100000:65536\nroot:500000:1000000\n").unwrap();
        std::fs::write(&g, "root:600000:1000000\n").unwrap();
        let (up, gp, src) = host_pool(&u, &g).unwrap();
        assert_eq!(
            src,
            PoolSource::Subordinate {
                user: "root".into()
            }
        );
        assert_eq!((up.start, gp.start), (500_000, 600_000));
        std::fs::write(&g, "root:600000:100\n").unwrap();
        let (up, _, src) = host_pool(&u, &g).unwrap();
        assert_eq!(src, PoolSource::Default);
        assert_eq!(up.start, DEFAULT_POOL_START);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
