//! One qemu process: boot, collect the serial console, find the exit marker, kill on drop.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::VmError;

/// The kernel command line: serial console, no reboot on panic, pure cgroup v2, and no
/// boot-time work that only costs time under TCG (crypto self-tests, mitigations).
const APPEND: &str = "console=ttyS0 panic=-1 reboot=t cgroup_no_v1=all tsc=reliable \
                      mitigations=off cryptomgr.notests quiet";

pub(crate) fn qemu_bin() -> PathBuf {
    std::env::var_os("BERTH_QEMU")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("qemu-system-x86_64"))
}

/// How one boot ended.
pub(crate) enum Boot {
    /// The marker line was seen with this status.
    Exited { status: i32, console: String },
    /// Nothing at all was printed within the silence limit.
    Silent,
}

/// Kills and reaps qemu whatever way the harness leaves.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn forward_lines(stream: impl Read + Send + 'static, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).replace('\r', "");
                    if tx.send(line.trim_end_matches('\n').to_string()).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// The status after `marker` anywhere in `line` (kernel messages may share the line).
pub(crate) fn parse_marker(line: &str, marker: &str) -> Option<i32> {
    let at = line.find(marker)?;
    let digits: String = line[at + marker.len()..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits.parse().ok()
}

pub(crate) struct BootParams<'a> {
    pub(crate) kernel: &'a Path,
    pub(crate) initrd: &'a Path,
    pub(crate) memory_mib: u32,
    pub(crate) marker: &'a str,
    pub(crate) silence: Duration,
    pub(crate) timeout: Duration,
}

pub(crate) fn boot(p: &BootParams) -> Result<Boot, VmError> {
    let qemu = qemu_bin();
    // setpriv (util-linux) gives qemu a parent-death signal before it execs: if the test
    // process is killed (a nextest timeout), qemu dies with it instead of running on. Drop
    // below covers every ordinary exit.
    let mut cmd = Command::new("setpriv");
    cmd.args(["--pdeathsig", "KILL", "--"])
        .arg(&qemu)
        .args([
            "-accel", "tcg", "-machine", "pc", "-cpu", "max", "-smp", "2",
        ])
        .args(["-m", &p.memory_mib.to_string()])
        .args(["-nodefaults", "-no-user-config", "-display", "none"])
        .args(["-serial", "stdio", "-no-reboot"])
        .arg("-kernel")
        .arg(p.kernel)
        .arg("-initrd")
        .arg(p.initrd)
        .args(["-append", APPEND])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Qemu(cmd.spawn().map_err(|source| VmError::Spawn {
        qemu: qemu.clone(),
        source,
    })?);
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.0.stdout.take() {
        forward_lines(out, tx.clone());
    }
    if let Some(err) = child.0.stderr.take() {
        forward_lines(err, tx);
    }
    watch(&mut child, &rx, p)
}

fn watch(child: &mut Qemu, rx: &Receiver<String>, p: &BootParams) -> Result<Boot, VmError> {
    let started = Instant::now();
    let mut console = String::new();
    loop {
        let limit = if console.is_empty() {
            p.silence
        } else {
            p.timeout
        };
        let Some(left) = limit.checked_sub(started.elapsed()) else {
            if console.is_empty() {
                return Ok(Boot::Silent);
            }
            return Err(VmError::Timeout {
                timeout: p.timeout,
                console,
            });
        };
        match rx.recv_timeout(left) {
            Ok(line) => {
                let status = parse_marker(&line, p.marker);
                console.push_str(&line);
                console.push('\n');
                if let Some(status) = status {
                    return Ok(Boot::Exited { status, console });
                }
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                let status = match child.0.wait() {
                    Ok(s) => s.to_string(),
                    Err(e) => format!("wait failed: {e}"),
                };
                return Err(VmError::NoMarker { status, console });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_found_anywhere_in_a_line() {
        let m = "@@berth-vm-exit-abc@@=";
        assert_eq!(parse_marker("@@berth-vm-exit-abc@@=0", m), Some(0));
        assert_eq!(
            parse_marker("[ 1.2] x: y@@berth-vm-exit-abc@@=17 z", m),
            Some(17)
        );
        assert_eq!(parse_marker("@@berth-vm-exit-other@@=0", m), None);
        assert_eq!(parse_marker("@@berth-vm-exit-abc@@=", m), None);
    }
}
