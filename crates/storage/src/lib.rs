//! berth-storage: copy-on-write root file systems (overlayfs) and per-container disk quotas.
//!
//! A [`StorageDriver`] owns one store directory. Each container gets an overlay whose
//! upper and work directories live inside a quota'd file system chosen per store
//! ([`QuotaBackend`]): project quotas where the file system has them, a btrfs subvolume
//! with a qgroup limit, or a loop-mounted sparse ext4 image (works everywhere).
//!
//! ```no_run
//! use berth_storage::{Lower, StorageDriver};
//! # fn main() -> Result<(), berth_storage::Error> {
//! let store = StorageDriver::open("/var/lib/berth/storage".as_ref(), None)?;
//! println!("quotas by {}", store.backend());
//! let layers = vec!["/var/lib/berth/layers/abc".into()];
//! store.create("web", &Lower::Layers(layers), Some(1 << 30))?;
//! let rootfs = store.mount("web")?; // hand to the runtime
//! store.resize("web", 2 << 30)?; // online
//! let usage = store.usage("web")?;
//! # let _ = (rootfs, usage);
//! store.remove("web")?;
//! // After a crash: drop whatever the manager does not know.
//! store.repair(&["db"])?;
//! # Ok(())
//! # }
//! ```

mod backend;
mod btrfs;
mod command;
mod driver;
mod du;
mod error;
mod ext4;
mod hostmask;
mod id;
mod idshift;
mod layout;
mod lock;
mod loopdev;
mod loopimage;
mod lower;
mod mount;
mod mountinfo;
mod mountpoint;
mod pending;
mod projquota;
mod provision;
mod record;
mod repair;
mod teardown;

pub use backend::QuotaBackend;
pub use driver::{DiskUsage, Layer, StorageDriver};
pub use error::Error;
pub use id::MAX_ID_LEN;
pub use idshift::IdShift;
pub use lower::Lower;
