//! The Btrfs backend's subvolume and qgroup management, through `btrfs-progs` (run off the
//! container start path only: create, resize, usage, remove; mounting needs none of it).
//!
//! Overlay's workdir must be in the same subvolume as its upperdir: copy-up renames from
//! workdir into upperdir, and btrfs refuses renames across subvolumes (EXDEV). So both live
//! inside the container's subvolume and count against its qgroup; once the quota is full,
//! deleting a *lower* file (which needs a whiteout) fails with EDQUOT too, while deleting
//! the container's own files frees space as expected.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::command;
use crate::error::Error;

const BTRFS_SUPER_MAGIC: u64 = 0x9123_683e;

/// Whether `root` is on btrfs and quotas (qgroups) are or can be enabled there.
pub fn probe(root: &Path) -> Result<(), String> {
    let stat = rustix::fs::statfs(root).map_err(|e| format!("statfs: {e}"))?;
    // f_type's integer type differs between targets.
    #[allow(clippy::unnecessary_cast)]
    if stat.f_type as u64 != BTRFS_SUPER_MAGIC {
        return Err("not a btrfs file system".to_owned());
    }
    enable_quota(root).map_err(|e| e.to_string())
}

/// Turn on qgroup accounting for the file system of `root` (idempotent).
pub fn enable_quota(root: &Path) -> Result<(), Error> {
    command::run(
        "btrfs",
        &["quota".as_ref(), "enable".as_ref(), root.as_os_str()],
    )
    .map(drop)
}

/// Create the subvolume `path`; returns its id (its qgroup is `0/<id>`).
pub fn create_subvolume(path: &Path) -> Result<u64, Error> {
    command::run(
        "btrfs",
        &["subvolume".as_ref(), "create".as_ref(), path.as_os_str()],
    )?;
    subvolume_id(path)
}

/// The id of the subvolume at `path`.
pub fn subvolume_id(path: &Path) -> Result<u64, Error> {
    let out = command::run(
        "btrfs",
        &[
            "inspect-internal".as_ref(),
            "rootid".as_ref(),
            path.as_os_str(),
        ],
    )?;
    out.trim().parse().map_err(|_| Error::CommandOutput {
        command: format!("btrfs inspect-internal rootid {}", path.display()),
        output: out.clone(),
    })
}

/// Limit the referenced bytes of the subvolume at `path` to `bytes`.
pub fn limit(path: &Path, bytes: u64) -> Result<(), Error> {
    command::run(
        "btrfs",
        &[
            "qgroup".as_ref(),
            "limit".as_ref(),
            bytes.to_string().as_ref(),
            path.as_os_str(),
        ],
    )
    .map(drop)
}

/// Delete the subvolume at `path` (id `subvol`), then remove its qgroup as
/// [`destroy_qgroup`] does. Returns whether the qgroup is gone.
pub fn delete_subvolume(
    root: &Path,
    path: &Path,
    subvol: u64,
    wait: Duration,
) -> Result<bool, Error> {
    if path.exists() {
        command::run(
            "btrfs",
            &[
                "subvolume".as_ref(),
                "delete".as_ref(),
                "--commit-after".as_ref(),
                path.as_os_str(),
            ],
        )?;
    }
    destroy_qgroup(root, subvol, wait)
}

/// Try for up to `wait` to remove qgroup `0/<subvol>` of a deleted subvolume; returns
/// whether it is gone. The kernel refuses until the cleaner thread has dropped the deleted
/// subvolume, which it does asynchronously: right after we poke it, or at the next
/// periodic commit (30 s) if it was busy. So this waits a bounded time (`btrfs subvolume
/// sync` would wait for the drop) and leaves the rest to `repair`.
pub fn destroy_qgroup(root: &Path, subvol: u64, wait: Duration) -> Result<bool, Error> {
    let qgroup_id = format!("0/{subvol}");
    let start = Instant::now();
    loop {
        if qgroup(root, subvol)?.is_none() {
            return Ok(true);
        }
        // Failing while the subvolume is not dropped yet is expected; the qgroup's
        // presence is what counts. (Newer kernels also remove it themselves.)
        let _ = command::run(
            "btrfs",
            &[
                "qgroup".as_ref(),
                "destroy".as_ref(),
                qgroup_id.as_ref(),
                root.as_os_str(),
            ],
        );
        if qgroup(root, subvol)?.is_none() {
            return Ok(true);
        }
        // BTRFS_IOC_SYNC pokes the transaction thread, which wakes the cleaner: without
        // it the deleted subvolume may wait for the next periodic commit (30 s).
        command::run(
            "btrfs",
            &["filesystem".as_ref(), "sync".as_ref(), root.as_os_str()],
        )?;
        if start.elapsed() >= wait {
            return Ok(false);
        }
        std::thread::sleep(QGROUP_POLL);
    }
}

const QGROUP_POLL: Duration = Duration::from_millis(100);

/// Referenced bytes and limit of qgroup `0/<subvol>`, accurate as of now (the file system
/// is synced first: qgroup numbers are updated at transaction commit).
pub fn usage(root: &Path, subvol: u64) -> Result<(u64, Option<u64>), Error> {
    let dir = std::fs::File::open(root).map_err(|source| Error::Sync {
        path: root.to_owned(),
        source,
    })?;
    rustix::fs::syncfs(&dir).map_err(|e| Error::Sync {
        path: root.to_owned(),
        source: e.into(),
    })?;
    qgroup(root, subvol)?.ok_or_else(|| Error::QgroupMissing {
        subvol,
        root: root.to_owned(),
    })
}

/// Qgroup `0/<subvol>` from `btrfs qgroup show`: (referenced, max referenced).
fn qgroup(root: &Path, subvol: u64) -> Result<Option<(u64, Option<u64>)>, Error> {
    let out = command::run(
        "btrfs",
        &[
            "qgroup".as_ref(),
            "show".as_ref(),
            "--raw".as_ref(),
            "-r".as_ref(),
            root.as_os_str(),
        ],
    )?;
    parse_qgroup(&out, subvol).map_err(|()| Error::CommandOutput {
        command: format!("btrfs qgroup show --raw -r {}", root.display()),
        output: out.clone(),
    })
}

fn parse_qgroup(out: &str, subvol: u64) -> Result<Option<(u64, Option<u64>)>, ()> {
    let wanted = format!("0/{subvol}");
    let Some(row) = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&wanted.as_str()))
    else {
        return Ok(None);
    };
    // Qgroupid Referenced Exclusive Max-referenced Path
    let referenced = row.get(1).and_then(|v| v.parse().ok()).ok_or(())?;
    let max = match row.get(3) {
        Some(&"none") => None,
        Some(v) => Some(v.parse().map_err(|_| ())?),
        None => return Err(()),
    };
    Ok(Some((referenced, max)))
}

#[cfg(test)]
mod tests {
    use super::parse_qgroup;

    #[test]
    fn parses_qgroup_rows() {
        let out = "Qgroupid    Referenced    Exclusive  Max referenced   Path \n\
                   --------    ----------    ---------  --------------   ---- \n\
                   0/5              16384        16384            none   <toplevel>\n\
                   0/257            32768        16384        33554432   sv2\n";
        assert_eq!(parse_qgroup(out, 257), Ok(Some((32768, Some(33554432)))));
        assert_eq!(parse_qgroup(out, 5), Ok(Some((16384, None))));
        assert_eq!(parse_qgroup(out, 300), Ok(None));
    }
}
