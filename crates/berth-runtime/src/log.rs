//! runc's log: with `--log` errors go to that file too, as text or as the JSON lines that
//! containerd's shim parses (`{"level":"error","msg":"...","time":"..."}`).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use crate::cli::Cli;

pub struct Logger {
    path: Option<PathBuf>,
    json: bool,
}

impl Logger {
    pub fn new(cli: &Cli) -> Logger {
        Logger {
            path: cli.log.clone(),
            json: cli.log_format == "json",
        }
    }

    pub fn error(&self, msg: &str) {
        let Some(path) = &self.path else { return };
        let time = berth_container::state::now_rfc3339();
        let line = if self.json {
            serde_json::json!({ "level": "error", "msg": msg, "time": time }).to_string()
        } else {
            format!("time=\"{time}\" level=error msg={msg:?}")
        };
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }
}
