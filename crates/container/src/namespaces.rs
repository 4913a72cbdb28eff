//! Which namespaces a container gets: new ones (clone flags) and joined ones (paths), and
//! the user namespace's id maps, written by the runtime for its child.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_sys::ns::flags;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

pub fn flag(t: LinuxNamespaceType) -> u64 {
    match t {
        LinuxNamespaceType::Mount => flags::NEWNS,
        LinuxNamespaceType::Cgroup => flags::NEWCGROUP,
        LinuxNamespaceType::Uts => flags::NEWUTS,
        LinuxNamespaceType::Ipc => flags::NEWIPC,
        LinuxNamespaceType::User => flags::NEWUSER,
        LinuxNamespaceType::Pid => flags::NEWPID,
        LinuxNamespaceType::Network => flags::NEWNET,
        LinuxNamespaceType::Time => flags::NEWTIME,
    }
}

/// `/proc/<pid>/ns/<name>` file name of a namespace type.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

pub struct Plan {
    /// Namespaces created new for the child (clone flags, without time).
    pub new: u64,
    /// Namespaces joined by path, in the order they must be joined (user first).
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
    pub all: Vec<LinuxNamespaceType>,
}

impl Plan {
    pub fn from_spec(spec: &Spec) -> Plan {
        let mut plan = Plan {
            new: 0,
            join: Vec::new(),
            all: Vec::new(),
        };
        let Some(linux) = spec.linux() else {
            return plan;
        };
        for ns in linux.namespaces().iter().flatten() {
            plan.all.push(ns.typ());
            match ns.path() {
                Some(p) => plan.join.push((ns.typ(), p.clone())),
                None => plan.new |= flag(ns.typ()),
            }
        }
        // The user namespace first, so that the others are joined with its privileges;
        // the mount namespace last, since the paths of the others live in the current one.
        plan.join.sort_by_key(|(t, _)| match t {
            LinuxNamespaceType::User => 0,
            LinuxNamespaceType::Mount => 2,
            _ => 1,
        });
        plan
    }

    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.all.contains(&t)
    }

    pub fn is_new(&self, t: LinuxNamespaceType) -> bool {
        self.new & flag(t) != 0
    }

    /// Open every namespace to join now, in the runtime's view, so that a bad path fails
    /// before anything is created.
    pub fn open_joins(&self) -> Result<Vec<(LinuxNamespaceType, File)>> {
        self.join
            .iter()
            .map(|(t, p)| {
                File::open(p).map(|f| (*t, f)).map_err(|source| Error::Sys {
                    what: format!("open {} namespace {}", proc_name(*t), p.display()),
                    source,
                })
            })
            .collect()
    }
}

/// Join opened namespaces (in the child).
pub fn join(files: &[(LinuxNamespaceType, File)], skip: &[LinuxNamespaceType]) -> Result<()> {
    for (t, f) in files {
        if skip.contains(t) {
            continue;
        }
        berth_sys::ns::setns(f.as_fd(), flag(*t)).map_err(|source| Error::Sys {
            what: format!("join {} namespace", proc_name(*t)),
            source,
        })?;
    }
    Ok(())
}

fn map_lines(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Write the child's uid and gid maps. As root we write the files directly; as an
/// unprivileged user, a single mapping of our own id is allowed directly (with setgroups
/// denied) and anything else goes through the setuid helpers newuidmap/newgidmap, which
/// check /etc/subuid and /etc/subgid.
pub fn write_id_maps(
    pid: i32,
    uid_maps: &[LinuxIdMapping],
    gid_maps: &[LinuxIdMapping],
) -> Result<()> {
    let euid = rustix::process::geteuid().as_raw();
    let egid = rustix::process::getegid().as_raw();
    let privileged = euid == 0;
    let own_single = |maps: &[LinuxIdMapping], id: u32| {
        maps.len() == 1 && maps[0].host_id() == id && maps[0].size() == 1
    };
    if !uid_maps.is_empty() {
        if privileged || own_single(uid_maps, euid) {
            write_proc(pid, "uid_map", &map_lines(uid_maps))?;
        } else {
            helper("newuidmap", pid, uid_maps)?;
        }
    }
    if !gid_maps.is_empty() {
        if privileged {
            write_proc(pid, "gid_map", &map_lines(gid_maps))?;
        } else if own_single(gid_maps, egid) {
            write_proc(pid, "setgroups", "deny")?;
            write_proc(pid, "gid_map", &map_lines(gid_maps))?;
        } else {
            helper("newgidmap", pid, gid_maps)?;
        }
    }
    Ok(())
}

fn write_proc(pid: i32, file: &str, data: &str) -> Result<()> {
    let path = format!("/proc/{pid}/{file}");
    std::fs::write(&path, data).map_err(|source| Error::Sys {
        what: format!("write {path} ({})", data.trim().replace('\n', ", ")),
        source,
    })
}

fn helper(prog: &str, pid: i32, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut cmd = Command::new(prog);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.arg(m.container_id().to_string())
            .arg(m.host_id().to_string())
            .arg(m.size().to_string());
    }
    let out = cmd.output().map_err(|source| Error::Sys {
        what: format!("run {prog} (package uidmap)"),
        source,
    })?;
    if !out.status.success() {
        return Err(Error::Init(format!(
            "{prog} {pid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Time namespace offsets must be written before any process enters the namespace: the
/// runtime unshares it for its own future children and writes the offsets for them.
pub fn prepare_time_namespace(spec: &Spec) -> Result<()> {
    berth_sys::ns::unshare(flags::NEWTIME).map_err(|source| Error::Sys {
        what: "unshare time namespace".into(),
        source,
    })?;
    let Some(offsets) = spec.linux().as_ref().and_then(|l| l.time_offsets().clone()) else {
        return Ok(());
    };
    let mut data = String::new();
    for (clock, off) in offsets {
        let name = match clock.as_str() {
            "monotonic" => "monotonic",
            "boottime" => "boottime",
            other => {
                return Err(Error::ConfigInvalid(format!(
                    "timeOffsets: unknown clock {other:?}"
                )))
            }
        };
        data.push_str(&format!(
            "{name} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    std::fs::write(Path::new("/proc/self/timens_offsets"), data).map_err(|source| Error::Sys {
        what: "write /proc/self/timens_offsets".into(),
        source,
    })
}
