//! The one error type of this crate: one variant per failing step, each naming the path
//! or value involved so that a user can act on the message alone.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while managing a cgroup.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("systemd cgroup driver is not supported yet (cgroupsPath {path:?})")]
    SystemdUnsupported { path: String },

    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },

    #[error("parse {path}: unexpected content {content:?}")]
    Parse { path: PathBuf, content: String },

    #[error("statfs {path}: {source}")]
    Statfs { path: PathBuf, source: io::Error },

    #[error("no cgroup file system is mounted (looked in {path})")]
    NoCgroupMounts { path: PathBuf },

    #[error("{path} has no entry for controller {controller} (needed to resolve a relative cgroupsPath)")]
    OwnCgroupMissing { path: PathBuf, controller: String },

    #[error("mkdir {path}: {source}")]
    Mkdir { path: PathBuf, source: io::Error },

    #[error("rmdir {path}: {source}")]
    Rmdir { path: PathBuf, source: io::Error },

    #[error("open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },

    #[error("write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },

    #[error("add process {pid} to {path}: {source}")]
    AddProcess {
        pid: i32,
        path: PathBuf,
        source: io::Error,
    },

    #[error("{knob} set but the {controller} cgroup controller is not available")]
    ControllerMissing {
        knob: &'static str,
        controller: &'static str,
    },

    #[error("{knob} set but {path} does not exist ({hint})")]
    Unsupported {
        knob: &'static str,
        path: PathBuf,
        hint: &'static str,
    },

    #[error("{knob} = {value}: {reason}")]
    InvalidValue {
        knob: &'static str,
        value: String,
        reason: &'static str,
    },

    #[error("unified.{key} set but the host has no cgroup v2 hierarchy (legacy cgroup v1 only)")]
    UnifiedOnV1 { key: String },

    #[error("unified.{key}: not a cgroup file name")]
    InvalidUnifiedKey { key: String },

    #[error("load device-filter eBPF program for {path}: {source}; verifier log: {log}")]
    BpfLoad {
        path: PathBuf,
        log: String,
        source: io::Error,
    },

    #[error("{step} for {path}: {source}")]
    Bpf {
        step: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("freeze {path}: still {state:?} after {millis} ms")]
    FreezeTimeout {
        path: PathBuf,
        state: String,
        millis: u128,
    },

    #[error("send signal {signal} to process {pid}: {source}")]
    Signal {
        pid: i32,
        signal: i32,
        source: io::Error,
    },

    #[error("signal number {signal} is not valid")]
    InvalidSignal { signal: i32 },

    #[error("read directory {path}: {source}")]
    ReadDir { path: PathBuf, source: io::Error },

    #[error("saved cgroup state names no cgroup directory")]
    EmptySaved,
}
