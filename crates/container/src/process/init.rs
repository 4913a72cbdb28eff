//! The container's init, child side: runs in the process `create` forked, from the moment
//! it exists in its new namespaces until `execve` of the user's program. Every step reports
//! failure to the runtime over the sync channel before the child exits.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::error::{sys, Error, Result};
use crate::namespaces::{self, Plan};
use crate::sync::{Channel, Msg};

/// How the init learns that `start` was called.
pub enum StartSignal<'a> {
    /// `create` + `start`: block opening the state directory's exec fifo for writing.
    Fifo { state_dir: &'a File },
    /// `run` in the foreground: the runtime sends `Msg::Start` on the channel.
    Channel,
}

/// Everything the init needs, prepared by the runtime before forking.
pub struct InitContext<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub plan: &'a Plan,
    pub joins: &'a [(LinuxNamespaceType, File)],
    pub channel: &'a Channel,
    pub start: StartSignal<'a>,
    pub cgroup_paths: &'a std::collections::BTreeMap<String, PathBuf>,
    /// Join this cgroup ourselves, first thing (the runtime then does not).
    pub join_cgroup: Option<&'a berth_cgroups::Manager>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// Mounts with their own id mapping, made on the host side before the fork (a process
    /// inside the user namespace may not make them).
    pub idmapped: &'a crate::rootfs::IdmappedMounts,
    /// The config's seccomp profile, compiled by the runtime before the fork (through the
    /// state root's cache).
    pub seccomp: Option<&'a crate::security::CompiledSeccomp>,
}

/// Run the init; never returns.
pub fn run(ctx: InitContext<'_>) -> ! {
    match init(&ctx) {
        Ok(e) => {
            let _ = ctx.channel.send(&Msg::Error(e.to_string()));
        }
        Err(e) => {
            let _ = ctx.channel.send(&Msg::Error(e.to_string()));
        }
    }
    berth_sys::ns::exit_now(1)
}

/// Returns only on failure of the final execve (as the error to report).
fn init(ctx: &InitContext<'_>) -> Result<Error> {
    berth_sys::ns::set_parent_death_signal(libc::SIGKILL)
        .map_err(sys("set parent death signal"))?;
    if let Some(cg) = ctx.join_cgroup {
        cg.join_current()?;
    }
    let process = ctx
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::ConfigInvalid("process is missing".into()))?;
    ctx.channel.expect(Msg::MapsWritten)?;
    // From here nothing in the container may open our /proc/<pid>/exe (the host binary),
    // our memory or fds, nor ptrace us; execve restores dumpability for the program.
    berth_sys::ns::set_dumpable(false).map_err(sys("set non-dumpable"))?;

    namespaces::join(ctx.joins, &[LinuxNamespaceType::Pid])?;
    // The cgroup namespace is made only now that the runtime has put us in our cgroup, so
    // that its root is the container's cgroup, not the runtime's.
    if ctx.plan.is_new(LinuxNamespaceType::Cgroup) {
        berth_sys::ns::unshare(berth_sys::ns::flags::NEWCGROUP)
            .map_err(sys("unshare cgroup namespace"))?;
    }
    let in_user_ns = ctx.plan.has(LinuxNamespaceType::User);
    if in_user_ns {
        become_namespace_root()?;
    }
    if !ctx.no_new_keyring {
        berth_sys::ns::join_session_keyring(ctx.id).map_err(sys("join a new session keyring"))?;
    }

    let rootfs_ctx = crate::rootfs::RootfsContext {
        spec: ctx.spec,
        rootfs: ctx.rootfs,
        bundle: ctx.bundle,
        in_user_ns,
        cgroup_paths: ctx.cgroup_paths,
        cgroup_ns: ctx.plan.has(LinuxNamespaceType::Cgroup),
        no_pivot: ctx.no_pivot,
    };
    let new_mnt = ctx.plan.has(LinuxNamespaceType::Mount);
    if new_mnt {
        crate::rootfs::prepare_with(&rootfs_ctx, ctx.idmapped)?;
    }
    set_hostnames(ctx.spec)?;

    ctx.channel.send(&Msg::RunHooks)?;
    ctx.channel.expect(Msg::HooksDone)?;
    let hooks = ctx.spec.hooks().as_ref();
    // Hooks are given our pid as the host sees it. Before pivot_root, /proc is still the
    // host's procfs (of the host's pid namespace), where /proc/self names exactly that.
    let in_container_hooks =
        hooks.is_some_and(|h| h.create_container().is_some() || h.start_container().is_some());
    let host_pid: Option<i32> = in_container_hooks
        .then(|| std::fs::read_link("/proc/self").ok())
        .flatten()
        .and_then(|p| p.to_str().and_then(|s| s.parse().ok()));
    if let Some(h) = hooks.and_then(|h| h.create_container().as_ref()) {
        let state = crate::lifecycle::hook_state(ctx.id, ctx.bundle, ctx.spec, host_pid);
        crate::hooks::run("createContainer", Some(h), &state)?;
    }

    if new_mnt {
        crate::rootfs::pivot(&rootfs_ctx)?;
    } else {
        rustix::process::chroot(ctx.rootfs)
            .map_err(|e| sys(format!("chroot {}", ctx.rootfs.display()))(e.into()))?;
    }
    write_sysctls(ctx.spec)?;
    if process.terminal().unwrap_or(false) {
        let master = crate::terminal::setup_pty()?;
        ctx.channel
            .send_with_fd(&Msg::Pty, Some(master.as_raw_fd()))?;
    }
    if new_mnt {
        crate::rootfs::finalize(&rootfs_ctx)?;
    }

    // Nothing else runs in a mount namespace the init makes: its program cannot be swapped
    // under it, and by path `/proc/1/comm` is the name it was started as (`sleep`, not the
    // `busybox` a symlink leads to). In a joined mount namespace others may run: by fd.
    let shared_mounts = !new_mnt || !ctx.plan.is_new(LinuxNamespaceType::Mount);
    let prepared = Prepared::new(process, ctx.preserve_fds, shared_mounts)?;
    let finalized = finalize(
        process,
        in_user_ns,
        ctx.spec,
        ctx.seccomp.cloned(),
        ctx.channel,
    )?;

    // Once ready, the runtime may exit (`create`): the init must outlive it.
    berth_sys::ns::set_parent_death_signal(0).map_err(sys("clear parent death signal"))?;
    // With no_new_privs the filter is loaded as late as possible; a notifying one must
    // still reach the runtime before the runtime goes, so it is loaded now.
    let mut late = finalized.late_seccomp;
    if late.as_ref().is_some_and(|s| s.uses_notify()) {
        load_seccomp(late.take(), ctx.channel)?;
    }
    ctx.channel.send(&Msg::Ready)?;
    match ctx.start {
        StartSignal::Fifo { state_dir } => wait_fifo(state_dir)?,
        StartSignal::Channel => {
            ctx.channel.expect(Msg::Start)?;
        }
    }
    // startContainer: after `start`, in the container, before the user's program.
    if let Some(h) = hooks.and_then(|h| h.start_container().as_ref()) {
        let state = crate::lifecycle::hook_state(ctx.id, ctx.bundle, ctx.spec, host_pid);
        crate::hooks::run("startContainer", Some(h), &state)?;
    }
    load_seccomp(late, ctx.channel)?;
    Ok(prepared.exec())
}

/// Become root of the user namespace we are in (its maps are written by now).
pub(crate) fn become_namespace_root() -> Result<()> {
    use rustix::process::{Gid, Uid};
    rustix::thread::set_thread_res_uid(Uid::ROOT, Uid::ROOT, Uid::ROOT)
        .map_err(|e| sys("setuid 0 in the user namespace")(e.into()))?;
    rustix::thread::set_thread_res_gid(Gid::ROOT, Gid::ROOT, Gid::ROOT)
        .map_err(|e| sys("setgid 0 in the user namespace")(e.into()))
}

fn set_hostnames(spec: &Spec) -> Result<()> {
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        rustix::system::sethostname(h.as_bytes())
            .map_err(|e| sys(format!("set hostname {h:?}"))(e.into()))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        rustix::system::setdomainname(d.as_bytes())
            .map_err(|e| sys(format!("set domainname {d:?}"))(e.into()))?;
    }
    Ok(())
}

/// `linux.sysctl`, written through the container's own /proc after pivot_root, so the
/// values land in the container's namespaces (net, ipc, uts).
fn write_sysctls(spec: &Spec) -> Result<()> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for (key, value) in sysctl {
        if key.split(['.', '/']).any(|c| c == ".." || c.is_empty()) {
            return Err(Error::ConfigInvalid(format!(
                "sysctl {key:?} is not a valid name"
            )));
        }
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value)
            .map_err(sys(format!("write sysctl {key}={value} ({path})")))?;
    }
    Ok(())
}

/// Give up privilege in runc's order (see `security::finalize`); returns what is left to
/// do right before `execve`. oom_score_adj is written by the runtime from outside.
pub(crate) fn finalize(
    process: &Process,
    in_user_ns: bool,
    spec: &Spec,
    seccomp: Option<crate::security::CompiledSeccomp>,
    channel: &Channel,
) -> Result<crate::security::Finalized> {
    let linux = spec.linux().as_ref();
    let mut sec = crate::security::ProcessSecurity::from_spec(
        process,
        linux.and_then(|l| l.personality().as_ref()),
        in_user_ns,
    );
    sec.oom_score_adj = None;
    Ok(crate::security::finalize_process(&sec, seccomp, |fd| {
        channel
            .send_with_fd(&Msg::SeccompFd, Some(fd.as_raw_fd()))
            .map_err(|e| std::io::Error::other(e.to_string()))
    })?)
}

pub(crate) fn load_seccomp(
    compiled: Option<crate::security::CompiledSeccomp>,
    channel: &Channel,
) -> Result<()> {
    if let Some(c) = compiled {
        if let Some(fd) = crate::security::load_seccomp(c)? {
            channel.send_with_fd(&Msg::SeccompFd, Some(fd.as_raw_fd()))?;
        }
    }
    Ok(())
}

/// Block until `start` opens the fifo for reading, then tell it we are going.
fn wait_fifo(state_dir: &File) -> Result<()> {
    let fd = rustix::fs::openat(
        state_dir.as_fd(),
        crate::state::EXEC_FIFO,
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| sys("open exec fifo")(e.into()))?;
    rustix::io::write(&fd, b"0").map_err(|e| sys("write exec fifo")(e.into()))?;
    Ok(())
}

/// The program to run, with argv/envp already converted, so that nothing allocates or can
/// fail for lack of a path lookup after seccomp is loaded.
pub(crate) struct Prepared {
    path: CString,
    /// The program, open: what was checked is what runs (see `exe_guard`).
    program: std::os::fd::OwnedFd,
    /// A `#!` script: `program` must stay open across exec for its interpreter.
    script: bool,
    /// Exec through `program` (else by path: a script where /dev/fd is missing).
    by_fd: bool,
    argv: Vec<CString>,
    envp: Vec<CString>,
    preserve_fds: u32,
}

impl Prepared {
    /// `race_safe`: run the checked file through its descriptor (see `exe_guard`); else by
    /// path (only where nothing can swap it: the init in its own mount namespace).
    pub(crate) fn new(process: &Process, preserve_fds: u32, race_safe: bool) -> Result<Prepared> {
        let args = process.args().as_deref().unwrap_or_default();
        let Some(arg0) = args.first() else {
            return Err(Error::ConfigInvalid(
                "process.args must not be empty".into(),
            ));
        };
        let env: Vec<String> = process.env().clone().unwrap_or_default();
        let cstr = |s: &str| {
            CString::new(s).map_err(|_| Error::ConfigInvalid(format!("{s:?} contains a NUL byte")))
        };
        let cwd = process.cwd();
        rustix::process::chdir(cwd)
            .map_err(|e| sys(format!("chdir to cwd {:?} set in config.json", cwd))(e.into()))?;
        let path = lookup(arg0, &env, cwd)?;
        let program = open_program(&path)?;
        let script = crate::security::exe_guard::check_fd(program.as_fd(), Path::new(&path))
            .map_err(crate::security::Error::from)?;
        // The interpreter of a script run by descriptor opens /dev/fd/N: without it (no
        // /dev or /proc in the container) the script runs by path, as before.
        let script_fd = format!("/dev/fd/{}", program.as_raw_fd());
        let by_fd = race_safe && (!script || Path::new(&script_fd).exists());
        Ok(Prepared {
            path: cstr(&path)?,
            program,
            script,
            by_fd,
            argv: args.iter().map(|a| cstr(a)).collect::<Result<_>>()?,
            envp: env.iter().map(|e| cstr(e)).collect::<Result<_>>()?,
            preserve_fds,
        })
    }

    /// Close every descriptor not asked for (close-on-exec), then execve. Returns the error.
    pub(crate) fn exec(self) -> Error {
        if let Err(e) = berth_sys::ns::cloexec_from(3 + self.preserve_fds) {
            return sys("mark descriptors close-on-exec")(e);
        }
        let mut argv: Vec<*const libc::c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = self.envp.iter().map(|e| e.as_ptr()).collect();
        envp.push(std::ptr::null());
        // binfmt_script hands the interpreter /dev/fd/N: N must survive the exec (it is
        // then the script's own file, open read-only, in the program's table).
        if !self.by_fd {
            let err = berth_sys::ns::execve(&self.path, &argv, &envp);
            return Error::Exec(format!("exec {:?}: {}", self.path.to_string_lossy(), err));
        }
        if self.script {
            if let Err(e) =
                rustix::io::fcntl_setfd(self.program.as_fd(), rustix::io::FdFlags::empty())
            {
                return sys("keep the script open for its interpreter")(e.into());
            }
        }
        let mut err = berth_sys::ns::execveat_fd(self.program.as_fd(), &argv, &envp);
        // A seccomp profile answering EPERM/ENOSYS for execveat (but allowing execve): the
        // path, as before (the check then holds only while nothing swaps the path).
        if matches!(err.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) {
            err = berth_sys::ns::execve(&self.path, &argv, &envp);
        }
        Error::Exec(format!("exec {:?}: {}", self.path.to_string_lossy(), err))
    }
}

/// Open the program found by `lookup` for `execveat`: read-only (its `#!` line is read
/// through it), non-blocking (a FIFO swapped in cannot hang us), and it must still be a
/// regular file. An execute-only file (unreadable even to us) is opened `O_PATH`.
fn open_program(path: &str) -> Result<std::os::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let fail =
        |e: rustix::io::Errno| Error::Exec(format!("exec {path:?}: {}", std::io::Error::from(e)));
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::ACCESS) => {
            rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).map_err(fail)?
        }
        Err(e) => return Err(fail(e)),
    };
    let stat = rustix::fs::fstat(&fd).map_err(fail)?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(fail(rustix::io::Errno::ACCESS));
    }
    Ok(fd)
}

/// Find `arg0` like execvp, in the container's PATH.
fn lookup(arg0: &str, env: &[String], cwd: &Path) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    if arg0.contains('/') {
        let p = if arg0.starts_with('/') {
            PathBuf::from(arg0)
        } else {
            cwd.join(arg0)
        };
        // Checked now, while the runtime still listens: a program that exists but cannot be
        // executed must fail `create` (docker's 126), not the container after `start`.
        return match std::fs::metadata(&p) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(arg0.to_string()),
            Ok(_) => Err(Error::Exec(format!(
                "exec {arg0:?}: {}",
                std::io::Error::from_raw_os_error(libc::EACCES)
            ))),
            Err(e) => Err(Error::Exec(format!("exec {arg0:?}: {e}"))),
        };
    }
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let cand = Path::new(dir).join(arg0);
        if let Ok(m) = std::fs::metadata(&cand) {
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return Ok(cand.to_string_lossy().into_owned());
            }
        }
    }
    Err(Error::Exec(format!(
        "exec {arg0:?}: executable file not found in $PATH"
    )))
}
