//! The per-container monitor (like conmon). It creates the container through
//! `berth_container::lifecycle` with stdio pipes (or a pty), is the parent of the container's
//! init, writes the logs, records the exit code, and cleans up (everything for `--rm`).
//!
//! Detached (`run -d`, `start`): `berth __monitor` in its own session, reporting "ok" or the
//! error on its stdout to the `berth` that spawned it, which then exits. Foreground (`run`
//! without `-d`): the `berth` process itself is the monitor and also copies the output to
//! its own stdout/stderr (and its terminal to the container's for `-t`).

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::{Command, Stdio};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};

use crate::error::{sys, Error, Result};
use crate::logs::LogWriter;
use crate::manager::Manager;
use crate::record::{now, ContainerRecord, NetworkMode, State};

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
    let _ = write_all(
        fd.as_fd(),
        format!("{}\n", line.replace('\n', " ")).as_bytes(),
    );
}

/// Where the container's output goes.
struct Outputs {
    /// stdout and stderr pipes, or the pty master as stdout.
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
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
            supervise(m, &rec, launched)
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

struct Launched {
    pidfd: OwnedFd,
    outputs: Outputs,
    foreground: bool,
}

/// Mount the root, write the bundle, create and start the container with our pipes.
fn launch(m: &Manager, rec: &ContainerRecord, mode: &Mode) -> Result<Launched> {
    let foreground = matches!(mode, Mode::Foreground);
    let storage = m.storage()?;
    let rootfs = storage.mount(&rec.id)?;
    let init_binary = if rec.config.init {
        Some(
            std::fs::canonicalize(&m.opts.init_exe)
                .map_err(sys(format!("resolve {}", m.opts.init_exe.display())))?,
        )
    } else {
        None
    };
    let (range, rootfs) = if Manager::uses_userns(rec) {
        let (range, root) = m.idmap_root(rec, &rootfs)?;
        (Some(range), root)
    } else {
        (None, rootfs)
    };
    let mut spec = crate::spec::build(&crate::spec::SpecInput {
        record: rec,
        image: &rec.image_defaults,
        rootfs: &rootfs,
        init_binary: init_binary.as_deref(),
    })?;
    let harden = match range {
        Some(r) => berth_container::defaults::HardenOptions::with_user_namespace(r),
        None => berth_container::defaults::HardenOptions::without_user_namespace(),
    };
    berth_container::defaults::harden(&mut spec, &harden)?;
    if rec.config.network == NetworkMode::Host {
        crate::spec::drop_network_namespace(&mut spec);
    }
    let bundle = m.layout.container(&rec.id);
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
    let saved = Saved::swap(stdin_for_container, out_w.as_fd(), err_w.as_fd())?;
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
    if rec.config.network != NetworkMode::Host {
        crate::loopback::up_in(init_pid)?;
    }
    if let NetworkMode::Bridge(name) = &rec.config.network {
        m.attach_network(rec, name, init_pid)?;
    }
    release(&m.layout.runtime().join(&rec.id), &pidfd)?;
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

/// Let the created init exec the command: what `lifecycle::start` does (read the exec fifo,
/// remove it), without taking the state directory's lock. That lock's file description was
/// inherited by the init at the fork and stays held until its exec, so `lifecycle::start`
/// called from the creating process waits forever. No poststart hooks: berth sets none.
fn release(state_dir: &std::path::Path, pidfd: &OwnedFd) -> Result<()> {
    let fifo_path = state_dir.join(berth_container::state::EXEC_FIFO);
    let fifo = rustix::fs::open(
        &fifo_path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(sys(format!("open exec fifo {}", fifo_path.display())))?;
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(sys("wait for the container init")(e)),
        }
        let fifo_ready = fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        let died = fds[1].revents().is_some_and(|r| !r.is_empty());
        if fifo_ready {
            let mut b = [0u8; 1];
            match rustix::io::read(&fifo, &mut b) {
                Ok(1) => break,
                Ok(_) | Err(rustix::io::Errno::AGAIN) if !died => continue,
                _ => {}
            }
        }
        if died {
            return Err(Error::Monitor {
                id: state_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                message: "the container init exited before it could be started".into(),
            });
        }
    }
    std::fs::remove_file(&fifo_path).map_err(|source| Error::Remove {
        path: fifo_path,
        source,
    })
}

/// Our own fds 0-2 while the container's are in their place.
struct Saved {
    fds: [OwnedFd; 3],
}

impl Saved {
    fn swap(
        stdin: BorrowedFd<'_>,
        stdout: BorrowedFd<'_>,
        stderr: BorrowedFd<'_>,
    ) -> Result<Saved> {
        let dup =
            |fd: BorrowedFd<'_>| rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(sys("save stdio"));
        let saved = Saved {
            fds: [
                dup(rustix::stdio::stdin())?,
                dup(rustix::stdio::stdout())?,
                dup(rustix::stdio::stderr())?,
            ],
        };
        // Duplicates first: `stdin` may be our own fd 0.
        let (i, o, e) = (dup(stdin)?, dup(stdout)?, dup(stderr)?);
        rustix::stdio::dup2_stdin(&i).map_err(sys("redirect stdin"))?;
        rustix::stdio::dup2_stdout(&o).map_err(sys("redirect stdout"))?;
        rustix::stdio::dup2_stderr(&e).map_err(sys("redirect stderr"))?;
        Ok(saved)
    }

    fn restore(self) -> Result<()> {
        let [i, o, e] = self.fds;
        rustix::stdio::dup2_stdin(&i).map_err(sys("restore stdin"))?;
        rustix::stdio::dup2_stdout(&o).map_err(sys("restore stdout"))?;
        rustix::stdio::dup2_stderr(&e).map_err(sys("restore stderr"))?;
        Ok(())
    }
}

/// Copy output to the log (and our terminal), forward input and signals, wait for the
/// exit, record it and clean up.
fn supervise(m: &Manager, rec: &ContainerRecord, l: Launched) -> Result<i32> {
    let mut log = LogWriter::open(&rec.log_path)?;
    let stdin = rustix::stdio::stdin();
    let tty = rec.config.tty;
    let raw = if l.foreground && tty {
        crate::tty::RawMode::enter(stdin)
    } else {
        None
    };
    if let (true, Some(master)) = (l.foreground && tty, &l.outputs.out) {
        crate::tty::copy_size(stdin, master);
    }
    // Foreground: signals go to the container (^C without a tty, `kill` of berth).
    let sfd = if l.foreground {
        let mut mask = SigSet::empty();
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
            Signal::SIGWINCH,
        ] {
            mask.add(s);
        }
        mask.thread_block().map_err(sys("block signals"))?;
        Some(SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).map_err(sys("signalfd"))?)
    } else {
        None
    };
    let forward_input = l.foreground && tty && rec.config.interactive;
    let mut streams: [Option<OwnedFd>; 2] = [l.outputs.out, l.outputs.err];
    let mut input_open = forward_input;
    let mut exited: Option<i32> = None;
    let mut drain_deadline: Option<std::time::Instant> = None;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if streams.iter().all(Option::is_none) && exited.is_some() {
            break;
        }
        if let Some(d) = drain_deadline {
            if std::time::Instant::now() >= d {
                break;
            }
        }
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(5);
        let mut kinds: Vec<u8> = Vec::with_capacity(5);
        for (i, s) in streams.iter().enumerate() {
            if let Some(fd) = s {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                kinds.push(i as u8);
            }
        }
        if exited.is_none() {
            fds.push(PollFd::new(l.pidfd.as_fd(), PollFlags::POLLIN));
            kinds.push(2);
        }
        if input_open {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
            kinds.push(3);
        }
        if let Some(s) = &sfd {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
            kinds.push(4);
        }
        let timeout = if exited.is_some() {
            PollTimeout::from(200u8)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(sys("poll container output")(e)),
        }
        let ready: Vec<(u8, PollFlags)> = fds
            .iter()
            .zip(&kinds)
            .filter_map(|(f, k)| f.revents().filter(|r| !r.is_empty()).map(|r| (*k, r)))
            .collect();
        drop(fds);
        for (kind, _) in ready {
            match kind {
                0 | 1 => {
                    let i = kind as usize;
                    let Some(fd) = &streams[i] else { continue };
                    match rustix::io::read(fd, &mut buf) {
                        Ok(0) | Err(rustix::io::Errno::IO) => streams[i] = None,
                        Ok(n) => {
                            log.write(i, &buf[..n])?;
                            if l.foreground {
                                echo(i, &buf[..n]);
                            }
                        }
                        Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
                        Err(_) => streams[i] = None,
                    }
                }
                2 => {
                    exited = Some(wait_code(&l.pidfd));
                    // Whatever still holds the pipes (nothing, with a pid namespace) gets a
                    // moment to finish writing.
                    drain_deadline =
                        Some(std::time::Instant::now() + std::time::Duration::from_secs(2));
                }
                3 => match rustix::io::read(stdin, &mut buf) {
                    Ok(0) | Err(_) => input_open = false,
                    Ok(n) => {
                        if let Some(master) = &streams[0] {
                            let _ = write_all(master.as_fd(), &buf[..n]);
                        }
                    }
                },
                4 => {
                    if let Some(Ok(Some(info))) = sfd.as_ref().map(|s| s.read_signal()) {
                        if info.ssi_signo == Signal::SIGWINCH as u32 {
                            if let Some(master) = &streams[0] {
                                crate::tty::copy_size(stdin, master);
                            }
                        } else {
                            let _ = berth_sys::ns::pidfd_send_signal(
                                l.pidfd.as_fd(),
                                info.ssi_signo as i32,
                            );
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let _ = log.flush();
    drop(raw);
    let code = exited.unwrap_or(255);
    finish(m, rec, code, None)?;
    Ok(code)
}

fn echo(stream: usize, data: &[u8]) {
    if stream == 0 {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(data);
        let _ = o.flush();
    } else {
        let _ = std::io::stderr().lock().write_all(data);
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> rustix::io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The init's exit status as a shell would report it (128+signal when killed).
fn wait_code(pidfd: &OwnedFd) -> i32 {
    loop {
        match waitid(Id::PIDFd(pidfd.as_fd()), WaitPidFlag::WEXITED) {
            Ok(WaitStatus::Exited(_, c)) => return c,
            Ok(WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 255,
        }
    }
}

/// The container is gone: remove its runtime state and mounts, record the exit (or remove
/// everything for `--rm`).
fn finish(m: &Manager, rec: &ContainerRecord, code: i32, error: Option<String>) -> Result<()> {
    let network = m.detach_network(rec);
    let runtime = berth_container::lifecycle::delete(&m.layout.runtime(), &rec.id, true);
    m.unidmap_root(&rec.id);
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
