//! The per-container monitor (like conmon). It creates the container through
//! `berth_container::lifecycle` with stdio pipes (or a pty), is the parent of the container's
//! init, writes the logs, records the exit code, and cleans up (everything for `--rm`).
//!
//! Detached (`run -d`, `start`): `berth __monitor` in its own session, reporting "ok" or the
//! error on its stdout to the `berth` that spawned it, which then exits. Foreground (`run`
//! without `-d`): the `berth` process itself is the monitor and also copies the output to
//! its own stdout/stderr (and its terminal to the container's for `-t`).

use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::{Command, Stdio};

use crate::error::{sys, Error, Result};
use crate::manager::Manager;
use crate::record::{now, ContainerRecord, NetworkMode, State};
use crate::userns::UserNs;

/// How the monitor runs.
pub enum Mode {
    /// In its own process; "ok\n" or "error <code> <message>\n" is written to `report`.
    Detached { report: OwnedFd },
    /// In the `berth` process attached to the user's terminal.
    Foreground,
}

const HIDDEN_COMMAND: &str = "__monitor";

impl Manager {
    /// Start a created (or exited) container under a detached monitor; returns once the
    /// container runs (or failed to start).
    pub fn start(&self, what: &str) -> Result<ContainerRecord> {
        let rec = self.lookup(what)?;
        check_startable(&rec)?;
        let exe = &self.opts.monitor_exe;
        let mut child = Command::new(exe)
            .arg(HIDDEN_COMMAND)
            .arg("--root")
            .arg(self.layout.root())
            .arg("--cgroup-parent")
            .arg(&self.opts.cgroup_parent)
            .arg(&rec.id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::SpawnMonitor {
                exe: exe.clone(),
                source,
            })?;
        let Some(out) = child.stdout.take() else {
            return Err(Error::Monitor {
                id: rec.id.clone(),
                message: "no report pipe".into(),
            });
        };
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .map_err(sys("read the monitor's report"))?;
        let line = line.trim_end();
        if line == "ok" {
            return self.lookup(&rec.id);
        }
        // The monitor has exited (or is about to): reap it.
        let _ = child.wait();
        match line.strip_prefix("error ") {
            Some(rest) => {
                let (code, message) = rest.split_once(' ').unwrap_or(("125", rest));
                Err(Error::StartFailed {
                    id: rec.id.clone(),
                    code: code.parse().unwrap_or(125),
                    message: message.to_string(),
                })
            }
            None => Err(Error::Monitor {
                id: rec.id,
                message: "exited without reporting".into(),
            }),
        }
    }

    /// Run a created container with this process as its monitor, attached; returns the
    /// container's exit code.
    pub fn run_attached(&self, what: &str) -> Result<i32> {
        let rec = self.lookup(what)?;
        check_startable(&rec)?;
        monitor(self, &rec.id, Mode::Foreground)
    }
}

fn check_startable(rec: &ContainerRecord) -> Result<()> {
    match rec.state {
        State::Created | State::Exited => Ok(()),
        s => Err(Error::WrongState {
            id: rec.id.clone(),
            state: s.to_string(),
            what: "it is already started",
        }),
    }
}

/// The hidden `berth __monitor` command: detach from the caller's session, keep the report
/// pipe, run the monitor.
pub fn detached_main(opts: crate::Options, id: &str) -> Result<i32> {
    let report = rustix::io::fcntl_dupfd_cloexec(rustix::stdio::stdout(), 3)
        .map_err(sys("keep the report pipe"))?;
    // Own session: the user's terminal closing (SIGHUP) does not reach us.
    let _ = rustix::process::setsid();
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(sys("open /dev/null"))?;
    for f in [
        rustix::stdio::dup2_stdin,
        rustix::stdio::dup2_stdout,
        rustix::stdio::dup2_stderr,
    ] {
        f(&null).map_err(sys("redirect stdio to /dev/null"))?;
    }
    let m = match Manager::open(opts) {
        Ok(m) => m,
        Err(e) => {
            report_line(&report, &format!("error 125 {e}"));
            return Err(e);
        }
    };
    monitor(&m, id, Mode::Detached { report })
}

fn report_line(fd: &OwnedFd, line: &str) {
    let _ = crate::supervise::write_all(
        fd.as_fd(),
        format!("{}\n", line.replace('\n', " ")).as_bytes(),
    );
}

/// Where the container's output goes.
pub(crate) struct Outputs {
    /// stdout and stderr pipes, or the pty master as stdout.
    pub(crate) out: Option<OwnedFd>,
    pub(crate) err: Option<OwnedFd>,
}

fn monitor(m: &Manager, id: &str, mode: Mode) -> Result<i32> {
    // Claim the container: only one monitor per container.
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    let start = berth_container::state::process_start_time(pid).unwrap_or(0);
    let claimed = m.db.update(|all| {
        let rec = crate::manager::find(all, id)?.clone();
        check_startable(&rec)?;
        let mut r = rec.clone();
        r.state = State::Starting;
        r.monitor_pid = pid;
        r.monitor_start = start;
        r.exit_code = None;
        r.error = None;
        r.pid = 0;
        r.finished_at = None;
        Ok((vec![(r.id.clone(), Some(r.clone()))], r))
    });
    let rec = match claimed {
        Ok(r) => r,
        Err(e) => {
            if let Mode::Detached { report } = &mode {
                report_line(report, &format!("error 125 {e}"));
            }
            return Err(e);
        }
    };
    match launch(m, &rec, &mode) {
        Ok(launched) => {
            if let Mode::Detached { report } = mode {
                report_line(&report, "ok");
                drop(report);
            }
            crate::supervise::supervise(m, &rec, launched)
        }
        Err(e) => {
            let code = e.exit_code();
            let _ = finish(m, &rec, code, Some(e.to_string()));
            if let Mode::Detached { report } = &mode {
                report_line(report, &format!("error {code} {e}"));
            }
            Err(e)
        }
    }
}

pub(crate) struct Launched {
    pub(crate) pidfd: OwnedFd,
    pub(crate) outputs: Outputs,
    pub(crate) foreground: bool,
}

/// Mount the root, write the bundle, create and start the container with our pipes.
fn launch(m: &Manager, rec: &ContainerRecord, mode: &Mode) -> Result<Launched> {
    let foreground = matches!(mode, Mode::Foreground);
    let storage = m.storage()?;
    // The range is the one the writable layer was made for: no allocator round trip on
    // the start path. A layer made by an older berth with `--userns private` has none.
    let userns = UserNs::of_layer(rec, storage.get(&rec.id)?.ids).ok_or_else(|| {
        Error::IdmapUnsupported {
            path: m.layout.container(&rec.id),
        }
    })?;
    let rootfs = storage.mount(&rec.id)?;
    let init_binary = if rec.config.init {
        Some(
            std::fs::canonicalize(&m.opts.init_exe)
                .map_err(sys(format!("resolve {}", m.opts.init_exe.display())))?,
        )
    } else {
        None
    };
    let bundle = m.layout.container(&rec.id);
    crate::etc_files::write(
        &bundle,
        &crate::spec::hostname_of(rec),
        &crate::etc_files::Extras {
            dns: &rec.config.dns,
            hosts: &rec.config.extra_hosts,
        },
    )?;
    let mut spec = crate::spec::build(&crate::spec::SpecInput {
        record: rec,
        image: &rec.image_defaults,
        rootfs: &rootfs,
        init_binary: init_binary.as_deref(),
        container_dir: &bundle,
    })?;
    let harden = match userns.range() {
        Some(r) => berth_container::defaults::HardenOptions::with_user_namespace(*r),
        None => berth_container::defaults::HardenOptions::without_user_namespace(),
    };
    berth_container::defaults::harden(&mut spec, &harden)?;
    match &rec.config.network {
        NetworkMode::Host => {
            crate::spec::drop_network_namespace(&mut spec);
            if userns.range().is_some() {
                // Not the owner of the host's netns: no sysfs of its own (see userns.rs).
                crate::spec::bind_host_sys(&mut spec);
            }
        }
        NetworkMode::Container(target) => {
            let t = m.lookup(target)?;
            if t.state != State::Running || t.pid <= 0 {
                return Err(Error::WrongState {
                    id: t.id,
                    state: t.state.to_string(),
                    what: "its network namespace can only be joined while it runs",
                });
            }
            let path = std::path::PathBuf::from(format!("/proc/{}/ns/net", t.pid));
            crate::spec::join_network_namespace(&mut spec, &path);
        }
        NetworkMode::None | NetworkMode::Bridge(_) => {}
    }
    let config = bundle.join("config.json");
    let data = serde_json::to_vec_pretty(&spec).map_err(|source| Error::Serialize {
        what: "OCI config",
        source,
    })?;
    std::fs::write(&config, data).map_err(|source| Error::Write {
        path: config.clone(),
        source,
    })?;

    let console_path = m.layout.console_socket(&rec.id)?;
    let console = if rec.config.tty {
        Some(crate::tty::listen(&console_path)?)
    } else {
        None
    };
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(sys("open /dev/null"))?;
    // The init inherits fds 0-2 of this process: point them at the pipes for the fork,
    // then put ours back.
    let (out_r, out_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(sys("create stdout pipe"))?;
    let (err_r, err_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(sys("create stderr pipe"))?;
    let stdin_for_container: BorrowedFd<'_> = if foreground && rec.config.interactive {
        rustix::stdio::stdin()
    } else {
        null.as_fd()
    };
    let saved = crate::stdio::Saved::swap(stdin_for_container, out_w.as_fd(), err_w.as_fd())?;
    let created = berth_container::lifecycle::create(&berth_container::lifecycle::CreateOptions {
        root: &m.layout.runtime(),
        id: &rec.id,
        bundle: &bundle,
        pid_file: None,
        console_socket: console.as_ref().map(|_| console_path.as_path()),
        no_pivot: false,
        no_new_keyring: false,
        preserve_fds: 0,
        systemd_cgroup: false,
        foreground: false,
    });
    saved.restore()?;
    drop(out_w);
    drop(err_w);
    let created = created?;
    let berth_container::lifecycle::Created {
        container, pidfd, ..
    } = created;
    let init_pid = container.saved.pid;
    // `start` takes the state directory's lock again.
    drop(container);
    let outputs = match &console {
        Some(l) => Outputs {
            out: Some(crate::tty::recv_master(l, &console_path)?),
            err: None,
        },
        None => Outputs {
            out: Some(out_r),
            err: Some(err_r),
        },
    };
    drop(console);
    let _ = std::fs::remove_file(&console_path);
    if matches!(
        rec.config.network,
        NetworkMode::None | NetworkMode::Bridge(_)
    ) {
        crate::loopback::up_in(init_pid)?;
    }
    if let NetworkMode::Bridge(name) = &rec.config.network {
        m.attach_network(rec, name, init_pid)?;
    }
    berth_container::lifecycle::start(&m.layout.runtime(), &rec.id)?;
    m.db.modify(&rec.id, |r| {
        r.state = State::Running;
        r.pid = init_pid;
        r.started_at = Some(now());
    })?;
    Ok(Launched {
        pidfd,
        outputs,
        foreground,
    })
}

/// The container is gone: remove its runtime state and mounts, record the exit (or remove
/// everything for `--rm`).
pub(crate) fn finish(
    m: &Manager,
    rec: &ContainerRecord,
    code: i32,
    error: Option<String>,
) -> Result<()> {
    let network = m.detach_network(rec);
    let runtime = berth_container::lifecycle::delete(&m.layout.runtime(), &rec.id, true);
    let unmount = m.storage().and_then(|s| Ok(s.unmount(&rec.id)?));
    if rec.config.auto_remove {
        let _ = m.remove_resources(rec);
        m.db.remove(&rec.id)?;
    } else {
        m.db.modify(&rec.id, |r| {
            r.state = State::Exited;
            r.exit_code = Some(code);
            r.error = error.clone();
            r.finished_at = Some(now());
            r.monitor_pid = 0;
            r.monitor_start = 0;
        })?;
    }
    match runtime {
        Ok(()) | Err(berth_container::Error::NotExist(_)) => {}
        Err(e) => return Err(e.into()),
    }
    network?;
    unmount
}
