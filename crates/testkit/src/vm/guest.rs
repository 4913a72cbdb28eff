//! The builder tests use: what goes into the guest, and one boot of it.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::initramfs::Initramfs;
use super::kernel::GuestKernel;
use super::libs::shared_libraries;
use super::qemu::{boot, Boot, BootParams};
use super::{init, VmError};
use crate::{busybox_path, unique};

/// Modules every guest loads: what containers need that the Debian kernel builds as modules.
const DEFAULT_MODULES: &[&str] = &["overlay", "veth", "bridge", "loop"];

/// The guest stays silent this long at most before it is killed and booted once more.
const SILENCE: Duration = Duration::from_secs(90);

enum Item {
    /// A host binary plus the shared libraries it needs.
    Binary(PathBuf, String),
    /// A host file or directory tree.
    Path(PathBuf, String),
    Data(String, Vec<u8>, u32),
}

/// What a boot produced.
#[derive(Debug, Clone)]
pub struct GuestOutput {
    /// The payload script's exit status.
    pub status: i32,
    /// Everything the guest printed on its serial console (kernel messages, the payload's
    /// stdout and stderr), `\r` removed.
    pub console: String,
}

impl GuestOutput {
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.console.lines()
    }

    /// The rest of the first console line that contains `prefix`, after it.
    pub fn value_after(&self, prefix: &str) -> Option<&str> {
        self.lines()
            .find_map(|l| l.find(prefix).map(|at| l[at + prefix.len()..].trim()))
    }
}

/// A cgroup v2 guest to boot: busybox userland, [`DEFAULT_MODULES`] loaded, `/sys/fs/cgroup`
/// a cgroup2 mount (`nsdelegate,memory_recursiveprot`) with cpuset, cpu, io, memory and pids
/// enabled for children, `/tmp` and `/run` tmpfs, then `sh /payload.sh`.
pub struct Guest {
    items: Vec<Item>,
    modules: Vec<String>,
    script: String,
    memory_mib: u32,
    timeout: Duration,
}

impl Default for Guest {
    fn default() -> Self {
        Self::new()
    }
}

impl Guest {
    pub fn new() -> Guest {
        Guest {
            items: Vec::new(),
            modules: DEFAULT_MODULES.iter().map(|m| m.to_string()).collect(),
            script: String::from("true\n"),
            memory_mib: 1024,
            timeout: Duration::from_secs(180),
        }
    }

    /// Copy host binary `host` to `guest` (absolute), with the shared libraries `ldd` lists
    /// at their host paths.
    pub fn binary(mut self, host: impl AsRef<Path>, guest: &str) -> Guest {
        self.items
            .push(Item::Binary(host.as_ref().to_path_buf(), guest.to_string()));
        self
    }

    /// Copy a host file, or a directory tree (symlinks kept), to `guest` (absolute).
    pub fn file(mut self, host: impl AsRef<Path>, guest: &str) -> Guest {
        self.items
            .push(Item::Path(host.as_ref().to_path_buf(), guest.to_string()));
        self
    }

    /// A file with the given content and permission bits at `guest` (absolute).
    pub fn data(mut self, guest: &str, content: impl Into<Vec<u8>>, mode: u32) -> Guest {
        self.items
            .push(Item::Data(guest.to_string(), content.into(), mode));
        self
    }

    /// Load one more kernel module (with its dependencies) before the payload.
    pub fn module(mut self, name: &str) -> Guest {
        self.modules.push(name.to_string());
        self
    }

    /// The payload, run by busybox `sh` as `/payload.sh` from `/`, stdin `/dev/null`.
    pub fn script(mut self, sh: &str) -> Guest {
        self.script = sh.to_string();
        self
    }

    /// Guest memory (default 1024 MiB).
    pub fn memory_mib(mut self, mib: u32) -> Guest {
        self.memory_mib = mib;
        self
    }

    /// How long a boot may take from qemu start to the exit marker (default 180 s).
    pub fn timeout(mut self, timeout: Duration) -> Guest {
        self.timeout = timeout;
        self
    }

    /// Pack the initramfs, boot, and wait for the payload's exit marker. Boots once more if
    /// the guest printed nothing at all within 90 s, or did not finish in time (rare hangs
    /// under TCG).
    pub fn run(&self) -> Result<GuestOutput, VmError> {
        let kernel = GuestKernel::prepared()?;
        let work = tempfile::Builder::new()
            .prefix(&format!("{}-vm-", unique("berth-test")))
            .tempdir()
            .map_err(VmError::WorkDir)?;
        let marker = format!("@@{}-exit@@=", unique("berth-vm"));
        let initrd = work.path().join("initrd.cpio");
        self.pack(&kernel, &marker, &initrd)?;
        let params = BootParams {
            kernel: &kernel.vmlinux,
            initrd: &initrd,
            memory_mib: self.memory_mib,
            marker: &marker,
            silence: SILENCE.min(self.timeout),
            timeout: self.timeout,
        };
        // A guest that hung (silent, or stalled past its timeout: RCU stalls were seen under
        // TCG on a busy host) is booted once more; a second failure is reported.
        let mut last = VmError::Silent(params.silence);
        for attempt in 0..2 {
            match boot(&params) {
                Ok(Boot::Exited { status, console }) => return Ok(GuestOutput { status, console }),
                Ok(Boot::Silent) => last = VmError::Silent(params.silence),
                Err(e @ VmError::Timeout { .. }) if attempt == 0 => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    fn pack(&self, kernel: &GuestKernel, marker: &str, path: &Path) -> Result<(), VmError> {
        let file = File::create(path).map_err(|source| VmError::Initramfs {
            entry: path.display().to_string(),
            source,
        })?;
        let mut archive = Initramfs::new(BufWriter::new(file));
        // The test's own entries first: on a clash, they win over the defaults below.
        for item in &self.items {
            match item {
                Item::Binary(host, guest) => {
                    archive.host_file(guest, host)?;
                    for lib in shared_libraries(host)? {
                        archive.host_file(&lib.to_string_lossy(), &lib)?;
                    }
                }
                Item::Path(host, guest) => archive.host_tree(guest, host)?,
                Item::Data(guest, content, mode) => archive.file(guest, *mode, content)?,
            }
        }
        archive.data_init(kernel, &self.modules, marker, &self.script)?;
        archive.finish()?;
        Ok(())
    }
}

impl<W: std::io::Write> Initramfs<W> {
    /// busybox with its applets, the modules, `/dev/console`, the init stages and the payload.
    fn data_init(
        &mut self,
        kernel: &GuestKernel,
        modules: &[String],
        marker: &str,
        script: &str,
    ) -> Result<(), VmError> {
        for dir in [
            "/proc", "/sys", "/dev", "/tmp", "/run", "/root", "/etc", "/.root",
        ] {
            self.dir(dir, 0o755)?;
        }
        // The kernel opens /dev/console for init's stdio before anything is mounted.
        self.char_device("/dev/console", 0o600, 5, 1)?;
        self.host_file("/bin/busybox", &busybox_path())?;
        let applets = crate::rootfs::applet_paths().map_err(|source| VmError::Read {
            path: busybox_path(),
            source,
        })?;
        for applet in applets {
            self.symlink(&format!("/{applet}"), "/bin/busybox")?;
        }
        self.file("/etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n")?;
        self.file("/etc/group", 0o644, b"root:x:0:\n")?;
        let files = kernel.module_closure(modules)?;
        for file in &files {
            let guest = format!("/lib/modules/{}/{file}", kernel.version);
            self.host_file(&guest, &kernel.modules.join(file))?;
        }
        self.file("/init", 0o755, init::STAGE1.as_bytes())?;
        let stage2 = init::stage2(&files, &kernel.version, marker);
        self.file("/init2", 0o755, stage2.as_bytes())?;
        self.file("/payload.sh", 0o755, script.as_bytes())
    }
}
