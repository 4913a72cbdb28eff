//! Container commands: arguments in, manager call, output out.

use std::time::Duration;

use berth_manager::stats::{cpu_percent, Sample};
use berth_manager::{ExecOptions, LogOptions, Manager, State};

use crate::cli::{CreateArgs, LimitArgs, RunArgs, SystemCommand};
use crate::output::{bytes, Table};

/// Run `f` for each name; the first error is returned after trying them all.
pub fn each(
    names: &[String],
    mut f: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<i32> {
    let mut first = None;
    for n in names {
        if let Err(e) = f(n) {
            eprintln!("berth: {n}: {e:#}");
            first.get_or_insert(e);
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

fn raw_args() -> Vec<String> {
    std::env::args().collect()
}

pub fn create(m: &Manager, a: CreateArgs) -> anyhow::Result<i32> {
    let cfg = crate::convert::run_config(&a, &raw_args())?;
    let rec = m.create(cfg)?;
    println!("{}", rec.id);
    Ok(0)
}

pub fn run(m: &Manager, a: RunArgs) -> anyhow::Result<i32> {
    let cfg = crate::convert::run_config(&a.create, &raw_args())?;
    let rec = m.create(cfg)?;
    if a.detach {
        match m.start(&rec.id) {
            Ok(_) => {
                println!("{}", rec.id);
                Ok(0)
            }
            Err(e) => {
                if rec.config.auto_remove {
                    let _ = m.remove(&rec.id, true);
                }
                Err(e.into())
            }
        }
    } else {
        let r = m.run_attached(&rec.id);
        if r.is_err() && rec.config.auto_remove {
            let _ = m.remove(&rec.id, true);
        }
        Ok(r?)
    }
}

pub fn ps(m: &Manager, all: bool, format: &str, quiet: bool) -> anyhow::Result<i32> {
    let list: Vec<_> = m
        .list()?
        .into_iter()
        .filter(|r| all || matches!(r.state, State::Running | State::Starting))
        .collect();
    if quiet {
        for r in &list {
            println!("{}", r.short_id());
        }
        return Ok(0);
    }
    match format {
        "json" => println!("{}", serde_json::to_string_pretty(&list)?),
        "table" => {
            let mut t = Table::new(&[
                "CONTAINER ID",
                "IMAGE",
                "COMMAND",
                "CREATED",
                "STATUS",
                "NAMES",
            ]);
            for r in &list {
                let status = match r.state {
                    State::Exited => format!("Exited ({})", r.exit_code.unwrap_or(0)),
                    s => format!(
                        "{}{}",
                        &s.to_string()[..1].to_uppercase(),
                        &s.to_string()[1..]
                    ),
                };
                let mut cmd = r.args.join(" ");
                if cmd.len() > 30 {
                    cmd.truncate(27);
                    cmd.push_str("...");
                }
                t.row(vec![
                    r.short_id().to_string(),
                    r.image.clone().unwrap_or_else(|| "(host)".into()),
                    format!("{cmd:?}"),
                    r.created.get(..19).unwrap_or(&r.created).replace('T', " "),
                    status,
                    r.name.clone(),
                ]);
            }
            t.print();
        }
        other => anyhow::bail!("--format {other:?}: use table or json"),
    }
    Ok(0)
}

pub fn exec(m: &Manager, a: crate::cli::ExecArgs) -> anyhow::Result<i32> {
    Ok(m.exec(
        &a.container,
        ExecOptions {
            args: a.command,
            env: a.env,
            workdir: a.workdir,
            user: a.user,
            tty: a.tty,
            interactive: a.interactive,
            detach: a.detach,
        },
    )?)
}

pub fn logs(
    m: &Manager,
    container: &str,
    follow: bool,
    tail: Option<&str>,
    timestamps: bool,
) -> anyhow::Result<i32> {
    use std::io::Write;
    let tail = match tail {
        None | Some("all") => None,
        Some(n) => Some(
            n.parse()
                .map_err(|_| anyhow::anyhow!("--tail {n:?}: not a number"))?,
        ),
    };
    let opts = LogOptions { follow, tail };
    m.logs(container, &opts, |e| {
        let text = if timestamps {
            format!("{} {}", e.time, e.log)
        } else {
            e.log.clone()
        };
        if e.stream == "stderr" {
            let _ = std::io::stderr().write_all(text.as_bytes());
        } else {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(text.as_bytes());
            let _ = o.flush();
        }
    })?;
    Ok(0)
}

pub fn inspect(m: &Manager, names: &[String]) -> anyhow::Result<i32> {
    let mut out = Vec::new();
    for n in names {
        out.push(m.inspect(n)?);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(0)
}

pub fn top(m: &Manager, name: &str) -> anyhow::Result<i32> {
    let mut t = Table::new(&["PID", "CMD"]);
    for (pid, cmd) in m.top(name)? {
        t.row(vec![pid.to_string(), cmd]);
    }
    t.print();
    Ok(0)
}

pub fn stats(m: &Manager, no_stream: bool, names: &[String]) -> anyhow::Result<i32> {
    let names: Vec<String> = if names.is_empty() {
        m.list()?
            .into_iter()
            .filter(|r| r.state == State::Running)
            .map(|r| r.id)
            .collect()
    } else {
        names.to_vec()
    };
    let sample = |names: &[String]| -> anyhow::Result<Vec<Sample>> {
        names.iter().map(|n| Ok(m.stats(n)?)).collect()
    };
    let mut prev = sample(&names)?;
    loop {
        std::thread::sleep(Duration::from_millis(if no_stream { 500 } else { 1000 }));
        let cur = sample(&names)?;
        let mut t = Table::new(&[
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "BLOCK I/O",
            "PIDS",
            "DISK / QUOTA",
        ]);
        for (p, c) in prev.iter().zip(&cur) {
            let limit = if c.memory_limit >= (1 << 62) {
                "unlimited".to_string()
            } else {
                bytes(c.memory_limit)
            };
            t.row(vec![
                c.id[..12].to_string(),
                c.name.clone(),
                format!("{:.2}%", cpu_percent(p, c)),
                format!("{} / {}", bytes(c.memory_usage), limit),
                format!("{} / {}", bytes(c.block_read), bytes(c.block_write)),
                c.pids.to_string(),
                format!(
                    "{} / {}",
                    bytes(c.disk_used),
                    c.disk_quota.map(bytes).unwrap_or_else(|| "-".into())
                ),
            ]);
        }
        if !no_stream {
            print!("\x1b[2J\x1b[H");
        }
        t.print();
        if no_stream {
            return Ok(0);
        }
        prev = cur;
    }
}

pub fn update(m: &Manager, a: &LimitArgs, names: &[String]) -> anyhow::Result<i32> {
    let (limits, disk) = crate::convert::limits(a)?;
    each(names, |n| {
        m.update(n, &limits, disk)?;
        println!("{n}");
        Ok(())
    })
}

pub fn info(m: &Manager) -> anyhow::Result<i32> {
    let i = m.info()?;
    println!("Data root:      {}", i.root);
    println!("Quota backend:  {}", i.quota_backend);
    println!("Containers:     {} ({} running)", i.containers, i.running);
    println!("Images:         {}", i.images);
    println!("Cgroup parent:  {}", i.cgroup_parent);
    println!("Kernel:         {}", i.kernel);
    Ok(0)
}

pub fn system(m: &Manager, s: SystemCommand) -> anyhow::Result<i32> {
    match s {
        SystemCommand::Df => {
            let d = m.disk_usage()?;
            let mut t = Table::new(&["TYPE", "TOTAL", "SIZE", "RECLAIMABLE"]);
            t.row(vec![
                "Images".into(),
                d.images.to_string(),
                bytes(d.images_size),
                "-".into(),
            ]);
            t.row(vec![
                "Containers".into(),
                d.containers.to_string(),
                bytes(d.containers_size),
                bytes(d.reclaimable),
            ]);
            t.print();
        }
        SystemCommand::Prune { all, force: _ } => {
            let p = m.prune(all)?;
            for c in &p.containers {
                println!("Deleted container {c}");
            }
            for o in &p.orphans {
                println!("Removed leftover {o}");
            }
            println!("Reclaimed {} of image space", bytes(p.image_bytes));
        }
    }
    Ok(0)
}
