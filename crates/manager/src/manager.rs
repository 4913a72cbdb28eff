//! `Manager`: one data root; opening it repairs what a killed command or monitor left.

use std::path::{Path, PathBuf};

use berth_storage::{Lower, StorageDriver};

use crate::db::Db;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::record::{ContainerRecord, RunConfig, State};
use crate::spec::{resolve_args, ImageDefaults};

/// How the manager is set up (global command-line options).
#[derive(Clone, Debug)]
pub struct Options {
    pub root: PathBuf,
    /// Parent of every container's cgroup (`<parent>/<id>` in each hierarchy).
    pub cgroup_parent: String,
    /// The binary run as a container's monitor (`<exe> __monitor --root R ID`).
    pub monitor_exe: PathBuf,
    /// The tiny init bind-mounted as the container's pid 1 for `--init` (`berth-init`, next
    /// to the berth binary: the runtime refuses to execute its own binary in a container).
    pub init_exe: PathBuf,
}

impl Options {
    pub fn new(root: &Path) -> Options {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("berth"));
        Options {
            root: root.to_path_buf(),
            cgroup_parent: "berth".into(),
            init_exe: exe.with_file_name("berth-init"),
            monitor_exe: exe,
        }
    }
}

pub struct Manager {
    pub(crate) layout: Layout,
    pub(crate) db: Db,
    pub(crate) opts: Options,
}

impl Manager {
    /// Open (creating if needed) the data root and repair the state of containers whose
    /// monitor died.
    pub fn open(opts: Options) -> Result<Manager> {
        let layout = Layout::init(&opts.root)?;
        let db = Db::new(&layout);
        let m = Manager { layout, db, opts };
        m.repair_states()?;
        Ok(m)
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn runtime_root(&self) -> PathBuf {
        self.layout.runtime()
    }

    pub(crate) fn storage(&self) -> Result<StorageDriver> {
        let mut s = StorageDriver::open(&self.layout.storage(), None)?;
        // The data root holds other tenants' logs, layers and bundles: never show it in a
        // host-tree container.
        s.set_host_masks(&[self.layout.root().to_path_buf()])?;
        Ok(s)
    }

    /// The container a user means: full id, name, or a unique id prefix.
    pub fn lookup(&self, what: &str) -> Result<ContainerRecord> {
        let all = self.db.list()?;
        find(&all, what).cloned()
    }

    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        let mut all = self.db.list()?;
        all.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(all)
    }

    /// Make a container: record, writable layer (with its quota), nothing running yet.
    pub fn create(&self, mut cfg: RunConfig) -> Result<ContainerRecord> {
        // The container whose network is joined, by id (a later rename changes nothing).
        if let crate::record::NetworkMode::Container(target) = &cfg.network {
            cfg.network = crate::record::NetworkMode::Container(self.lookup(target)?.id);
        }
        let (image_id, defaults, lower) = match &cfg.image {
            Some(reference) => {
                let store = self.images()?;
                let id = self.resolve_image(&store, reference)?;
                let details = store.inspect(&id.to_string())?;
                let layers = store.layer_dirs(&id)?;
                (
                    Some(id.to_string()),
                    image_defaults(&details.config),
                    Lower::Layers(layers),
                )
            }
            None => (None, ImageDefaults::default(), Lower::HostTree),
        };
        let args = resolve_args(cfg.entrypoint.as_deref(), &cfg.command, &defaults);
        if args.is_empty() {
            return Err(Error::InvalidOption {
                option: "command",
                value: String::new(),
                reason: "no command given and the image has none".into(),
            });
        }
        // Devices are resolved now so that a typo fails `run`, not the monitor.
        cfg.limits.to_resources()?;
        let id = crate::names::new_id()?;
        let name = match &cfg.name {
            Some(n) if !crate::names::valid_name(n) => {
                return Err(Error::InvalidName { name: n.clone() })
            }
            Some(n) => n.clone(),
            None => crate::names::generate_name()?,
        };
        let rec = ContainerRecord {
            id: id.clone(),
            name: name.clone(),
            image: cfg.image.clone(),
            image_id,
            stop_signal: defaults
                .stop_signal
                .clone()
                .unwrap_or_else(|| "SIGTERM".into()),
            image_defaults: defaults,
            args,
            created: crate::record::now(),
            state: State::Created,
            exit_code: None,
            error: None,
            pid: 0,
            monitor_pid: 0,
            monitor_start: 0,
            started_at: None,
            finished_at: None,
            log_path: self.layout.log(&id),
            cgroup_parent: self.opts.cgroup_parent.clone(),
            config: cfg,
        };
        // The record first: from now on `rm` can find and remove whatever follows.
        self.db.update(|all| {
            if let Some(other) = all.iter().find(|r| r.name == name) {
                return Err(Error::NameInUse {
                    name: name.clone(),
                    id: other.id.clone(),
                });
            }
            Ok((vec![(id.clone(), Some(rec.clone()))], ()))
        })?;
        if let Err(e) = self.provision(&rec, &lower) {
            let _ = self.remove_resources(&rec);
            let _ = self.db.remove(&id);
            return Err(e);
        }
        Ok(rec)
    }

    fn provision(&self, rec: &ContainerRecord, lower: &Lower) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = self.layout.container(&rec.id);
        // The id range is taken now: the writable layer stores the shifted ids.
        let ids = self.userns_of(rec)?.shift();
        let mkdir_err = |source| Error::CreateDir {
            path: dir.clone(),
            source,
        };
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(mkdir_err)?;
        if let Some(s) = ids {
            // The container's init (its root group, in its user namespace) must reach the
            // /etc files bind-mounted from here; nobody else may (logs live here too).
            use std::os::unix::fs::PermissionsExt;
            std::os::unix::fs::chown(&dir, Some(0), Some(s.gid)).map_err(mkdir_err)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o710))
                .map_err(mkdir_err)?;
        }
        self.storage()?
            .create_shifted(&rec.id, lower, rec.config.disk, ids)?;
        Ok(())
    }

    /// Remove what a container owns on disk: runtime state (killing what is left), mounts,
    /// writable layer and quota image, bundle and logs. Missing pieces are fine.
    pub(crate) fn remove_resources(&self, rec: &ContainerRecord) -> Result<()> {
        self.detach_network(rec)?;
        match berth_container::lifecycle::delete(&self.layout.runtime(), &rec.id, true) {
            Ok(()) | Err(berth_container::Error::NotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.storage()?.remove(&rec.id)?;
        self.release_ids(&rec.id)?;
        let dir = self.layout.container(&rec.id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Remove { path: dir, source }),
        }
    }
}

/// Full id, exact name, or a unique id prefix.
pub(crate) fn find<'a>(all: &'a [ContainerRecord], what: &str) -> Result<&'a ContainerRecord> {
    if let Some(r) = all.iter().find(|r| r.id == what || r.name == what) {
        return Ok(r);
    }
    let mut matches = all
        .iter()
        .filter(|r| !what.is_empty() && r.id.starts_with(what));
    match (matches.next(), matches.next()) {
        (Some(r), None) => Ok(r),
        (Some(_), Some(_)) => Err(Error::AmbiguousId(what.to_string())),
        _ => Err(Error::NoSuchContainer(what.to_string())),
    }
}

fn image_defaults(config: &oci_spec::image::ImageConfiguration) -> ImageDefaults {
    let Some(c) = config.config() else {
        return ImageDefaults::default();
    };
    ImageDefaults {
        env: c.env().clone().unwrap_or_default(),
        entrypoint: c.entrypoint().clone().unwrap_or_default(),
        cmd: c.cmd().clone().unwrap_or_default(),
        workdir: c.working_dir().clone(),
        user: c.user().clone(),
        stop_signal: c.stop_signal().clone(),
    }
}
