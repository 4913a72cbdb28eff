//! `create`: set up the container's cgroup, fork its init into new namespaces, let the init
//! build its root file system, run the runtime-side hooks, and leave it waiting for `start`.
//!
//! Anything created is undone if a later step fails (`Cleanup`), so a failed create leaves
//! no cgroup, process or state directory behind. The state is saved before the fork, so a
//! crash of the runtime itself is recoverable by `delete --force`.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use berth_sys::ns::{fork_into, Forked};

use super::Container;
use crate::bundle::Bundle;
use crate::error::{sys, Error, Result};
use crate::namespaces::{self, Plan};
use crate::process::init::{self, InitContext, StartSignal};
use crate::state::{process_start_time, StateDir, CONFIG_FILE, EXEC_FIFO};
use crate::sync::{self, Channel, Msg};

pub struct CreateOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub systemd_cgroup: bool,
    /// `run` in the foreground: start over the sync channel, no exec fifo.
    pub foreground: bool,
}

/// A created container and the runtime's handles on its init.
pub struct Created {
    pub container: Container,
    pub spec: Spec,
    pub pidfd: OwnedFd,
    pub(crate) channel: Channel,
}

/// Undo what `create` did so far, unless disarmed.
struct Cleanup<'a> {
    dir: Option<&'a StateDir>,
    cgroup: Option<berth_cgroups::Manager>,
    child: Option<OwnedFd>,
    armed: bool,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pidfd) = &self.child {
            let _ = berth_sys::ns::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
            wait_pidfd(pidfd);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.kill_all(libc::SIGKILL);
            let _ = cg.destroy();
        }
        if let Some(dir) = self.dir {
            let _ = std::fs::remove_dir_all(&dir.dir);
        }
    }
}

pub(crate) fn wait_pidfd(pidfd: &OwnedFd) -> Option<nix::sys::wait::WaitStatus> {
    use nix::sys::wait::{waitid, Id, WaitPidFlag};
    loop {
        match waitid(Id::PIDFd(pidfd.as_fd()), WaitPidFlag::WEXITED) {
            Ok(s) => return Some(s),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

pub fn create(opts: &CreateOptions<'_>) -> Result<Created> {
    crate::state::validate_id(opts.id)?;
    if opts.systemd_cgroup {
        return Err(Error::Unsupported(
            "--systemd-cgroup: the systemd cgroup driver is not supported yet".into(),
        ));
    }
    let bundle = Bundle::load(opts.bundle)?;
    let spec = &bundle.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::ConfigInvalid("process is missing".into()))?;
    crate::security::check_labels(
        process.selinux_label().as_deref(),
        spec.linux()
            .as_ref()
            .and_then(|l| l.mount_label().as_deref()),
        process.apparmor_profile().as_deref(),
    )?;
    let plan = Plan::from_spec(spec);
    let joins = plan.open_joins()?;
    let console = match (process.terminal().unwrap_or(false), opts.console_socket) {
        (true, Some(p)) => Some(crate::terminal::connect(p)?),
        (true, None) => {
            return Err(Error::ConfigInvalid(
                "process.terminal is true but no --console-socket was given".into(),
            ))
        }
        (false, Some(_)) => {
            return Err(Error::ConfigInvalid(
                "--console-socket given but process.terminal is false".into(),
            ))
        }
        (false, None) => None,
    };

    let dir = StateDir::create(opts.root, opts.id)?;
    let mut cleanup = Cleanup {
        dir: Some(&dir),
        cgroup: None,
        child: None,
        armed: true,
    };
    let mut saved = super::default_saved(opts.id, bundle.dir.clone(), bundle.rootfs.clone(), spec);

    // The cgroup first: its limits hold from the init's first instruction.
    let linux = spec.linux().as_ref();
    let cg_path = linux
        .and_then(|l| l.cgroups_path().as_ref())
        .and_then(|p| p.to_str());
    // Not root: a rootless container; cgroups it may not create are skipped (runc's rule).
    let cg = if rustix::process::geteuid().is_root() {
        berth_cgroups::Manager::new(cg_path, opts.id, false)?
    } else {
        berth_cgroups::Manager::new_rootless(cg_path, opts.id, false)?
    };
    let cg = cg.hybrid_v2_only_if(needs_cgroup2(linux.and_then(|l| l.resources().as_ref())));
    saved.cgroup = Some(cg.saved());
    dir.save(&saved)?;
    cg.create()?;
    cleanup.cgroup = Some(cg.clone());
    // runc's rule: the config's device rules, then the devices every container needs
    // (null, zero, full, tty, random, urandom, ptmx, pts).
    let mut res = linux
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let mut devices = res.devices().clone().unwrap_or_default();
    devices.extend(berth_cgroups::devices::default_allowed());
    res.set_devices(Some(devices));
    // A rootless container applies only what its config asks for (runc has no device
    // cgroup for it either): its cgroup may not exist at all.
    if !cg.is_rootless() {
        cg.apply(&res)?;
    } else if let Some(res) = linux.and_then(|l| l.resources().as_ref()) {
        cg.apply(res)?;
    }
    let cgroup_paths = cg.paths();

    write_config_copy(&bundle, &dir)?;
    let state_dir_file = if opts.foreground {
        None
    } else {
        let fifo = dir.path(EXEC_FIFO);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622)).map_err(
            |e| Error::Fifo {
                path: fifo.clone(),
                source: e.into(),
            },
        )?;
        // 0622 whatever the umask: an init in a user namespace (root inside is another id
        // outside) opens it through the state directory's fd; the directory itself is
        // root-only, so nobody else can reach the fifo.
        std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
            .map_err(|source| Error::Fifo {
                path: fifo.clone(),
                source,
            })?;
        Some(
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
                .open(&dir.dir)
                .map_err(|source| Error::StateDir {
                    path: dir.dir.clone(),
                    source,
                })?,
        )
    };

    let idmapped = crate::rootfs::open_idmapped_mounts(spec, &bundle.dir)?;
    let seccomp = compile_seccomp(spec, opts.root)?;
    let (parent_ch, child_ch) = sync::pair()?;
    if plan.has(LinuxNamespaceType::Time) && plan.is_new(LinuxNamespaceType::Time) {
        namespaces::prepare_time_namespace(spec)?;
    }
    if let Some((_, f)) = joins.iter().find(|(t, _)| *t == LinuxNamespaceType::Pid) {
        berth_sys::ns::setns(f.as_fd(), berth_sys::ns::flags::NEWPID)
            .map_err(sys("join pid namespace"))?;
    }
    // Time offsets are set up above; the cgroup namespace is unshared by the init once it
    // is in its cgroup.
    let clone_flags = plan.new & !(berth_sys::ns::flags::NEWTIME | berth_sys::ns::flags::NEWCGROUP);
    let cg_fd = cg.v2_dir_fd();
    let preserve_fds = opts.preserve_fds + listen_fds();

    // The init moves itself into its cgroup, cheaply (see `Manager::join_current`) and while
    // the runtime goes on with the id maps. Also in a new user namespace: until the maps
    // are written and it switches ids, the init still has the runtime's host uid 0, which
    // owns the cgroup files (v1 asks no capability to move oneself). A rootless runtime
    // moves it from outside, where it may.
    let joins_itself = cg_fd.is_none() && !cg.is_rootless();
    let forked = fork_into(clone_flags, cg_fd.as_ref().map(|f| f.as_fd()))
        .map_err(sys("clone container init"))?;
    let (pid, pidfd) = match forked {
        Forked::Child => {
            drop(parent_ch);
            if let Some(fd) = dir.lock_fd() {
                // The init must not hold the state lock: `start` and `delete` need it.
                let _ = nix::unistd::close(fd);
            }
            init::run(InitContext {
                id: opts.id,
                spec,
                bundle: &bundle.dir,
                rootfs: &bundle.rootfs,
                plan: &plan,
                joins: &joins,
                channel: &child_ch,
                start: match &state_dir_file {
                    Some(f) => StartSignal::Fifo { state_dir: f },
                    None => StartSignal::Channel,
                },
                cgroup_paths: &cgroup_paths,
                join_cgroup: joins_itself.then_some(&cg),
                no_pivot: opts.no_pivot,
                no_new_keyring: opts.no_new_keyring,
                preserve_fds,
                idmapped: &idmapped,
                seccomp: seccomp.as_ref(),
            })
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child_ch);
    drop(state_dir_file);
    drop(idmapped);
    cleanup.child = Some(pidfd.try_clone().map_err(sys("duplicate pidfd"))?);
    saved.pid = pid;
    saved.pid_start = process_start_time(pid).unwrap_or(0);

    // Runtime-side set-up of the child: id maps, oom score, cgroup membership.
    if plan.is_new(LinuxNamespaceType::User) {
        let l = linux.ok_or_else(|| Error::ConfigInvalid("linux section is missing".into()))?;
        namespaces::write_id_maps(
            pid,
            l.uid_mappings().as_deref().unwrap_or_default(),
            l.gid_mappings().as_deref().unwrap_or_default(),
        )?;
    }
    if let Some(adj) = process.oom_score_adj() {
        // From outside: lowering the score needs CAP_SYS_RESOURCE in the host's user
        // namespace, which the init no longer has.
        let path = format!("/proc/{pid}/oom_score_adj");
        std::fs::write(&path, adj.to_string()).map_err(sys(format!("write {path}")))?;
    }
    if cg_fd.is_none() && !joins_itself {
        cg.add_process(pid)?;
    }
    parent_ch.send(&Msg::MapsWritten)?;

    parent_ch.expect(Msg::RunHooks)?;
    if let Some(h) = spec.hooks().as_ref() {
        let state = super::hook_state(opts.id, &bundle.dir, spec, Some(pid));
        crate::hooks::run("prestart", h.prestart().as_ref(), &state)?;
        crate::hooks::run("createRuntime", h.create_runtime().as_ref(), &state)?;
    }
    parent_ch.send(&Msg::HooksDone)?;

    // Until Ready the init may hand over a pty master or a seccomp listener fd.
    loop {
        match parent_ch.recv()? {
            Some((Msg::Ready, _)) => break,
            Some((Msg::Pty, Some(fd))) => {
                if let Some(sock) = &console {
                    crate::terminal::send_master(sock, fd.as_fd())?;
                }
            }
            Some((Msg::SeccompFd, Some(fd))) => send_seccomp(spec, opts.id, &bundle, pid, &fd)?,
            Some((Msg::Error(e), _)) => return Err(Error::Init(e)),
            Some((m, _)) => return Err(Error::Init(format!("unexpected message {m:?}"))),
            None => return Err(Error::Init("container init exited during setup".into())),
        }
    }

    saved.init_done = true;
    for t in &plan.all {
        let name = namespaces::proc_name(*t);
        saved.namespaces.insert(
            name.to_string(),
            PathBuf::from(format!("/proc/{pid}/ns/{name}")),
        );
    }
    dir.save(&saved)?;
    if let Some(p) = opts.pid_file {
        crate::state::write_atomic(&absolute(p), pid.to_string().as_bytes())?;
    }
    cleanup.armed = false;
    drop(cleanup);
    Ok(Created {
        container: Container { dir, saved },
        spec: bundle.spec,
        pidfd,
        channel: parent_ch,
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The config's seccomp profile compiled before the fork, through the cache under the
/// state root: compiling a Docker-sized profile is the costliest step of a start (~12 ms).
pub(crate) fn compile_seccomp(
    spec: &oci_spec::runtime::Spec,
    root: &Path,
) -> Result<Option<crate::security::CompiledSeccomp>> {
    let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    let cache = crate::state::seccomp_cache_dir(root);
    Ok(Some(crate::security::seccomp::prepare(Some(&cache), s)?))
}

/// Keep the config the container was created with: exec and delete need it even if the
/// bundle changes or goes.
fn write_config_copy(bundle: &Bundle, dir: &StateDir) -> Result<()> {
    let path = dir.path(CONFIG_FILE);
    std::fs::write(&path, &bundle.raw).map_err(|source| Error::StateDir { path, source })
}

/// systemd socket activation: fds 3.. named by LISTEN_FDS are passed on to the container.
fn listen_fds() -> u32 {
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn send_seccomp(spec: &Spec, id: &str, bundle: &Bundle, pid: i32, fd: &OwnedFd) -> Result<()> {
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(());
    };
    let Some(listener) = seccomp.listener_path() else {
        return Err(Error::ConfigInvalid(
            "seccomp uses SCMP_ACT_NOTIFY but listenerPath is not set".into(),
        ));
    };
    let mut st = oci_spec::runtime::State::default();
    st.set_version(crate::state::OCI_VERSION.to_string());
    st.set_id(id.to_string());
    st.set_status(oci_spec::runtime::ContainerState::Creating);
    st.set_pid(Some(pid));
    st.set_bundle(bundle.dir.clone());
    st.set_annotations(spec.annotations().clone());
    let mut cps = oci_spec::runtime::ContainerProcessState::default();
    cps.set_version(crate::state::OCI_VERSION.to_string());
    cps.set_pid(pid);
    cps.set_metadata(seccomp.listener_metadata().clone());
    cps.set_state(st);
    crate::security::send_seccomp_fd(listener, fd.as_fd(), &cps)?;
    Ok(())
}

/// Does this config need the cgroup2 tree of a hybrid host (hugetlb lives there here)?
fn needs_cgroup2(res: Option<&oci_spec::runtime::LinuxResources>) -> bool {
    res.is_some_and(|r| {
        r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty())
            || r.unified().as_ref().is_some_and(|u| !u.is_empty())
    })
}
