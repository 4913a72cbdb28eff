//! Which mechanism enforces disk quotas in a store, and how it is chosen.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::{btrfs, loopdev, projquota};

/// How a store enforces per-container disk quotas. Chosen once per store, shown by `berth info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuotaBackend {
    /// Project quotas of the store's file system (XFS `prjquota`, ext4 `quota,project`).
    ProjectQuota,
    /// One btrfs subvolume per container, limited by its qgroup.
    Btrfs,
    /// One sparse ext4 image per container, loop-mounted (works on any file system).
    LoopImage,
    /// Plain directories, no quota.
    None,
}

impl fmt::Display for QuotaBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuotaBackend::ProjectQuota => "project-quota",
            QuotaBackend::Btrfs => "btrfs",
            QuotaBackend::LoopImage => "loop-image",
            QuotaBackend::None => "none",
        })
    }
}

/// Check that `backend` can work on the file system of `root`; the reason if not.
pub fn check(root: &Path, backend: QuotaBackend) -> Result<(), String> {
    match backend {
        QuotaBackend::ProjectQuota => projquota::probe(root),
        QuotaBackend::Btrfs => btrfs::probe(root),
        QuotaBackend::LoopImage => loopdev::probe(),
        QuotaBackend::None => Ok(()),
    }
}

/// Pick the best backend for `root`: project quotas, then btrfs qgroups, then loop images.
pub fn detect(root: &Path) -> QuotaBackend {
    [
        QuotaBackend::ProjectQuota,
        QuotaBackend::Btrfs,
        QuotaBackend::LoopImage,
    ]
    .into_iter()
    .find(|b| check(root, *b).is_ok())
    .unwrap_or(QuotaBackend::None)
}

/// `preferred` if it works on `root`, else the detected backend.
pub fn choose(root: &Path, preferred: Option<QuotaBackend>) -> Result<QuotaBackend, Error> {
    match preferred {
        Some(backend) => {
            check(root, backend)
                .map(|()| backend)
                .map_err(|reason| Error::BackendUnavailable {
                    root: root.to_owned(),
                    backend,
                    reason,
                })
        }
        None => Ok(detect(root)),
    }
}
