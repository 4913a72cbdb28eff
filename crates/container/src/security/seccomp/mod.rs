//! Seccomp: an OCI `linux.seccomp` profile is compiled to a BPF program (with libseccomp)
//! *before* the process drops privileges, and loaded as late as possible with one
//! `seccomp(2)` call.
//!
//! Why we load the program ourselves instead of `seccomp_load`: libseccomp 2.5 (Debian 12)
//! cannot pass `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`, and compiling up front leaves the
//! child with a single allocation-free system call between the start signal and `execve`
//! (runc does the same in its patchbpf loader).
//!
//! Semantics follow runc: ERRNO/TRACE return EPERM unless `errnoRet` says otherwise; a
//! rule whose action equals the default action is redundant and skipped; syscall names
//! libseccomp does not know are skipped (a profile lists syscalls of many kernels and
//! architectures); several conditions on the *same* argument become separate rules (OR),
//! otherwise a rule's conditions are ANDed; NOTIFY is refused as the default action and on
//! `write` and `sendmsg` (the child still needs them to hand the listener to its parent). With a
//! denying default action, syscalls newer than any the profile names return ENOSYS (the
//! stub in `bpf`, as runc's patchbpf). A profile that would deny `execve` itself, so
//! that the container could never start, is refused when compiled.

pub mod bpf;
pub mod cache;
mod enosys;
mod names;
mod notify;

use std::io::{Read, Seek, SeekFrom};
use std::os::fd::OwnedFd;

use berth_sys::process::{self as sys, seccomp_flag, SockFilter};
use libseccomp::{ScmpAction, ScmpArgCompare, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};

pub use cache::{load_or_compile, prepare};
pub use names::{action, arch, filter_flag, operator};
pub use notify::send_seccomp_fd;

/// Syscalls the child makes after loading a notifying filter and before the agent has the
/// listener: a notification there would never be answered. runc forbids `write` (its
/// init reports the fd number with it); berth's init passes the fd with `sendmsg`.
const NOTIFY_FORBIDDEN: [&str; 2] = ["write", "sendmsg"];

/// Linux system calls take at most six arguments.
const MAX_ARGS: usize = 6;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("seccomp: {action} return value {value} does not fit in 16 bits")]
    ReturnValue {
        action: LinuxSeccompAction,
        value: u32,
    },
    #[error("seccomp: SCMP_ACT_NOTIFY cannot be the default action")]
    NotifyDefault,
    #[error(
        "seccomp: SCMP_ACT_NOTIFY cannot be used for the {0} syscall (the container's init needs it to hand the listener to the runtime)"
    )]
    NotifyForbidden(String),
    #[error("seccomp: empty syscall name in rule #{rule}")]
    EmptyName { rule: usize },
    #[error("seccomp: syscall {syscall}: argument index {index} is past the sixth argument")]
    ArgIndex { syscall: String, index: usize },
    #[error("seccomp: create filter with default action {action}: {source}")]
    NewFilter {
        action: LinuxSeccompAction,
        source: libseccomp::error::SeccompError,
    },
    #[error("seccomp: add architecture {arch}: {source}")]
    AddArch {
        arch: Arch,
        source: libseccomp::error::SeccompError,
    },
    #[error("seccomp: add rule {action} for syscall {syscall}: {source}")]
    AddRule {
        syscall: String,
        action: LinuxSeccompAction,
        source: libseccomp::error::SeccompError,
    },
    #[error(
        "seccomp: the profile answers execve with {action}: the container process could never start"
    )]
    DeniesExecve { action: String },
    #[error("seccomp: the profile answers {syscall} with {action}, but it is needed {when}")]
    DeniesNeeded {
        syscall: String,
        action: String,
        when: &'static str,
    },
    #[error("seccomp: create memfd for the BPF program: {0}")]
    Memfd(std::io::Error),
    #[error("seccomp: export BPF program: {0}")]
    Export(libseccomp::error::SeccompError),
    #[error("seccomp: read exported BPF program: {0}")]
    ReadProgram(std::io::Error),
    #[error("seccomp: exported BPF program of {0} bytes is not a whole number of instructions")]
    BadProgram(usize),
    #[error("seccomp: load filter ({instructions} instructions, flags {flags:#x}): {source}")]
    Load {
        instructions: usize,
        flags: u64,
        source: std::io::Error,
    },
    #[error("seccomp listener {path}: {step}: {source}")]
    Listener {
        path: std::path::PathBuf,
        step: &'static str,
        source: std::io::Error,
    },
    #[error("seccomp cache {path}: {reason}")]
    CacheDir {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("seccomp cache: encode the profile: {0}")]
    CacheKey(serde_json::Error),
    #[error("seccomp cache: read {path}: {source}")]
    CacheRead {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("seccomp cache: write {path}: {source}")]
    CacheWrite {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("seccomp listener {path}: encode state: {source}")]
    ListenerState {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
}

/// A seccomp profile compiled to a kernel BPF program, ready for `load_seccomp`.
#[derive(Clone, Debug)]
pub struct CompiledSeccomp {
    program: Vec<SockFilter>,
    flags: u64,
    notify: bool,
}

impl CompiledSeccomp {
    /// Whether any rule uses SCMP_ACT_NOTIFY (loading then returns a listener fd).
    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// The `seccomp(2)` flags the program is loaded with.
    pub fn flags(&self) -> u64 {
        self.flags
    }

    /// The BPF program.
    pub fn program(&self) -> &[SockFilter] {
        &self.program
    }

    /// What the filter returns (`SECCOMP_RET_*`) for `syscall` with `args` on the native
    /// architecture; `None` for a syscall libseccomp does not know.
    pub fn verdict(&self, syscall: &str, args: [u64; 6]) -> Option<u32> {
        let nr = ScmpSyscall::from_name(syscall).ok()?.as_raw_syscall();
        let arch = enosys::native_arch().and_then(enosys::audit_arch)?;
        let data = bpf::SeccompData {
            nr,
            arch,
            instruction_pointer: 0,
            args,
        };
        bpf::evaluate(&self.program, &data)
    }

    /// The action name if the filter kills, traps or fails `syscall` (with zero arguments).
    fn denial(&self, syscall: &str) -> Option<String> {
        let v = self.verdict(syscall, [0; 6])?;
        Some(match v & bpf::RET_ACTION_FULL {
            0x8000_0000 => "SCMP_ACT_KILL_PROCESS".to_string(),
            0x0000_0000 => "SCMP_ACT_KILL_THREAD".to_string(),
            0x0003_0000 => "SCMP_ACT_TRAP".to_string(),
            0x0005_0000 => format!("SCMP_ACT_ERRNO({})", v & 0xffff),
            _ => return None,
        })
    }

    /// Refuse a filter that kills, traps or fails `execve` (checked with zero arguments).
    fn check_execve(&self) -> Result<(), Error> {
        match self.denial("execve") {
            Some(action) => Err(Error::DeniesExecve { action }),
            None => Ok(()),
        }
    }

    /// Check that the filter lets through `syscalls`, which the caller makes after loading
    /// it (checked with zero arguments); the error names the first one it would deny.
    pub fn check_allows(&self, syscalls: &[&str], when: &'static str) -> Result<(), Error> {
        for name in syscalls {
            if let Some(action) = self.denial(name) {
                return Err(Error::DeniesNeeded {
                    syscall: name.to_string(),
                    action,
                    when,
                });
            }
        }
        Ok(())
    }
}

fn add_syscall_rules(
    ctx: &mut ScmpFilterContext,
    rule: &LinuxSyscall,
    index: usize,
    default: ScmpAction,
) -> Result<(), Error> {
    let act = action(rule.action(), rule.errno_ret())?;
    if act == default {
        // Redundant; libseccomp would refuse it.
        return Ok(());
    }
    let args = rule.args().as_deref().unwrap_or_default();
    for name in rule.names() {
        if name.is_empty() {
            return Err(Error::EmptyName { rule: index });
        }
        if let Some(a) = args.iter().find(|a| a.index() >= MAX_ARGS) {
            return Err(Error::ArgIndex {
                syscall: name.clone(),
                index: a.index(),
            });
        }
        let Ok(nr) = ScmpSyscall::from_name(name) else {
            // Unknown to libseccomp (newer kernel, other architecture): skipped, as runc.
            continue;
        };
        let conds: Vec<ScmpArgCompare> = args
            .iter()
            .map(|a| {
                ScmpArgCompare::new(
                    a.index() as u32,
                    operator(a.op(), a.value()),
                    match a.op() {
                        oci_spec::runtime::LinuxSeccompOperator::ScmpCmpMaskedEq => {
                            a.value_two().unwrap_or(0)
                        }
                        _ => a.value(),
                    },
                )
            })
            .collect();
        let add_err = |source| Error::AddRule {
            syscall: name.clone(),
            action: rule.action(),
            source,
        };
        let repeated = args
            .iter()
            .enumerate()
            .any(|(i, a)| args[..i].iter().any(|b| b.index() == a.index()));
        if conds.is_empty() {
            ctx.add_rule(act, nr).map_err(add_err)?;
        } else if repeated {
            for c in &conds {
                ctx.add_rule_conditional(act, nr, std::slice::from_ref(c))
                    .map_err(add_err)?;
            }
        } else {
            ctx.add_rule_conditional(act, nr, &conds).map_err(add_err)?;
        }
    }
    Ok(())
}

fn export(ctx: &ScmpFilterContext) -> Result<Vec<SockFilter>, Error> {
    let fd = rustix::fs::memfd_create("berth-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| Error::Memfd(e.into()))?;
    ctx.export_bpf(&fd).map_err(Error::Export)?;
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(Error::ReadProgram)?;
    sys::bpf_from_bytes(&bytes).ok_or(Error::BadProgram(bytes.len()))
}

/// Compile `s` to a BPF program. Needs no privilege: call it early (in the runtime, or in
/// the child before it drops capabilities), then `load_seccomp` as late as possible.
pub fn compile_seccomp(s: &LinuxSeccomp) -> Result<CompiledSeccomp, Error> {
    let default = action(s.default_action(), s.default_errno_ret())?;
    if default == ScmpAction::Notify {
        return Err(Error::NotifyDefault);
    }
    let syscalls = s.syscalls().as_deref().unwrap_or_default();
    let notify = syscalls
        .iter()
        .any(|r| r.action() == LinuxSeccompAction::ScmpActNotify);
    for r in syscalls {
        if r.action() == LinuxSeccompAction::ScmpActNotify {
            if let Some(n) = r
                .names()
                .iter()
                .find(|n| NOTIFY_FORBIDDEN.contains(&n.as_str()))
            {
                return Err(Error::NotifyForbidden(n.clone()));
            }
        }
    }

    let mut ctx = ScmpFilterContext::new(default).map_err(|source| Error::NewFilter {
        action: s.default_action(),
        source,
    })?;
    for a in s.architectures().iter().flatten() {
        ctx.add_arch(arch(*a))
            .map_err(|source| Error::AddArch { arch: *a, source })?;
    }
    for (i, rule) in syscalls.iter().enumerate() {
        add_syscall_rules(&mut ctx, rule, i, default)?;
    }
    let program = enosys::patch(s, default, export(&ctx)?);

    let mut flags = s
        .flags()
        .iter()
        .flatten()
        .fold(0, |acc, f| acc | filter_flag(*f));
    if notify {
        flags |= seccomp_flag::NEW_LISTENER;
        if flags & seccomp_flag::TSYNC != 0 {
            // TSYNC and NEW_LISTENER both use the return value; the kernel accepts the
            // pair only with TSYNC_ESRCH (what libseccomp does too).
            flags |= seccomp_flag::TSYNC_ESRCH;
        }
    } else {
        // Meaningless without a listener, and the kernel rejects it there.
        flags &= !(seccomp_flag::WAIT_KILLABLE_RECV);
    }
    let compiled = CompiledSeccomp {
        program,
        flags,
        notify,
    };
    compiled.check_execve()?;
    Ok(compiled)
}

/// Load the compiled filter into the calling thread (and, with TSYNC, its process).
/// Without `no_new_privs` this needs CAP_SYS_ADMIN, so in that case call it before the
/// capabilities are dropped (`finalize_process` does). Returns the notification listener
/// when a rule uses SCMP_ACT_NOTIFY; send it to the agent with `send_seccomp_fd`.
pub fn load_seccomp(c: CompiledSeccomp) -> Result<Option<OwnedFd>, Error> {
    sys::seccomp_set_mode_filter(&c.program, c.flags).map_err(|source| Error::Load {
        instructions: c.program.len(),
        flags: c.flags,
        source,
    })
}
