//! Freezing: v1 freezer.state, v2 cgroup.freeze.

use std::path::PathBuf;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::Manager;
use crate::{fsutil, Error};

const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

enum Freezer {
    V1(PathBuf),
    V2(PathBuf),
}

impl Manager {
    fn freezer(&self) -> Result<Freezer, Error> {
        if let Some(d) = self.v1_dir("freezer") {
            return Ok(Freezer::V1(d.clone()));
        }
        if let Some(d) = self.v2_dir() {
            return Ok(Freezer::V2(d.clone()));
        }
        Err(Error::ControllerMissing {
            knob: "freeze",
            controller: "freezer",
        })
    }

    /// Freezes every process of the cgroup and waits until the kernel reports it frozen.
    pub fn freeze(&self) -> Result<(), Error> {
        let start = Instant::now();
        match self.freezer()? {
            Freezer::V1(dir) => {
                let state = dir.join("freezer.state");
                let mut delay = Duration::from_micros(100);
                loop {
                    // Writing FROZEN again is what moves a FREEZING cgroup on when new
                    // tasks arrived meanwhile (runc does the same).
                    fsutil::write(&state, "FROZEN")?;
                    let now = fsutil::read(&state)?;
                    if now.trim() == "FROZEN" {
                        return Ok(());
                    }
                    if start.elapsed() > FREEZE_TIMEOUT {
                        let _ = fsutil::write(&state, "THAWED");
                        return Err(Error::FreezeTimeout {
                            path: state,
                            state: now.trim().to_string(),
                            millis: start.elapsed().as_millis(),
                        });
                    }
                    sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(10));
                }
            }
            Freezer::V2(dir) => {
                fsutil::write(&dir.join("cgroup.freeze"), "1")?;
                let events = dir.join("cgroup.events");
                let mut delay = Duration::from_micros(100);
                loop {
                    let content = fsutil::read(&events)?;
                    if fsutil::keyed_value(&content, "frozen") == Some(1) {
                        return Ok(());
                    }
                    if start.elapsed() > FREEZE_TIMEOUT {
                        let _ = fsutil::write(&dir.join("cgroup.freeze"), "0");
                        return Err(Error::FreezeTimeout {
                            path: events,
                            state: content.trim().replace('\n', ", "),
                            millis: start.elapsed().as_millis(),
                        });
                    }
                    sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(10));
                }
            }
        }
    }

    /// Resumes the processes.
    pub fn thaw(&self) -> Result<(), Error> {
        match self.freezer()? {
            Freezer::V1(dir) => fsutil::write(&dir.join("freezer.state"), "THAWED"),
            Freezer::V2(dir) => fsutil::write(&dir.join("cgroup.freeze"), "0"),
        }
    }

    /// Whether the cgroup is (completely) frozen.
    pub fn is_frozen(&self) -> Result<bool, Error> {
        match self.freezer()? {
            Freezer::V1(dir) => Ok(fsutil::read(&dir.join("freezer.state"))?.trim() == "FROZEN"),
            Freezer::V2(dir) => {
                let content = fsutil::read(&dir.join("cgroup.events"))?;
                Ok(fsutil::keyed_value(&content, "frozen") == Some(1))
            }
        }
    }
}
