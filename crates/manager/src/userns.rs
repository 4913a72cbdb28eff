//! User namespaces (berth_container::defaults; LXD's `security.idmap.isolated`): by default
//! every container runs in its own user namespace with its own range of 65536 host ids,
//! taken when it is created and given back on `rm`. Its writable layer stores those ids and
//! its lower layers are shown through idmapped mounts (crates/storage, `create_shifted`),
//! so the host tree and image files keep their owners inside, and nothing is chowned.
//! `--userns host` opts out.
//!
//! Networks:
//! - `--network host`: the container has its own user namespace but the host's network
//!   namespace, which it does not own, so it cannot mount a sysfs: the host's `/sys` is
//!   bind-mounted read-only instead (non-recursive, as runc does for rootless containers);
//!   its `/sys/class/net` lists the host's interfaces, which the container sees anyway. It
//!   has no capability over the host's network.
//! - `--network container:ID`: a process in a user namespace cannot join a network
//!   namespace its user namespace does not own, and joining ID's user namespace instead
//!   would need the runtime to make the other namespaces after joining it (runc's nsexec
//!   stages; not done yet). So such a container runs without a user namespace: the CLI
//!   implies `--userns host` (said in `--help` and by `inspect`), and asking for a user
//!   namespace with it is an error.
//!
//! `inspect` shows the mode and range under `userns`.

use std::path::Path;

use berth_container::defaults::{IdRange, IdRangeAllocator};
use berth_storage::IdShift;

use crate::error::{Error, Result};
use crate::manager::Manager;
use crate::record::{ContainerRecord, NetworkMode};

/// A container's user namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserNs {
    /// `--userns host`: none (capabilities, seccomp and masked paths only).
    Host,
    /// Its own namespace with its own range.
    Own(IdRange),
}

impl UserNs {
    pub fn range(&self) -> Option<&IdRange> {
        match self {
            UserNs::Host => None,
            UserNs::Own(r) => Some(r),
        }
    }

    /// The user namespace a created container starts in: the range its writable layer was
    /// made for (taken at create), or none. `None` when record and layer disagree (a layer
    /// made by an older berth without shifted ids).
    pub fn of_layer(rec: &ContainerRecord, ids: Option<IdShift>) -> Option<UserNs> {
        match (Manager::uses_userns(rec), ids) {
            (false, None) => Some(UserNs::Host),
            (true, Some(s)) => Some(UserNs::Own(IdRange {
                uid_start: s.uid,
                gid_start: s.gid,
                size: s.count,
            })),
            _ => None,
        }
    }

    /// The shift of the container's storage.
    pub fn shift(&self) -> Option<IdShift> {
        self.range().map(|r| IdShift {
            uid: r.uid_start,
            gid: r.gid_start,
            count: r.size,
        })
    }
}

impl Manager {
    fn id_ranges(&self) -> Result<IdRangeAllocator> {
        Ok(IdRangeAllocator::open(self.layout.root())?)
    }

    /// Whether the container runs in a user namespace (the default; not `--userns host`).
    pub fn uses_userns(rec: &ContainerRecord) -> bool {
        rec.config.userns_private
    }

    /// The container's user namespace, allocating its range if it has none yet (`create`).
    pub(crate) fn userns_of(&self, rec: &ContainerRecord) -> Result<UserNs> {
        if !Self::uses_userns(rec) {
            return Ok(UserNs::Host);
        }
        if let NetworkMode::Container(target) = &rec.config.network {
            return Err(Error::InvalidOption {
                option: "--network",
                value: format!("container:{target}"),
                reason: "a container in its own user namespace cannot join another's network \
                         namespace; use --userns host"
                    .into(),
            });
        }
        check_searchable(self.layout.root())?;
        Ok(UserNs::Own(self.id_ranges()?.allocate(&rec.id)?))
    }

    /// Give the container's id range back (on removal).
    pub(crate) fn release_ids(&self, id: &str) -> Result<()> {
        self.id_ranges()?.release(id)?;
        Ok(())
    }

    /// What `inspect` shows under `userns`.
    pub(crate) fn userns_info(&self, rec: &ContainerRecord) -> serde_json::Value {
        if !Self::uses_userns(rec) {
            return match rec.config.network {
                NetworkMode::Container(_) => serde_json::json!({
                    "mode": "host",
                    "note": "no user namespace: it shares another container's network namespace",
                }),
                _ => serde_json::json!({ "mode": "host" }),
            };
        }
        let range = self
            .id_ranges()
            .ok()
            .and_then(|a| a.get(&rec.id).ok().flatten());
        let sys = match rec.config.network {
            NetworkMode::Host => "host /sys bound read-only (no sysfs of its own)",
            _ => "own sysfs",
        };
        serde_json::json!({
            "mode": "private",
            "uid_start": range.as_ref().map(|r| r.uid_start),
            "gid_start": range.as_ref().map(|r| r.gid_start),
            "size": range.as_ref().map(|r| r.size),
            "sys": sys,
        })
    }
}

/// The init of a container in its own user namespace opens its root file system (below the
/// data root) as the range's root, an unprivileged host id: every directory on the way must
/// let others through. Refused up front with the directory to fix, rather than as a
/// "permission denied" from inside the init.
fn check_searchable(data_root: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for dir in data_root.ancestors() {
        if let Ok(meta) = std::fs::metadata(dir) {
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o001 == 0 {
                return Err(Error::NotSearchable {
                    path: dir.to_path_buf(),
                    mode,
                });
            }
        }
    }
    Ok(())
}
