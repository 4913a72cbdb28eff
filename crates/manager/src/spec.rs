//! The OCI runtime spec of a container: oci-spec's runc-like defaults, then what the user
//! and the image asked for (command, env, user, mounts, limits, namespaces).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Mount, PosixRlimitType, Process, Spec, User};

use crate::error::{Error, Result};
use crate::record::ContainerRecord;

/// What the image contributes (from its config); empty for the host tree.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImageDefaults {
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub stop_signal: Option<String>,
}

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The command line: `--entrypoint` (or the image's) followed by the command (or the
/// image's Cmd when none was given).
pub fn resolve_args(
    entrypoint: Option<&str>,
    command: &[String],
    image: &ImageDefaults,
) -> Vec<String> {
    let mut args: Vec<String> = match entrypoint {
        Some("") => Vec::new(),
        Some(e) => vec![e.to_string()],
        None => image.entrypoint.clone(),
    };
    if !command.is_empty() {
        args.extend(command.iter().cloned());
    } else if entrypoint.is_none() {
        args.extend(image.cmd.iter().cloned());
    }
    args
}

/// Merge environment lists: later entries replace earlier ones with the same name.
pub fn merge_env(lists: &[&[String]]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for list in lists {
        for e in *list {
            let name = e.split('=').next().unwrap_or(e);
            out.retain(|o| o.split('=').next().unwrap_or(o) != name);
            out.push(e.clone());
        }
    }
    out
}

pub struct SpecInput<'a> {
    pub record: &'a ContainerRecord,
    pub image: &'a ImageDefaults,
    pub rootfs: &'a Path,
    /// The init binary bind-mounted for `--init`.
    pub init_binary: Option<&'a Path>,
    /// The container's directory, holding its /etc/hostname, /etc/hosts, /etc/resolv.conf.
    pub container_dir: &'a Path,
}

pub const INIT_PATH: &str = "/.berth-init";

/// `--hostname`, or the short id as docker.
pub fn hostname_of(rec: &ContainerRecord) -> String {
    rec.config
        .hostname
        .clone()
        .unwrap_or_else(|| rec.short_id().to_string())
}

pub fn build(input: &SpecInput<'_>) -> Result<Spec> {
    let rec = input.record;
    let cfg = &rec.config;
    let mut spec = Spec::default();

    let mut process = Process::default();
    let mut args = rec.args.clone();
    if args.is_empty() {
        return Err(Error::InvalidOption {
            option: "command",
            value: String::new(),
            reason: "no command given and the image has none".into(),
        });
    }
    if cfg.init {
        let mut with_init = vec![INIT_PATH.to_string(), "--".to_string()];
        with_init.append(&mut args);
        args = with_init;
    }
    process.set_args(Some(args));
    let hostname = hostname_of(rec);
    let mut base = vec![DEFAULT_PATH.to_string(), format!("HOSTNAME={hostname}")];
    if cfg.tty {
        base.push("TERM=xterm".into());
    }
    process.set_env(Some(merge_env(&[&base, &input.image.env, &cfg.env])));
    let cwd = cfg
        .workdir
        .clone()
        .or_else(|| input.image.workdir.clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(Error::InvalidOption {
            option: "--workdir",
            value: cwd,
            reason: "must be an absolute path".into(),
        });
    }
    process.set_cwd(PathBuf::from(cwd));
    process.set_terminal(Some(cfg.tty));
    process.set_no_new_privileges(Some(false));
    let user_spec = cfg.user.clone().or_else(|| input.image.user.clone());
    process.set_user(match user_spec.filter(|u| !u.is_empty()) {
        Some(u) => crate::user::resolve(input.rootfs, &u)?,
        None => User::default(),
    });
    // Capabilities, seccomp, masked paths and the user namespace: berth_container::defaults
    // (applied by the monitor with the container's id range).
    // docker gives 1048576; never more than what we have ourselves (raising it needs
    // CAP_SYS_RESOURCE, which the init no longer has when it sets rlimits).
    let ours = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .unwrap_or(1_048_576)
        .min(1_048_576);
    let nofile = oci_spec::runtime::PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .soft(ours)
        .hard(ours)
        .build()
        .map_err(|source| Error::Spec {
            what: "rlimit",
            source,
        })?;
    process.set_rlimits(Some(vec![nofile]));
    spec.set_process(Some(process));

    let mut root = oci_spec::runtime::Root::default();
    root.set_path(input.rootfs.to_path_buf());
    root.set_readonly(Some(cfg.read_only));
    spec.set_root(Some(root));
    spec.set_hostname(Some(hostname));

    let mut mounts = spec.mounts().clone().unwrap_or_default();
    // Our own /tmp: on the host tree it would otherwise be the host's (an empty dir in the
    // lower layer), and a read-only root still needs somewhere to write.
    if rec.image.is_none() || cfg.read_only {
        mounts.push(mount(
            "/tmp",
            "tmpfs",
            "tmpfs",
            &["nosuid", "nodev", "mode=1777"],
        ));
    }
    for name in crate::etc_files::FILES {
        let src = crate::etc_files::path(input.container_dir, name);
        mounts.push(mount(
            &format!("/etc/{name}"),
            "bind",
            &src.to_string_lossy(),
            &["rbind", "rprivate", "nosuid", "nodev"],
        ));
    }
    for v in &cfg.volumes {
        let mut opts = vec!["rbind", "rprivate"];
        if v.read_only {
            opts.push("ro");
        }
        mounts.push(mount(
            &v.container,
            "bind",
            &v.host.to_string_lossy(),
            &opts,
        ));
    }
    if let Some(init) = input.init_binary {
        mounts.push(mount(
            INIT_PATH,
            "bind",
            &init.to_string_lossy(),
            &["bind", "ro", "nosuid"],
        ));
    }
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_cgroups_path(Some(PathBuf::from(format!(
        "/{}/{}",
        rec.cgroup_parent.trim_matches('/'),
        rec.id
    ))));
    linux.set_resources(Some(cfg.limits.to_resources()?));
    spec.set_linux(Some(linux));
    Ok(spec)
}

/// `--network host`: the host's network namespace (after `harden`, which adds one).
pub fn drop_network_namespace(spec: &mut Spec) {
    let Some(mut linux) = spec.linux().clone() else {
        return;
    };
    let ns = linux
        .namespaces()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.typ() != LinuxNamespaceType::Network)
        .collect();
    linux.set_namespaces(Some(ns));
    spec.set_linux(Some(linux));
}

/// A user namespace that does not own the network namespace cannot mount sysfs: bind the
/// host's `/sys` read-only instead, as runc does for rootless containers. Recursive: a
/// user namespace may not bind a mount without the mounts locked on it (EINVAL); they are
/// all made read-only (`rro`), and the cgroup mount of the spec covers /sys/fs/cgroup.
pub fn bind_host_sys(spec: &mut Spec) {
    let Some(mounts) = spec.mounts().clone() else {
        return;
    };
    let mounts = mounts
        .into_iter()
        .map(|m| {
            if m.destination() == Path::new("/sys") && m.typ().as_deref() == Some("sysfs") {
                mount(
                    "/sys",
                    "bind",
                    "/sys",
                    &["rbind", "rro", "nosuid", "noexec", "nodev"],
                )
            } else {
                m
            }
        })
        .collect();
    spec.set_mounts(Some(mounts));
}

/// `--network container:ID`: join the network namespace at `path` instead of a new one.
pub fn join_network_namespace(spec: &mut Spec, path: &Path) {
    let Some(mut linux) = spec.linux().clone() else {
        return;
    };
    let ns = linux
        .namespaces()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|mut n| {
            if n.typ() == LinuxNamespaceType::Network {
                n.set_path(Some(path.to_path_buf()));
            }
            n
        })
        .collect();
    linux.set_namespaces(Some(ns));
    spec.set_linux(Some(linux));
}

fn mount(dest: &str, typ: &str, source: &str, opts: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(opts.iter().map(|s| s.to_string()).collect()));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_from_entrypoint_and_cmd() {
        let img = ImageDefaults {
            entrypoint: vec!["/ep".into()],
            cmd: vec!["a".into()],
            ..Default::default()
        };
        assert_eq!(resolve_args(None, &[], &img), ["/ep", "a"]);
        assert_eq!(resolve_args(None, &["b".into()], &img), ["/ep", "b"]);
        assert_eq!(resolve_args(Some(""), &["b".into()], &img), ["b"]);
        assert_eq!(resolve_args(Some("/x"), &[], &img), ["/x"]);
    }

    #[test]
    fn env_later_wins() {
        let a = vec!["A=1".to_string(), "B=1".to_string()];
        let b = vec!["A=2".to_string()];
        assert_eq!(merge_env(&[&a, &b]), ["B=1", "A=2"]);
    }
}
