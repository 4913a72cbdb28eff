//! Mount options of an OCI `mounts[]` entry: per-mount flags, recursive flags, propagation,
//! bind/idmap markers, superblock flags, and the file-system data that goes to `fsconfig`.
//!
//! Unknown options are file-system data, as in runc (`mode=755`, `newinstance`, `lowerdir=`);
//! an option string may also hold several comma-separated data items.

use berth_sys::mount::{attr, propagation, FsParam};

/// A propagation change: one of `berth_sys::mount::propagation`, and whether it is recursive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Propagation {
    /// `MS_SHARED`, `MS_SLAVE`, `MS_PRIVATE` or `MS_UNBINDABLE`.
    pub kind: u64,
    /// `r*` variant: applies to the whole subtree.
    pub recursive: bool,
}

/// Parsed options of one mount.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// `MOUNT_ATTR_*` bits to set on the mount itself.
    pub set: u64,
    /// `MOUNT_ATTR_*` bits to clear on the mount itself (`rw`, `suid`, `dev`, ...).
    pub clear: u64,
    /// Access-time mode (`MOUNT_ATTR_RELATIME`/`NOATIME`/`STRICTATIME`) if one was given.
    pub atime: Option<u64>,
    /// `MOUNT_ATTR_*` bits to set on the mount and all mounts below it (`rro`, `rnosuid`, ...).
    pub rec_set: u64,
    /// `MOUNT_ATTR_*` bits to clear recursively (`rrw`, `rsuid`, ...).
    pub rec_clear: u64,
    /// Recursive access-time mode (`rnoatime`, ...).
    pub rec_atime: Option<u64>,
    /// Propagation changes, applied in order after the mount is attached.
    pub propagation: Vec<Propagation>,
    /// `bind` (`Some(false)`) or `rbind` (`Some(true)`).
    pub bind: Option<bool>,
    /// `idmap` (`Some(false)`) or `ridmap` (`Some(true)`).
    pub idmap: Option<bool>,
    /// Superblock flags for a new file system (`sync`, `dirsync`, `lazytime`, `mand`, ...).
    pub sb_flags: Vec<String>,
    /// File-system data: `key=value` and bare flags.
    pub data: Vec<FsParam>,
}

enum Effect {
    Set(u64),
    Clear(u64),
    Atime(u64),
    RecSet(u64),
    RecClear(u64),
    RecAtime(u64),
    Prop(u64, bool),
    Bind(bool),
    Idmap(bool),
    Sb,
    Ignore,
}

fn effect(option: &str) -> Option<Effect> {
    use Effect::*;
    let e = match option {
        "ro" => Set(attr::RDONLY),
        "rw" => Clear(attr::RDONLY),
        "nosuid" => Set(attr::NOSUID),
        "suid" => Clear(attr::NOSUID),
        "nodev" => Set(attr::NODEV),
        "dev" => Clear(attr::NODEV),
        "noexec" => Set(attr::NOEXEC),
        "exec" => Clear(attr::NOEXEC),
        "nodiratime" => Set(attr::NODIRATIME),
        "diratime" => Clear(attr::NODIRATIME),
        "nosymfollow" => Set(attr::NOSYMFOLLOW),
        "symfollow" => Clear(attr::NOSYMFOLLOW),
        "relatime" => Atime(attr::RELATIME),
        "noatime" => Atime(attr::NOATIME),
        "strictatime" => Atime(attr::STRICTATIME),
        // Leaving relatime/strictatime/noatime: back to the kernel default, relatime.
        "norelatime" | "nostrictatime" | "atime" => Atime(attr::RELATIME),
        "rro" => RecSet(attr::RDONLY),
        "rrw" => RecClear(attr::RDONLY),
        "rnosuid" => RecSet(attr::NOSUID),
        "rsuid" => RecClear(attr::NOSUID),
        "rnodev" => RecSet(attr::NODEV),
        "rdev" => RecClear(attr::NODEV),
        "rnoexec" => RecSet(attr::NOEXEC),
        "rexec" => RecClear(attr::NOEXEC),
        "rnodiratime" => RecSet(attr::NODIRATIME),
        "rdiratime" => RecClear(attr::NODIRATIME),
        "rnosymfollow" => RecSet(attr::NOSYMFOLLOW),
        "rsymfollow" => RecClear(attr::NOSYMFOLLOW),
        "rrelatime" => RecAtime(attr::RELATIME),
        "rnoatime" => RecAtime(attr::NOATIME),
        "rstrictatime" => RecAtime(attr::STRICTATIME),
        "rnorelatime" | "rnostrictatime" | "ratime" => RecAtime(attr::RELATIME),
        "private" => Prop(propagation::PRIVATE, false),
        "rprivate" => Prop(propagation::PRIVATE, true),
        "slave" => Prop(propagation::SLAVE, false),
        "rslave" => Prop(propagation::SLAVE, true),
        "shared" => Prop(propagation::SHARED, false),
        "rshared" => Prop(propagation::SHARED, true),
        "unbindable" => Prop(propagation::UNBINDABLE, false),
        "runbindable" => Prop(propagation::UNBINDABLE, true),
        "bind" => Bind(false),
        "rbind" => Bind(true),
        "idmap" => Idmap(false),
        "ridmap" => Idmap(true),
        "sync" | "async" | "dirsync" | "lazytime" | "nolazytime" | "mand" | "nomand" => Sb,
        "defaults" | "remount" | "loud" | "silent" => Ignore,
        _ => return None,
    };
    Some(e)
}

/// Parses a propagation name (`rslave`, `private`, ...), as in `linux.rootfsPropagation`.
pub fn parse_propagation(name: &str) -> Option<Propagation> {
    match effect(name)? {
        Effect::Prop(kind, recursive) => Some(Propagation { kind, recursive }),
        _ => None,
    }
}

impl MountOptions {
    /// Parses the `options` of a mount entry.
    pub fn parse<S: AsRef<str>>(options: &[S]) -> Self {
        let mut o = MountOptions::default();
        for opt in options {
            let opt = opt.as_ref();
            match effect(opt) {
                Some(Effect::Set(b)) => {
                    o.set |= b;
                    o.clear &= !b;
                }
                Some(Effect::Clear(b)) => {
                    o.clear |= b;
                    o.set &= !b;
                }
                Some(Effect::Atime(a)) => o.atime = Some(a),
                Some(Effect::RecSet(b)) => {
                    o.rec_set |= b;
                    o.rec_clear &= !b;
                }
                Some(Effect::RecClear(b)) => {
                    o.rec_clear |= b;
                    o.rec_set &= !b;
                }
                Some(Effect::RecAtime(a)) => o.rec_atime = Some(a),
                Some(Effect::Prop(kind, recursive)) => {
                    o.propagation.push(Propagation { kind, recursive })
                }
                Some(Effect::Bind(rec)) => o.bind = Some(rec || o.bind == Some(true)),
                Some(Effect::Idmap(rec)) => o.idmap = Some(rec || o.idmap == Some(true)),
                Some(Effect::Sb) => o.sb_flags.push(opt.to_owned()),
                Some(Effect::Ignore) => {}
                None => o.data.extend(split_data(opt)),
            }
        }
        o
    }

    /// The `MOUNT_ATTR_*` bits for `fsmount` of a new file system (set bits and atime mode;
    /// recursive bits too, since a new mount has no submounts yet).
    pub fn fsmount_attrs(&self) -> u64 {
        let atime = self.rec_atime.or(self.atime).unwrap_or(attr::RELATIME);
        ((self.set | self.rec_set) & !self.rec_clear) | atime
    }

    /// Attributes for `mount_setattr` on the mount itself: `(set, clear)`.
    pub fn own_attrs(&self) -> (u64, u64) {
        match self.atime {
            Some(a) => (self.set | a, self.clear | attr::ATIME_MASK),
            None => (self.set, self.clear),
        }
    }

    /// Attributes for `mount_setattr(AT_RECURSIVE)`: `(set, clear)`.
    pub fn recursive_attrs(&self) -> (u64, u64) {
        match self.rec_atime {
            Some(a) => (self.rec_set | a, self.rec_clear | attr::ATIME_MASK),
            None => (self.rec_set, self.rec_clear),
        }
    }

    /// Whether the mount is read-only (`ro` or `rro`).
    pub fn read_only(&self) -> bool {
        (self.set | self.rec_set) & attr::RDONLY != 0
    }
}

/// Splits one data option (`mode=755,size=65536k`) into `fsconfig` parameters.
pub fn split_data(data: &str) -> Vec<FsParam> {
    data.split(',')
        .filter(|s| !s.is_empty())
        .map(|item| match item.split_once('=') {
            Some((k, v)) => FsParam::Value(k.to_owned(), v.to_owned()),
            None => FsParam::Flag(item.to_owned()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_data_are_split() {
        let o = MountOptions::parse(&[
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
            "ro",
            "rw",
        ]);
        assert_eq!(o.set, attr::NOSUID);
        assert_eq!(o.clear, attr::RDONLY);
        assert_eq!(o.atime, Some(attr::STRICTATIME));
        assert_eq!(
            o.data,
            vec![
                FsParam::Value("mode".into(), "755".into()),
                FsParam::Value("size".into(), "65536k".into())
            ]
        );
        assert_eq!(o.fsmount_attrs(), attr::NOSUID | attr::STRICTATIME);
        assert!(!o.read_only());
    }

    #[test]
    fn comma_joined_data_is_split() {
        let o = MountOptions::parse(&["newinstance,ptmxmode=0666,mode=0620", "gid=5"]);
        assert_eq!(
            o.data,
            vec![
                FsParam::Flag("newinstance".into()),
                FsParam::Value("ptmxmode".into(), "0666".into()),
                FsParam::Value("mode".into(), "0620".into()),
                FsParam::Value("gid".into(), "5".into()),
            ]
        );
    }

    #[test]
    fn bind_propagation_and_idmap() {
        let o = MountOptions::parse(&["rbind", "ro", "rslave", "private", "ridmap", "rnoexec"]);
        assert_eq!(o.bind, Some(true));
        assert_eq!(o.idmap, Some(true));
        assert_eq!(
            o.propagation,
            vec![
                Propagation {
                    kind: propagation::SLAVE,
                    recursive: true
                },
                Propagation {
                    kind: propagation::PRIVATE,
                    recursive: false
                }
            ]
        );
        assert_eq!(o.own_attrs(), (attr::RDONLY, 0));
        assert_eq!(o.recursive_attrs(), (attr::NOEXEC, 0));
        assert!(o.read_only());
    }

    #[test]
    fn atime_mode_clears_the_mask() {
        let o = MountOptions::parse(&["noatime"]);
        assert_eq!(o.own_attrs(), (attr::NOATIME, attr::ATIME_MASK));
        let o = MountOptions::parse(&["bind"]);
        assert_eq!(o.own_attrs(), (0, 0));
        assert_eq!(o.bind, Some(false));
    }

    #[test]
    fn sb_flags_are_kept_apart() {
        let o = MountOptions::parse(&["sync", "dirsync", "defaults"]);
        assert_eq!(o.sb_flags, vec!["sync".to_owned(), "dirsync".to_owned()]);
        assert!(o.data.is_empty());
    }

    #[test]
    fn root_propagation_names() {
        assert_eq!(
            parse_propagation("rshared"),
            Some(Propagation {
                kind: propagation::SHARED,
                recursive: true
            })
        );
        assert_eq!(parse_propagation("ro"), None);
    }
}
