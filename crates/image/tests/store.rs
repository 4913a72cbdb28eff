//! Store semantics: resolve, list/inspect, remove, prune, crash clean-up, concurrency.

mod common;

use std::fs::OpenOptions;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use berth_image::{Error, Store};
use common::*;

#[test]
fn resolve_accepts_every_reference_form() {
    let (_d, store) = store();
    let img = image(&[&Layer::new().file("x", b"x")]);
    let id = load(&store, &img, Some("docker.io/library/busybox:latest")).unwrap();
    for r in [
        "busybox",
        "busybox:latest",
        "library/busybox",
        "docker.io/library/busybox:latest",
        id.as_str(),
        &id.hex()[..12],
        &format!("sha256:{}", &id.hex()[..8]),
        &format!("busybox@{}", img.manifest_digest()),
    ] {
        assert_eq!(store.resolve(r).unwrap(), id, "{r}");
    }
    assert!(matches!(
        store.resolve("busybox:other"),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(store.resolve("nothing"), Err(Error::NotFound(_))));
    assert!(store.resolve("Bad Name").is_err());
}

#[test]
fn ambiguous_id_prefix_is_an_error() {
    let (_d, store) = store();
    let mut ids = Vec::new();
    for i in 0..40 {
        let img = image(&[&Layer::new().file("x", format!("{i}").as_bytes())]);
        ids.push(load(&store, &img, None).unwrap());
    }
    // 40 ids over 16 first digits: at least two share a first digit.
    let clash = ids
        .iter()
        .find(|a| ids.iter().filter(|b| b.hex()[..1] == a.hex()[..1]).count() > 1)
        .unwrap();
    let err = store.resolve(&clash.hex()[..1]).unwrap_err();
    assert!(matches!(err, Error::AmbiguousId(_)), "{err}");
}

#[test]
fn list_and_inspect_show_config_and_layers() {
    let (d, store) = store();
    let img = image(&[
        &Layer::new().file("x", b"12345"),
        &Layer::new().file("y", b"67"),
    ]);
    let id = load(&store, &img, Some("app:1")).unwrap();
    let rootfs = d.path().join("r.tar");
    std::fs::write(&rootfs, Layer::new().file("z", b"z").tar()).unwrap();
    store.import(&rootfs, None).unwrap();
    let list = store.list().unwrap();
    assert_eq!(list.len(), 2);
    let s = list.iter().find(|s| s.id == id).unwrap();
    assert_eq!(s.repo_tags, vec!["docker.io/library/app:1".to_owned()]);
    assert_eq!(s.size, 7);
    assert_eq!(s.created.as_deref(), Some("2024-01-02T03:04:05Z"));
    let d = store.inspect("app:1").unwrap();
    let c = d.config.config().as_ref().unwrap();
    assert_eq!(c.env().as_ref().unwrap(), &["PATH=/bin", "A=b"]);
    assert_eq!(c.cmd().as_ref().unwrap(), &["sh"]);
    assert_eq!(c.working_dir().as_deref(), Some("/w"));
    assert_eq!(c.user().as_deref(), Some("1:2"));
    assert!(c
        .exposed_ports()
        .as_ref()
        .unwrap()
        .contains(&"80/tcp".to_owned()));
    assert_eq!(d.layers.len(), 2);
    assert_eq!(d.layers[0].digest.as_str(), sha(&img.layers[0].0));
    assert_eq!(d.manifest_digest.as_str(), img.manifest_digest());
}

#[test]
fn remove_untags_then_removes_and_respects_in_use() {
    let dir = TempDir::new("rm");
    let in_use = Arc::new(AtomicBool::new(false));
    let flag = in_use.clone();
    let store = Store::open(&dir.path().join("image"))
        .unwrap()
        .with_in_use(move |_| flag.load(Ordering::SeqCst));
    let base = Layer::new().file("base", b"b");
    let a = load(
        &store,
        &image(&[&base, &Layer::new().file("a", b"a")]),
        Some("a:1"),
    )
    .unwrap();
    let b = load(&store, &image(&[&base]), Some("b:1")).unwrap();
    load(
        &store,
        &image(&[&base, &Layer::new().file("a", b"a")]),
        Some("a:2"),
    )
    .unwrap();
    let a_top = store.layer_dirs(&a).unwrap()[0].clone();

    // Two tags: by id needs force, by tag only untags.
    assert!(matches!(
        store.remove(a.as_str(), false),
        Err(Error::MultipleTags { .. })
    ));
    store.remove("a:2", false).unwrap();
    assert!(store.resolve("a:2").is_err());
    assert_eq!(store.resolve("a:1").unwrap(), a);

    // In use: refused, then forced removal only drops the name.
    in_use.store(true, Ordering::SeqCst);
    assert!(matches!(
        store.remove("a:1", false),
        Err(Error::InUse { .. })
    ));
    store.remove("a:1", true).unwrap();
    assert!(store.resolve("a:1").is_err());
    assert!(a_top.is_dir(), "layers of an in-use image stay");
    assert_eq!(store.resolve(a.as_str()).unwrap(), a);

    // Not in use: removal deletes the image and its own layer, the shared base stays.
    in_use.store(false, Ordering::SeqCst);
    store.remove(a.as_str(), false).unwrap();
    assert!(store.resolve(a.as_str()).is_err());
    assert!(!a_top.exists());
    assert!(store.layer_dirs(&b).unwrap()[0].is_dir());
    assert!(!store.root().join("blobs/sha256").join(a.hex()).exists());
}

#[test]
fn prune_frees_unkept_images_and_garbage() {
    let (_d, store) = store();
    let keep = load(
        &store,
        &image(&[&Layer::new().file("k", b"keep")]),
        Some("keep"),
    )
    .unwrap();
    let big = vec![7u8; 100_000];
    let drop = load(&store, &image(&[&Layer::new().file("big", &big)]), None).unwrap();
    let garbage = store.root().join("blobs/sha256").join("0".repeat(64));
    std::fs::write(&garbage, b"orphan").unwrap();
    let freed = store.prune(&|id| *id == keep).unwrap();
    assert!(freed >= 100_000, "freed {freed}");
    assert!(store.resolve(drop.as_str()).is_err());
    assert!(!garbage.exists());
    assert_eq!(store.layer_dirs(&keep).unwrap().len(), 1);
    assert_eq!(
        std::fs::read_dir(store.root().join("layers"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(store.prune(&|_| true).unwrap(), 0);
}

#[test]
fn open_cleans_what_a_killed_writer_left() {
    let (dir, store) = store();
    let tmp = store.root().join("tmp");
    std::fs::create_dir_all(tmp.join("layer-123-0-0/diff/usr")).unwrap();
    std::fs::write(tmp.join("blob-123-1-0"), b"half a blob").unwrap();

    // While another writer holds the lock, open must not touch its work.
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .open(store.root().join("lock"))
        .unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    Store::open(&dir.path().join("image")).unwrap();
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 2);
    drop(lock);

    Store::open(&dir.path().join("image")).unwrap();
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn concurrent_loads_of_one_image_share_one_layer() {
    let (dir, _store) = store();
    let img = Arc::new(image(&[
        &Layer::new().file("a", &vec![1u8; 200_000]),
        &Layer::new().file("b", b"b"),
    ]));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let root = dir.path().join("image");
            let img = img.clone();
            std::thread::spawn(move || {
                let s = Store::open(&root).unwrap();
                load(&s, &img, Some(&format!("c:{i}"))).unwrap()
            })
        })
        .collect();
    let ids: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(ids.iter().all(|i| *i == img.id()));
    let s = Store::open(&dir.path().join("image")).unwrap();
    assert_eq!(
        std::fs::read_dir(s.root().join("layers")).unwrap().count(),
        2
    );
    assert_eq!(s.list().unwrap()[0].repo_tags.len(), 4);
    assert_eq!(std::fs::read_dir(s.root().join("tmp")).unwrap().count(), 0);
}

#[test]
fn tag_adds_a_name() {
    let (_d, store) = store();
    let id = load(
        &store,
        &image(&[&Layer::new().file("t", b"t")]),
        Some("orig:1"),
    )
    .unwrap();
    store.tag("orig:1", "registry.example:5000/copy:2").unwrap();
    assert_eq!(store.resolve("registry.example:5000/copy:2").unwrap(), id);
    let tags = store.inspect(id.as_str()).unwrap().summary.repo_tags;
    assert_eq!(
        tags,
        vec![
            "docker.io/library/orig:1".to_owned(),
            "registry.example:5000/copy:2".to_owned()
        ]
    );
    assert!(matches!(
        store.tag("missing", "x:1"),
        Err(Error::NotFound(_))
    ));
    let bad = format!("x@{}", id);
    assert!(matches!(
        store.tag("orig:1", &bad),
        Err(Error::InvalidReference { .. })
    ));
}
