//! The monitor's loop while the container runs: output to the log (and the user's
//! terminal when attached), input and signals forwarded, the exit status collected.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};

use crate::error::{sys, Result};
use crate::logs::LogWriter;
use crate::manager::Manager;
use crate::monitor::{finish, Launched};
use crate::record::ContainerRecord;

/// Copy output to the log (and our terminal), forward input and signals, wait for the
/// exit, record it and clean up.
pub(crate) fn supervise(m: &Manager, rec: &ContainerRecord, l: Launched) -> Result<i32> {
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

pub(crate) fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> rustix::io::Result<()> {
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
