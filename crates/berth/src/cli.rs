//! The command line: docker's verbs and flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "OS-level virtualization: containers from images or the host's own tree"
)]
pub struct Cli {
    /// Data root: metadata, logs, layers, images.
    #[arg(
        long,
        global = true,
        env = "BERTH_ROOT",
        default_value = "/var/lib/berth"
    )]
    pub root: PathBuf,
    /// cgroup parent of every container (`<parent>/<id>` in each hierarchy).
    #[arg(
        long,
        global = true,
        env = "BERTH_CGROUP_PARENT",
        default_value = "berth"
    )]
    pub cgroup_parent: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and start a container (`berth run -- CMD` runs on the host's own tree).
    Run(RunArgs),
    /// Create a container without starting it.
    Create(CreateArgs),
    /// Start created or exited containers.
    Start { containers: Vec<String> },
    /// Stop containers: the stop signal, then SIGKILL after the timeout.
    Stop(StopArgs),
    /// Stop and start containers.
    Restart(StopArgs),
    /// Send a signal to containers.
    Kill {
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        containers: Vec<String>,
    },
    /// Remove containers.
    Rm {
        #[arg(short, long)]
        force: bool,
        containers: Vec<String>,
    },
    /// List containers.
    Ps {
        #[arg(short, long)]
        all: bool,
        /// `table` or `json`.
        #[arg(long, default_value = "table")]
        format: String,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Show a container's output.
    Logs {
        #[arg(short, long)]
        follow: bool,
        #[arg(long)]
        tail: Option<String>,
        #[arg(short, long)]
        timestamps: bool,
        container: String,
    },
    /// Show a container's record and OCI config as JSON.
    Inspect { containers: Vec<String> },
    /// Show a container's processes.
    Top { container: String },
    /// CPU, memory, block I/O, pids and disk use of running containers.
    Stats {
        #[arg(long)]
        no_stream: bool,
        containers: Vec<String>,
    },
    /// Wait for containers to exit and print their exit codes.
    Wait { containers: Vec<String> },
    /// Change limits of containers (live), disk quota included.
    Update {
        #[command(flatten)]
        limits: LimitArgs,
        containers: Vec<String>,
    },
    /// Rename a container.
    Rename { container: String, name: String },
    /// Data root, quota backend, counts.
    Info,
    /// Disk use and clean-up.
    #[command(subcommand)]
    System(SystemCommand),
    /// Pull an image from a registry.
    Pull {
        #[arg(long)]
        insecure: bool,
        #[arg(short, long)]
        quiet: bool,
        image: String,
    },
    /// Import a root file system tarball as an image.
    Import {
        file: PathBuf,
        reference: Option<String>,
    },
    /// Load images from a docker-archive or oci-archive.
    Load {
        #[arg(short, long)]
        input: PathBuf,
    },
    /// Save images to an archive.
    Save {
        #[arg(short, long)]
        output: PathBuf,
        /// `docker` or `oci`.
        #[arg(long, default_value = "docker")]
        format: String,
        images: Vec<String>,
    },
    /// List images.
    Images {
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove images.
    Rmi {
        #[arg(short, long)]
        force: bool,
        images: Vec<String>,
    },
    /// Image commands.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Networks.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// The per-container monitor (internal).
    #[command(name = "__monitor", hide = true)]
    Monitor { id: String },
}

#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    Create {
        #[arg(long)]
        subnet: Option<String>,
        #[arg(long)]
        subnet_v6: Option<String>,
        /// No route off the bridge and no NAT.
        #[arg(long)]
        internal: bool,
        /// No traffic between containers of the network.
        #[arg(long)]
        isolate: bool,
        name: String,
    },
    Ls,
    Inspect {
        names: Vec<String>,
    },
    /// Refused while a container is attached to it.
    Rm {
        names: Vec<String>,
    },
    /// Attach a running container to one more network (its next interface, ethN).
    Connect {
        /// A fixed address on that network.
        #[arg(long)]
        ip: Option<String>,
        network: String,
        container: String,
    },
    /// Detach a container from one network (its interface there, rules, caps and lease).
    Disconnect {
        network: String,
        container: String,
    },
    /// A running container's firewall rules.
    #[command(subcommand)]
    Rule(RuleCommand),
}

#[derive(Subcommand, Debug)]
pub enum RuleCommand {
    /// Append a rule: `allow|deny in|out [tcp|udp|icmp] [port N] [from|to CIDR]`.
    Add {
        container: String,
        #[arg(required = true, allow_hyphen_values = true)]
        rule: Vec<String>,
    },
    /// Remove a rule (the same words as it was added with).
    Rm {
        container: String,
        #[arg(required = true, allow_hyphen_values = true)]
        rule: Vec<String>,
    },
    /// The container's rules, in order.
    Ls { container: String },
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Disk use of images and containers.
    Df,
    /// Remove exited containers, leftovers and unused images.
    Prune {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    Inspect {
        images: Vec<String>,
    },
    Prune {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        force: bool,
    },
    Ls {
        #[arg(short, long)]
        quiet: bool,
    },
    Rm {
        #[arg(short, long)]
        force: bool,
        images: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing.
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run in the background and print the container id.
    #[arg(short, long)]
    pub detach: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[arg(long)]
    pub name: Option<String>,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(short, long)]
    pub tty: bool,
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    /// `HOST:CONTAINER[:ro]`.
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    #[arg(short, long)]
    pub workdir: Option<String>,
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(long)]
    pub hostname: Option<String>,
    #[arg(long)]
    pub read_only: bool,
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Run a tiny init as pid 1 that reaps orphans.
    #[arg(long)]
    pub init: bool,
    /// `none` (own namespace with lo, the default), `host`, or a berth network's name
    /// (`default`: the default bridge network, created on first use), or `container:ID`
    /// (share that running container's network namespace). Repeatable, or comma-separated
    /// (`--network a,b`): one interface per berth network, eth0, eth1, ... in order; the
    /// default routes go through the first.
    #[arg(long)]
    pub network: Vec<String>,
    /// Default `private`: a user namespace with the container's own range of 65536 host
    /// ids (root inside is an unprivileged id outside; image and host files keep their
    /// owners through idmapped layers; `-v` volumes show host ids unmapped, so host-root
    /// files there are not writable). With `--network host` the host's /sys is bound
    /// read-only instead of a sysfs of its own. `--network container:ID` implies `host`
    /// (a user namespace cannot join a network namespace it does not own). `host`: no
    /// user namespace (capabilities, seccomp and masked paths only).
    #[arg(long)]
    pub userns: Option<String>,
    /// Publish a port: `[HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]` (bridge networks; to the
    /// container's address on its first network).
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// A fixed address on the (first) bridge network.
    #[arg(long)]
    pub ip: Option<String>,
    #[arg(long)]
    pub mac_address: Option<String>,
    /// A resolver for the container's /etc/resolv.conf (repeatable; replaces the host's).
    #[arg(long)]
    pub dns: Vec<String>,
    /// `NAME:ADDR`, a line of the container's /etc/hosts (repeatable).
    #[arg(long)]
    pub add_host: Vec<String>,
    /// Cap on what the container sends: `500kbit`, `10mbit`, `1gbit`.
    #[arg(long)]
    pub net_egress: Option<String>,
    /// Cap on what the container receives.
    #[arg(long)]
    pub net_ingress: Option<String>,
    /// `allow|deny in|out [tcp|udp|icmp] [port N] [from|to CIDR]` (repeatable; first match wins).
    #[arg(long)]
    pub firewall: Vec<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// `[IMAGE] [COMMAND...]`; `-- COMMAND...` with no image: the host's tree.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct LimitArgs {
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Memory plus swap (-1: unlimited).
    #[arg(long)]
    pub memory_swap: Option<String>,
    #[arg(long)]
    pub memory_reservation: Option<String>,
    #[arg(long)]
    pub cpus: Option<f64>,
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<u64>,
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    #[arg(long)]
    pub cpu_period: Option<u64>,
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    #[arg(long)]
    pub pids_limit: Option<i64>,
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    #[arg(long)]
    pub device_read_bps: Vec<String>,
    #[arg(long)]
    pub device_write_bps: Vec<String>,
    #[arg(long)]
    pub device_read_iops: Vec<String>,
    #[arg(long)]
    pub device_write_iops: Vec<String>,
    /// Disk quota of the container's writable layer.
    #[arg(long)]
    pub disk: Option<String>,
    /// docker's spelling of the disk quota: `size=2G`.
    #[arg(long)]
    pub storage_opt: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[arg(short, long)]
    pub detach: bool,
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(short, long)]
    pub tty: bool,
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    #[arg(short, long)]
    pub workdir: Option<String>,
    #[arg(short, long)]
    pub user: Option<String>,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}
