//! One error variant per step that can fail, each carrying the path or value involved.

use std::io;
use std::path::PathBuf;

use crate::backend::QuotaBackend;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },

    #[error("create directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },

    #[error("resolve store root {path}: {source}")]
    Canonicalize { path: PathBuf, source: io::Error },

    #[error("read {path}: {source}")]
    ReadFile { path: PathBuf, source: io::Error },

    #[error("write {path}: {source}")]
    WriteFile { path: PathBuf, source: io::Error },

    #[error("parse {path}: {source}")]
    ParseRecord {
        path: PathBuf,
        source: serde_json::Error,
    },

    #[error("encode record for {path}: {source}")]
    EncodeRecord {
        path: PathBuf,
        source: serde_json::Error,
    },

    #[error("lock {path}: {source}")]
    Lock { path: PathBuf, source: io::Error },

    #[error("store {root} uses the {found} backend, {requested} was requested")]
    BackendMismatch {
        root: PathBuf,
        found: QuotaBackend,
        requested: QuotaBackend,
    },

    #[error("the {backend} backend is not available on {root}: {reason}")]
    BackendUnavailable {
        root: PathBuf,
        backend: QuotaBackend,
        reason: String,
    },

    #[error("container {id} already exists in {root}")]
    Exists { id: String, root: PathBuf },

    #[error("container {id} not found in {root}")]
    NotFound { id: String, root: PathBuf },

    #[error("lower layer {path}: {source}")]
    Lower { path: PathBuf, source: io::Error },

    #[error("lower layer {path} is not a directory")]
    LowerNotDir { path: PathBuf },

    #[error("a Layers lower needs at least one layer directory")]
    NoLayers,

    #[error("the {backend} backend cannot enforce a disk quota (container {id})")]
    QuotaUnsupported { id: String, backend: QuotaBackend },

    #[error("container {id} was created without a disk quota")]
    NoQuota { id: String },

    #[error("quota of {requested} bytes for {id} is below the minimum of {min} bytes")]
    QuotaTooSmall {
        id: String,
        requested: u64,
        min: u64,
    },

    #[error("cannot shrink {id} to {requested} bytes: {used} bytes are in use")]
    ShrinkBelowUsage {
        id: String,
        requested: u64,
        used: u64,
    },

    #[error(
        "growing {id} to {requested} bytes while mounted needs a larger file system, and \
         online ext4 resizing needs CAP_SYS_RESOURCE, which this process lacks (unmount first)"
    )]
    GrowNeedsCapability { id: String, requested: u64 },

    #[error("check capabilities of this process: {0}")]
    Capabilities(String),

    #[error("start {command}: {source}")]
    Spawn { command: String, source: io::Error },

    #[error("{command} failed ({status}): {stderr}")]
    Command {
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },

    #[error("unexpected output of {command}: {output:?}")]
    CommandOutput { command: String, output: String },

    #[error("open loop control /dev/loop-control: {0}")]
    LoopControl(#[source] io::Error),

    #[error("get a free loop device: {0}")]
    LoopGetFree(#[source] io::Error),

    #[error("open loop device {path}: {source}")]
    LoopOpen { path: PathBuf, source: io::Error },

    #[error("attach {image} to {device}: {source}")]
    LoopAttach {
        image: PathBuf,
        device: PathBuf,
        source: io::Error,
    },

    #[error("update capacity of {device}: {source}")]
    LoopCapacity { device: PathBuf, source: io::Error },

    #[error("detach {device}: {source}")]
    LoopDetach { device: PathBuf, source: io::Error },

    #[error("loop device {device} for {image} is still attached")]
    LoopBusy { device: PathBuf, image: PathBuf },

    #[error("list loop devices in {path}: {source}")]
    LoopList { path: PathBuf, source: io::Error },

    #[error("open image {path}: {source}")]
    OpenImage { path: PathBuf, source: io::Error },

    #[error("size image {path} to {size} bytes: {source}")]
    SizeImage {
        path: PathBuf,
        size: u64,
        source: io::Error,
    },

    #[error("mount {fstype} {what} on {target}: {source}")]
    Mount {
        fstype: &'static str,
        what: String,
        target: PathBuf,
        source: io::Error,
    },

    #[error("create the user namespace that idmaps the lower layers: {source}")]
    IdmapUserns { source: io::Error },

    #[error("idmapped lower layer {path}: {step}: {source}")]
    IdmapLower {
        step: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("chown {path} to {uid}:{gid}: {source}")]
    Chown {
        path: PathBuf,
        uid: u32,
        gid: u32,
        source: io::Error,
    },

    #[error("unmount {path}: {source}")]
    Unmount { path: PathBuf, source: io::Error },

    #[error("read mount table /proc/self/mountinfo: {0}")]
    MountTable(#[source] io::Error),

    #[error("{path} is still mounted; refusing to delete below it")]
    StillMounted { path: PathBuf },

    #[error("remove {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },

    #[error("statfs {path}: {source}")]
    Statfs { path: PathBuf, source: io::Error },

    #[error("stat {path}: {source}")]
    Stat { path: PathBuf, source: io::Error },

    #[error("measure {path}: {source}")]
    Measure { path: PathBuf, source: io::Error },

    #[error("set {name} on {path}: {source}")]
    Xattr {
        name: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("{step} for {path}: {source}")]
    ProjectQuota {
        step: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("lower layer {path} is not an absolute path")]
    LowerNotAbsolute { path: PathBuf },

    #[error("make whiteout {path}: {source}")]
    Whiteout { path: PathBuf, source: io::Error },

    #[error("host path to hide {path}: {source}")]
    HostMask { path: PathBuf, source: io::Error },

    #[error("sync file system of {path}: {source}")]
    Sync { path: PathBuf, source: io::Error },

    #[error("btrfs qgroup 0/{subvol} not found under {root}")]
    QgroupMissing { subvol: u64, root: PathBuf },
}
