//! Operations on existing containers: stop, kill, rm, wait, rename, update, top, exec.

use std::time::{Duration, Instant};

use oci_spec::runtime::Process;

use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::manager::Manager;
use crate::record::{ContainerRecord, State};

fn running(rec: &ContainerRecord) -> bool {
    matches!(rec.state, State::Starting | State::Running)
}

impl Manager {
    /// Send `signal` (a name or number) to the container's init.
    pub fn kill(&self, what: &str, signal: &str) -> Result<()> {
        let rec = self.lookup(what)?;
        if !running(&rec) {
            return Err(Error::WrongState {
                id: rec.id,
                state: rec.state.to_string(),
                what: "only a running container can be signalled",
            });
        }
        let sig = berth_container::lifecycle::parse_signal(signal)?;
        berth_container::lifecycle::kill(&self.layout.runtime(), &rec.id, sig, false)?;
        Ok(())
    }

    /// Wait until the container is exited; its exit code. `None` timeout: forever.
    pub fn wait(&self, what: &str, timeout: Option<Duration>) -> Result<i32> {
        let id = self.lookup(what)?.id;
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut pause = Duration::from_millis(5);
        loop {
            let rec = self
                .db
                .get(&id)?
                .ok_or_else(|| Error::NoSuchContainer(id.clone()))?;
            match rec.state {
                State::Exited => return Ok(rec.exit_code.unwrap_or(0)),
                State::Created => {
                    return Err(Error::WrongState {
                        id,
                        state: rec.state.to_string(),
                        what: "it was never started",
                    })
                }
                _ if !rec.monitor_alive() => self.repair_states()?,
                _ => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Timeout {
                    what: format!("container {id} to exit"),
                    secs: timeout.map(|t| t.as_secs()).unwrap_or(0),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// The stop signal, then SIGKILL to every process after `timeout`.
    pub fn stop(&self, what: &str, timeout: Duration) -> Result<()> {
        let rec = self.lookup(what)?;
        if !running(&rec) {
            return Ok(());
        }
        let runtime = self.layout.runtime();
        let sig = berth_container::lifecycle::parse_signal(&rec.stop_signal)?;
        // The init may be gone already (exiting): the wait below settles it.
        let _ = berth_container::lifecycle::kill(&runtime, &rec.id, sig, false);
        match self.wait(&rec.id, Some(timeout)) {
            Ok(_) => return Ok(()),
            Err(Error::Timeout { .. }) => {}
            Err(e) => return Err(e),
        }
        let _ = berth_container::lifecycle::kill(&runtime, &rec.id, libc::SIGKILL, true);
        self.wait(&rec.id, Some(Duration::from_secs(10)))
            .map(|_| ())
    }

    pub fn restart(&self, what: &str, timeout: Duration) -> Result<ContainerRecord> {
        self.stop(what, timeout)?;
        self.start(what)
    }

    /// Remove a container and everything it owns. A running one only with `force` (killed).
    pub fn remove(&self, what: &str, force: bool) -> Result<()> {
        let rec = self.lookup(what)?;
        if running(&rec) {
            if !force {
                return Err(Error::WrongState {
                    id: rec.id,
                    state: rec.state.to_string(),
                    what: "stop it first or use --force",
                });
            }
            let _ = berth_container::lifecycle::kill(
                &self.layout.runtime(),
                &rec.id,
                libc::SIGKILL,
                true,
            );
            match self.wait(&rec.id, Some(Duration::from_secs(10))) {
                // A --rm container's monitor removes it itself.
                Ok(_) | Err(Error::NoSuchContainer(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let Some(rec) = self.db.get(&rec.id)? else {
            return Ok(());
        };
        self.remove_resources(&rec)?;
        self.db.remove(&rec.id)
    }

    pub fn rename(&self, what: &str, new_name: &str) -> Result<()> {
        if !crate::names::valid_name(new_name) {
            return Err(Error::InvalidName {
                name: new_name.to_string(),
            });
        }
        let id = self.lookup(what)?.id;
        self.db.update(|all| {
            if let Some(other) = all.iter().find(|r| r.name == new_name && r.id != id) {
                return Err(Error::NameInUse {
                    name: new_name.to_string(),
                    id: other.id.clone(),
                });
            }
            let mut rec = crate::manager::find(all, &id)?.clone();
            rec.name = new_name.to_string();
            Ok((vec![(id.clone(), Some(rec))], ()))
        })
    }

    /// Change limits (live when running) and the disk quota (grown online).
    pub fn update(
        &self,
        what: &str,
        limits: &Limits,
        disk: Option<u64>,
    ) -> Result<ContainerRecord> {
        let rec = self.lookup(what)?;
        let res = limits.to_resources()?;
        if running(&rec) && !limits.is_empty() {
            berth_container::lifecycle::update(&self.layout.runtime(), &rec.id, &res)?;
        }
        if let Some(bytes) = disk {
            self.storage()?.resize(&rec.id, bytes)?;
        }
        self.db
            .modify(&rec.id, |r| {
                r.config.limits.merge(limits);
                if disk.is_some() {
                    r.config.disk = disk;
                }
            })?
            .ok_or(Error::NoSuchContainer(rec.id))
    }

    /// The container's processes: host pid and command line.
    pub fn top(&self, what: &str) -> Result<Vec<(i32, String)>> {
        let rec = self.lookup(what)?;
        if !running(&rec) {
            return Err(Error::WrongState {
                id: rec.id,
                state: rec.state.to_string(),
                what: "it is not running",
            });
        }
        let mut out = Vec::new();
        for pid in berth_container::lifecycle::pids(&self.layout.runtime(), &rec.id)? {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    c.split(|&b| b == 0)
                        .filter(|a| !a.is_empty())
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            out.push((pid, cmd));
        }
        out.sort();
        Ok(out)
    }

    /// Run `args` in a running container; its exit code. With `tty` the process gets a
    /// terminal proxied to ours.
    pub fn exec(&self, what: &str, opts: ExecOptions) -> Result<i32> {
        let rec = self.lookup(what)?;
        if !running(&rec) {
            return Err(Error::WrongState {
                id: rec.id,
                state: rec.state.to_string(),
                what: "exec needs a running container",
            });
        }
        let bundle = self.layout.container(&rec.id);
        let config = bundle.join("config.json");
        let data = std::fs::read(&config).map_err(|source| Error::Read {
            path: config.clone(),
            source,
        })?;
        let spec: oci_spec::runtime::Spec =
            serde_json::from_slice(&data).map_err(|source| Error::RecordCorrupt {
                id: rec.id.clone(),
                source,
            })?;
        let mut process: Process = spec.process().clone().unwrap_or_default();
        process.set_args(Some(opts.args));
        process.set_terminal(Some(opts.tty));
        let env = process.env().clone().unwrap_or_default();
        process.set_env(Some(crate::spec::merge_env(&[&env, &opts.env])));
        if let Some(w) = opts.workdir {
            process.set_cwd(w.into());
        }
        if let Some(u) = opts.user {
            let rootfs = spec
                .root()
                .as_ref()
                .map(|r| r.path().clone())
                .unwrap_or_default();
            process.set_user(crate::user::resolve(&rootfs, &u)?);
        }
        let runtime = self.layout.runtime();
        if !opts.tty {
            return Ok(berth_container::lifecycle::exec(
                berth_container::lifecycle::ExecOptions {
                    root: &runtime,
                    id: &rec.id,
                    process,
                    detach: opts.detach,
                    pid_file: None,
                    console_socket: None,
                    preserve_fds: 0,
                },
            )?);
        }
        let sock = self.layout.console_socket(&rec.id)?;
        let listener = crate::tty::listen(&sock)?;
        let id = rec.id.clone();
        let sock_for_thread = sock.clone();
        let detach = opts.detach;
        let worker = std::thread::spawn(move || {
            berth_container::lifecycle::exec(berth_container::lifecycle::ExecOptions {
                root: &runtime,
                id: &id,
                process,
                detach,
                pid_file: None,
                console_socket: Some(&sock_for_thread),
                preserve_fds: 0,
            })
        });
        let master = crate::tty::recv_master(&listener, &sock);
        let _ = std::fs::remove_file(&sock);
        let master = match master {
            Ok(m) => m,
            Err(e) => {
                return match worker.join() {
                    Ok(Err(runtime_err)) => Err(runtime_err.into()),
                    _ => Err(e),
                }
            }
        };
        if !detach {
            crate::tty::proxy(&master, opts.interactive, || worker.is_finished())?;
        }
        match worker.join() {
            Ok(r) => Ok(r?),
            Err(_) => Err(Error::Sys {
                what: "exec thread".into(),
                source: std::io::Error::other("panicked"),
            }),
        }
    }
}

/// `berth exec` options.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
}
