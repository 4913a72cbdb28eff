//! `exec`: run another process in a running container: join its namespaces (through a
//! pidfd, all at once), its cgroup, and apply the process's own user, capabilities and the
//! container's seccomp filter, exactly as the init did.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use nix::sys::wait::WaitStatus;
use oci_spec::runtime::{LinuxNamespaceType, Process};

use berth_sys::ns::{flags, fork_into, Forked};

use super::create::wait_pidfd;
use super::Container;
use crate::error::{sys, Error, Result};
use crate::namespaces::{self, Plan};
use crate::process::init::{become_namespace_root, finalize, load_seccomp, Prepared};
use crate::state::Status;
use crate::sync::{self, Msg};

pub struct ExecOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub process: Process,
    pub detach: bool,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub preserve_fds: u32,
}

/// Returns the exit code (the process's status, 0 when detached).
pub fn exec(opts: ExecOptions<'_>) -> Result<i32> {
    let c = Container::load(opts.root, opts.id)?;
    match c.status() {
        Status::Running | Status::Created => {}
        Status::Paused => {
            return Err(Error::WrongStatus(
                "cannot exec in a paused container".into(),
            ))
        }
        _ => {
            return Err(Error::WrongStatus(
                "cannot exec in a stopped container".into(),
            ))
        }
    }
    let spec = c.spec()?;
    let init = c
        .init_pidfd()
        .ok_or_else(|| Error::WrongStatus("cannot exec in a stopped container".into()))?;
    let plan = Plan::from_spec(&spec);
    let mut ns_flags = 0u64;
    for t in &plan.all {
        ns_flags |= namespaces::flag(*t);
    }
    let process = opts.process;
    let console = match (process.terminal().unwrap_or(false), opts.console_socket) {
        (true, Some(p)) => Some(crate::terminal::connect(p)?),
        (true, None) => {
            return Err(Error::ConfigInvalid(
                "terminal requested but no --console-socket was given".into(),
            ))
        }
        _ => None,
    };
    // pid and time namespaces apply to children: the runtime joins them, its child lands
    // inside.
    let children_only = ns_flags & (flags::NEWPID | flags::NEWTIME);
    if children_only != 0 {
        berth_sys::ns::setns(init.as_fd(), children_only).map_err(sys(format!(
            "join the pid/time namespace of container {}",
            opts.id
        )))?;
    }
    let own = ns_flags & !children_only;
    let in_user_ns = plan.has(LinuxNamespaceType::User);
    let seccomp = super::create::compile_seccomp(&spec, opts.root)?;
    let (parent_ch, child_ch) = sync::pair()?;
    let cg = c.cgroup()?;
    let forked = fork_into(0, None).map_err(sys("fork exec process"))?;
    let (pid, pidfd) = match forked {
        Forked::Child => {
            drop(parent_ch);
            if let Some(fd) = c.dir.lock_fd() {
                // The process must not keep the container's state locked.
                let _ = nix::unistd::close(fd);
            }
            // Without a user namespace, join the cgroup ourselves: the cheap way (see
            // `Manager::join_current`).
            if let (Some(cg), false) = (&cg, in_user_ns) {
                if let Err(e) = cg.join_current() {
                    let _ = child_ch.send(&Msg::Error(e.to_string()));
                    berth_sys::ns::exit_now(1)
                }
            }
            let r = exec_child(
                &child_ch,
                ChildArgs {
                    init: &init,
                    own_ns: own,
                    in_user_ns,
                    process: &process,
                    spec: &spec,
                    seccomp,
                    preserve_fds: opts.preserve_fds,
                },
            );
            let msg = match r {
                Ok(e) | Err(e) => e.to_string(),
            };
            let _ = child_ch.send(&Msg::Error(msg));
            berth_sys::ns::exit_now(1)
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child_ch);
    let fail = |e: Error| {
        let _ = berth_sys::ns::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
        wait_pidfd(&pidfd);
        e
    };
    if let (Some(cg), true) = (&cg, in_user_ns) {
        cg.add_process(pid).map_err(|e| fail(e.into()))?;
    }
    parent_ch.send(&Msg::MapsWritten).map_err(fail)?;
    loop {
        match parent_ch.recv().map_err(fail)? {
            Some((Msg::Ready, _)) => break,
            Some((Msg::Pty, Some(fd))) => {
                if let Some(sock) = &console {
                    crate::terminal::send_master(sock, fd.as_fd()).map_err(fail)?;
                }
            }
            Some((Msg::SeccompFd, Some(_))) => {}
            Some((Msg::Error(e), _)) => {
                wait_pidfd(&pidfd);
                return Err(Error::Exec(e));
            }
            Some((m, _)) => return Err(fail(Error::Init(format!("unexpected message {m:?}")))),
            None => {
                wait_pidfd(&pidfd);
                return Err(Error::Exec("exec process died during setup".into()));
            }
        }
    }
    drop(c);
    if let Some(p) = opts.pid_file {
        crate::state::write_atomic(
            &std::path::absolute(p).unwrap_or(p.to_path_buf()),
            pid.to_string().as_bytes(),
        )?;
    }
    // The exec'd program starts when the channel closes (end of file after Ready).
    drop(parent_ch);
    if opts.detach {
        return Ok(0);
    }
    let _ = pidfd.as_raw_fd();
    Ok(match wait_pidfd(&pidfd) {
        Some(WaitStatus::Exited(_, c)) => c,
        Some(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
        _ => 255,
    })
}

/// What the exec child needs from the runtime, prepared before the fork.
struct ChildArgs<'a> {
    init: &'a std::os::fd::OwnedFd,
    own_ns: u64,
    in_user_ns: bool,
    process: &'a Process,
    spec: &'a oci_spec::runtime::Spec,
    seccomp: Option<crate::security::CompiledSeccomp>,
    preserve_fds: u32,
}

fn exec_child(ch: &sync::Channel, a: ChildArgs<'_>) -> Result<Error> {
    let ChildArgs {
        init,
        own_ns,
        in_user_ns,
        process,
        spec,
        seccomp,
        preserve_fds,
    } = a;
    // Nothing in the container may open our /proc/<pid>/exe (the host binary) or ptrace us.
    berth_sys::ns::set_dumpable(false).map_err(sys("set non-dumpable"))?;
    berth_sys::ns::set_parent_death_signal(libc::SIGKILL)
        .map_err(sys("set parent death signal"))?;
    ch.expect(Msg::MapsWritten)?;
    berth_sys::ns::setns(init.as_fd(), own_ns).map_err(sys("join the container's namespaces"))?;
    if in_user_ns {
        become_namespace_root()?;
    }
    if process.terminal().unwrap_or(false) {
        let master = crate::terminal::setup_pty()?;
        ch.send_with_fd(&Msg::Pty, Some(master.as_raw_fd()))?;
    }
    // Other container processes run alongside: exec the checked file by descriptor (its
    // /proc/<pid>/comm is then the file's own name, e.g. `busybox` for an applet symlink).
    let prepared = Prepared::new(process, preserve_fds, true)?;
    let finalized = finalize(process, in_user_ns, spec, seccomp, ch)?;
    load_seccomp(finalized.late_seccomp, ch)?;
    berth_sys::ns::set_parent_death_signal(0).map_err(sys("clear parent death signal"))?;
    ch.send(&Msg::Ready)?;
    // Wait for the runtime to record us (pid file) before the program runs.
    let _ = ch.recv();
    Ok(prepared.exec())
}
