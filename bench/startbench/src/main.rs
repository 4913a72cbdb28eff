//! berth-startbench: the start-path benchmark of bench/runtime-start.sh.
//!
//! For every runtime, N full-lifecycle `run`s (create + start + wait + delete) of one bundle,
//! alternating runtimes run by run (rotating who goes first) so that drift of the machine hits
//! all alike; then back-to-back sequences of `--seq` containers. Wall time from spawn to reap,
//! CPU time and peak RSS from wait4(2). Prints a table of medians with ratios against crun and
//! writes it as markdown.
//!
//! Usage: berth-startbench --bundle DIR --work DIR [--runs N] [--seq N] [--out FILE]
//!        --runtime NAME=PATH ... [--hide-cgroup2 NAME ...]

mod measure;
mod mntns;
mod report;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use measure::measure;
use mntns::MountNs;
use report::RuntimeResult;

struct Args {
    bundle: PathBuf,
    work: PathBuf,
    runs: usize,
    seq: usize,
    seq_repeats: usize,
    out: Option<PathBuf>,
    runtimes: Vec<(String, PathBuf)>,
    hide_cgroup2: Vec<String>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        bundle: PathBuf::new(),
        work: PathBuf::new(),
        runs: 30,
        seq: 50,
        seq_repeats: 3,
        out: None,
        runtimes: Vec::new(),
        hide_cgroup2: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--bundle" => args.bundle = value()?.into(),
            "--work" => args.work = value()?.into(),
            "--runs" => args.runs = value()?.parse().context("--runs")?,
            "--seq" => args.seq = value()?.parse().context("--seq")?,
            "--seq-repeats" => args.seq_repeats = value()?.parse().context("--seq-repeats")?,
            "--out" => args.out = Some(value()?.into()),
            "--hide-cgroup2" => args.hide_cgroup2.push(value()?),
            "--runtime" => {
                let v = value()?;
                let (name, path) = v.split_once('=').context("--runtime NAME=PATH")?;
                args.runtimes.push((name.to_string(), path.into()));
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if args.bundle.as_os_str().is_empty() || args.work.as_os_str().is_empty() {
        bail!("--bundle and --work are required");
    }
    if args.runtimes.is_empty() {
        bail!("no --runtime given");
    }
    Ok(args)
}

struct Runtime {
    name: String,
    path: PathBuf,
    root: PathBuf,
    stderr: PathBuf,
    hide_cgroup2: bool,
    counter: usize,
}

impl Runtime {
    /// One `run` of the bundle under a fresh container id.
    fn command(&mut self, bundle: &Path) -> Result<Command> {
        self.counter += 1;
        let id = format!(
            "berth-test-bench-{}-{}-{}",
            std::process::id(),
            self.name,
            self.counter
        );
        let mut cmd = Command::new(&self.path);
        cmd.arg("--root")
            .arg(&self.root)
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.stderr)
                    .with_context(|| format!("open {}", self.stderr.display()))?,
            );
        Ok(cmd)
    }

    fn version(&self) -> String {
        Command::new(&self.path)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().next().map(str::to_string))
            .unwrap_or_else(|| "unknown".into())
    }
}

fn run_once(rt: &mut Runtime, bundle: &Path, ns: Option<&MountNs>) -> Result<measure::Sample> {
    let mut cmd = rt.command(bundle)?;
    let ns = if rt.hide_cgroup2 { ns } else { None };
    measure(&mut cmd, ns).map_err(|e| {
        let log = fs::read_to_string(&rt.stderr).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(3).collect();
        e.context(format!("{}: {}", rt.name, tail.join(" / ")))
    })
}

fn main() -> Result<()> {
    let args = parse_args()?;
    fs::create_dir_all(&args.work).with_context(|| format!("create {}", args.work.display()))?;
    let empty = args.work.join("empty-cgroup.controllers");
    fs::write(&empty, "").with_context(|| format!("write {}", empty.display()))?;
    let ns = if args.hide_cgroup2.is_empty() {
        None
    } else {
        Some(MountNs::hiding_cgroup2_controllers(&empty)?)
    };

    let mut runtimes: Vec<Runtime> = args
        .runtimes
        .iter()
        .map(|(name, path)| Runtime {
            name: name.clone(),
            path: path.clone(),
            root: args.work.join(format!("{name}-root")),
            stderr: args.work.join(format!("{name}.stderr")),
            hide_cgroup2: args.hide_cgroup2.contains(name),
            counter: 0,
        })
        .collect();
    let mut results: Vec<RuntimeResult> = runtimes
        .iter()
        .map(|rt| RuntimeResult {
            name: rt.name.clone(),
            version: rt.version(),
            samples: Vec::new(),
            rates: Vec::new(),
            error: None,
        })
        .collect();

    // Warm-up (page cache, first-run state dirs); a runtime that fails here is reported, not
    // measured.
    for (rt, res) in runtimes.iter_mut().zip(results.iter_mut()) {
        for _ in 0..3 {
            if let Err(e) = run_once(rt, &args.bundle, ns.as_ref()) {
                eprintln!("startbench: {e:#}");
                res.error = Some(format!("{e:#}").replace('|', "/"));
                break;
            }
        }
    }

    let n = runtimes.len();
    for i in 0..args.runs {
        for k in 0..n {
            let j = (i + k) % n;
            if results[j].error.is_some() {
                continue;
            }
            match run_once(&mut runtimes[j], &args.bundle, ns.as_ref()) {
                Ok(s) => results[j].samples.push(s),
                Err(e) => results[j].error = Some(format!("{e:#}").replace('|', "/")),
            }
        }
    }

    for _ in 0..args.seq_repeats {
        for j in 0..n {
            if results[j].error.is_some() {
                continue;
            }
            let started = Instant::now();
            let mut failed = None;
            for _ in 0..args.seq {
                if let Err(e) = run_once(&mut runtimes[j], &args.bundle, ns.as_ref()) {
                    failed = Some(format!("{e:#}").replace('|', "/"));
                    break;
                }
            }
            match failed {
                Some(e) => results[j].error = Some(e),
                None => results[j]
                    .rates
                    .push(args.seq as f64 / started.elapsed().as_secs_f64()),
            }
        }
    }

    let table = report::table(&results, "crun", args.seq);
    println!("{table}");
    if let Some(out) = &args.out {
        let mut md = format!(
            "# Start-path benchmark\n\n\
             Full lifecycle `run` (create + start + wait + delete) of a busybox bundle whose \
             process is `/bin/true` (runc's default spec, no terminal). Medians of {} runs per \
             runtime, runtimes alternated run by run; `{} in a row` is the median rate of {} \
             sequences of {} back-to-back runs. CPU time and peak RSS from wait4(2) (the \
             runtime and what it reaped). crun runs in a private mount namespace with \
             /sys/fs/cgroup/unified/cgroup.controllers covered by an empty file (it refuses \
             this hybrid host otherwise).\n\n{table}\n",
            args.runs, args.seq, args.seq_repeats, args.seq
        );
        md.push_str("\nVersions:\n\n");
        for r in &results {
            md.push_str(&format!("- {}: {}\n", r.name, r.version));
        }
        fs::write(out, md).with_context(|| format!("write {}", out.display()))?;
        println!("written to {}", out.display());
    }
    if results.iter().any(|r| r.error.is_some()) {
        eprintln!("startbench: some runtimes could not be measured (see the table)");
    }
    Ok(())
}
