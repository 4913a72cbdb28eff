//! `berth-runtime`: a drop-in for runc's command line. Argument parsing and output only;
//! every verb is a call into `berth_container::lifecycle`.

mod cli;
mod features;
mod log;
mod resources;
mod spec;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use berth_container::lifecycle::{self, CreateOptions, ExecOptions, RunOptions};
use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let logger = log::Logger::new(&cli);
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            let msg = one_line(&e);
            logger.error(&msg);
            let _ = writeln!(std::io::stderr(), "berth-runtime: {msg}");
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text the message already
/// carries (library errors include their source).
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !msg.contains(&text) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&text);
        }
    }
    msg.replace('\n', " ")
}

fn dispatch(cli: &Cli) -> Result<i32> {
    let root = cli.root.as_path();
    match &cli.command {
        Command::Create(a) => {
            lifecycle::create(&create_options(cli, a, false))?;
            Ok(0)
        }
        Command::Run(a) => {
            let opts = RunOptions {
                create: create_options(cli, &a.create, true),
                detach: a.detach,
            };
            Ok(lifecycle::run(opts)?)
        }
        Command::Start { id } => {
            lifecycle::start(root, id)?;
            Ok(0)
        }
        Command::State { id } => {
            let c = lifecycle::Container::read(root, id)?;
            println!("{}", serde_json::to_string_pretty(&c.runc_state())?);
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            let sig = lifecycle::parse_signal(signal.as_deref().unwrap_or("SIGTERM"))?;
            lifecycle::kill(root, id, sig, *all)?;
            Ok(0)
        }
        Command::Delete { force, id } => {
            lifecycle::delete(root, id, *force)?;
            Ok(0)
        }
        Command::Exec(a) => exec(cli, a),
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps(root, id, format, ps_args),
        Command::List { format, quiet } => list(root, format, *quiet),
        Command::Pause { id } => {
            lifecycle::pause(root, id)?;
            Ok(0)
        }
        Command::Resume { id } => {
            lifecycle::resume(root, id)?;
            Ok(0)
        }
        Command::Update(a) => {
            let res = resources::from_update_args(a)?;
            lifecycle::update(root, &a.id, &res)?;
            Ok(0)
        }
        Command::Events {
            stats,
            interval,
            id,
        } => events(root, id, *stats, interval),
        Command::Spec { bundle, rootless } => {
            spec::write(bundle.as_deref(), *rootless)?;
            Ok(0)
        }
        Command::Features => {
            println!("{}", serde_json::to_string_pretty(&features::features())?);
            Ok(0)
        }
        Command::Checkpoint { .. } | Command::Restore { .. } => {
            bail!("checkpoint/restore is not supported by this build of berth-runtime yet")
        }
    }
}

fn create_options<'a>(cli: &'a Cli, a: &'a cli::CreateArgs, foreground: bool) -> CreateOptions<'a> {
    CreateOptions {
        root: &cli.root,
        id: &a.id,
        bundle: a.bundle.as_deref().unwrap_or(Path::new(".")),
        pid_file: a.pid_file.as_deref(),
        console_socket: a.console_socket.as_deref(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        systemd_cgroup: cli.systemd_cgroup,
        foreground,
    }
}

fn exec(cli: &Cli, a: &cli::ExecArgs) -> Result<i32> {
    let c = lifecycle::Container::read(&cli.root, &a.id)?;
    let spec = c.spec()?;
    drop(c);
    let process = spec::exec_process(&spec, a)?;
    Ok(lifecycle::exec(ExecOptions {
        root: &cli.root,
        id: &a.id,
        process,
        detach: a.detach,
        pid_file: a.pid_file.as_deref(),
        console_socket: a.console_socket.as_deref(),
        preserve_fds: a.preserve_fds,
    })?)
}

fn ps(root: &Path, id: &str, format: &str, ps_args: &[String]) -> Result<i32> {
    let pids = lifecycle::pids(root, id)?;
    match format {
        "json" => {
            println!("{}", serde_json::to_string(&pids)?);
            Ok(0)
        }
        "table" => {
            let args: Vec<&str> = if ps_args.is_empty() {
                vec!["-ef"]
            } else {
                ps_args.iter().map(String::as_str).collect()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .context("run ps")?;
            if !out.status.success() {
                bail!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let pid_col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .context("ps output has no PID column")?;
            println!("{header}");
            for line in lines {
                let pid: Option<i32> = line
                    .split_whitespace()
                    .nth(pid_col)
                    .and_then(|p| p.parse().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{line}");
                }
            }
            Ok(0)
        }
        other => bail!("invalid format option {other:?}: must be table or json"),
    }
}

fn list(root: &Path, format: &str, quiet: bool) -> Result<i32> {
    let all = lifecycle::list(root)?;
    if quiet {
        for s in &all {
            println!("{}", s.id);
        }
        return Ok(0);
    }
    match format {
        "json" => println!("{}", serde_json::to_string(&all)?),
        "table" => {
            let mut rows = vec![[
                "ID".to_string(),
                "PID".into(),
                "STATUS".into(),
                "BUNDLE".into(),
                "CREATED".into(),
                "OWNER".into(),
            ]];
            for s in &all {
                rows.push([
                    s.id.clone(),
                    s.pid.to_string(),
                    s.status.to_string(),
                    s.bundle.display().to_string(),
                    s.created.clone(),
                    s.owner.clone(),
                ]);
            }
            let widths: Vec<usize> = (0..6)
                .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
                .collect();
            for r in rows {
                let line: Vec<String> = r
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                    .collect();
                println!("{}", line.join("   ").trim_end());
            }
        }
        other => bail!("invalid format option {other:?}: must be table or json"),
    }
    Ok(0)
}

fn events(root: &Path, id: &str, once: bool, interval: &str) -> Result<i32> {
    let every = cli::parse_duration(interval)?;
    let emit = |kind: &str, data: Option<serde_json::Value>| -> Result<()> {
        let mut v = serde_json::json!({ "type": kind, "id": id });
        if let Some(d) = data {
            v["data"] = d;
        }
        println!("{}", serde_json::to_string(&v)?);
        std::io::stdout().flush()?;
        Ok(())
    };
    let stats = lifecycle::stats(root, id)?;
    emit("stats", Some(serde_json::to_value(&stats)?))?;
    if once {
        return Ok(0);
    }
    let c = lifecycle::Container::read(root, id)?;
    let cg = c.cgroup()?;
    drop(c);
    let mut ooms = cg
        .as_ref()
        .map(|c| c.oom_kill_count().unwrap_or(0))
        .unwrap_or(0);
    loop {
        std::thread::sleep(every);
        let stats = match lifecycle::stats(root, id) {
            Ok(s) => s,
            Err(berth_container::Error::NotExist(_))
            | Err(berth_container::Error::WrongStatus(_)) => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        if let Some(cg) = &cg {
            let now = cg.oom_kill_count().unwrap_or(ooms);
            if now > ooms {
                emit("oom", None)?;
                ooms = now;
            }
        }
        emit("stats", Some(serde_json::to_value(&stats)?))?;
    }
}

#[allow(dead_code)]
fn default_root() -> PathBuf {
    PathBuf::from(cli::DEFAULT_ROOT)
}
