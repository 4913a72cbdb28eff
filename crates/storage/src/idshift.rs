//! Containers in their own user namespace (ids `0..count` inside are `uid..uid+count`
//! on the host): their overlay shows the lower layers through idmapped mounts, and what
//! they write is stored with the shifted ids.
//!
//! Why the upper directory is not idmapped too: with shifted ids on disk, a file the
//! container makes (a setuid-root binary, say) is owned by an unprivileged host id, harmless
//! outside the container; an idmapped upper would store it as host root. Overlay's copy-up
//! takes the owner as the idmapped lower shows it (host 0 appears as `uid`), so copied-up
//! files get shifted ids as well. The upper's root directory (and the host masks) are
//! chowned to the shifted ids once, when the container is made.

use serde::{Deserialize, Serialize};

/// The id range a container's files are shown with and stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdShift {
    /// Host uid of the container's uid 0.
    pub uid: u32,
    /// Host gid of the container's gid 0.
    pub gid: u32,
    /// Number of ids mapped (65536 for the manager's ranges).
    pub count: u32,
}

/// Overflow id the kernel shows for unmapped ids (`/proc/sys/kernel/overflowuid`).
const OVERFLOW: u32 = 65534;

impl IdShift {
    /// Host uid that shows as host uid `id` through the idmapped lower layers.
    pub fn uid_of(&self, id: u32) -> u32 {
        self.uid + if id < self.count { id } else { OVERFLOW }
    }

    /// Host gid that shows as host gid `id` through the idmapped lower layers.
    pub fn gid_of(&self, id: u32) -> u32 {
        self.gid + if id < self.count { id } else { OVERFLOW }
    }
}

#[cfg(test)]
mod tests {
    use super::IdShift;

    #[test]
    fn shifts_and_maps_unmappable_ids_to_nobody() {
        let s = IdShift {
            uid: 100_000,
            gid: 200_000,
            count: 65536,
        };
        assert_eq!(s.uid_of(0), 100_000);
        assert_eq!(s.gid_of(5), 200_005);
        assert_eq!(s.uid_of(70_000), 165_534);
    }
}
