//! A writer killed (SIGKILL) at any moment leaves a store that is either without the image
//! or with all of it, and the next open cleans up the work in progress.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_image::Store;
use common::*;

const CHILD_ROOT: &str = "BERTH_IMAGE_TEST_CHILD_ROOT";
const CHILD_LAYOUT: &str = "BERTH_IMAGE_TEST_CHILD_LAYOUT";
const FILES: usize = 300;

fn big_image() -> Built {
    let mut layers = Vec::new();
    for l in 0..3 {
        let mut layer = Layer::new().dir("d/");
        for i in 0..FILES {
            layer = layer.file(&format!("d/f{l}-{i}"), format!("{l}:{i}").as_bytes());
        }
        layers.push(layer);
    }
    image(&layers.iter().collect::<Vec<_>>())
}

/// Not a test of its own: the body the crash test runs in a child process and kills.
#[test]
fn child_loads_image_when_spawned_by_crash_test() {
    let (Some(root), Some(layout)) = (std::env::var_os(CHILD_ROOT), std::env::var_os(CHILD_LAYOUT))
    else {
        return;
    };
    let store = Store::open(Path::new(&root)).unwrap();
    store.load(Path::new(&layout)).unwrap();
}

fn check_consistent(root: &Path, img: &Built) -> bool {
    let store = Store::open(root).unwrap();
    assert_eq!(
        std::fs::read_dir(root.join("tmp")).unwrap().count(),
        0,
        "open cleans tmp/"
    );
    match store.resolve("crash:1") {
        Err(_) => {
            assert!(
                store.list().unwrap().is_empty() || store.list().unwrap()[0].repo_tags.is_empty()
            );
            false
        }
        Ok(id) => {
            assert_eq!(id, img.id());
            let dirs = store.layer_dirs(&id).unwrap();
            for (n, dir) in dirs.iter().rev().enumerate() {
                let count = std::fs::read_dir(dir.join("d")).unwrap().count();
                assert_eq!(count, FILES, "layer {n} complete");
            }
            true
        }
    }
}

#[test]
fn killed_load_leaves_a_consistent_store() {
    let tmp = TempDir::new("crash");
    let layout = tmp.path().join("layout");
    let img = big_image();
    write_layout(&layout, &[(&img, Some("crash:1"))]);
    let exe = std::env::current_exe().unwrap();
    let mut complete = 0;
    // None: let the child finish, so the "killed after the end" state is covered too.
    let delays = [
        Some(5u64),
        Some(25),
        Some(60),
        Some(120),
        Some(250),
        Some(500),
        None,
    ];
    for (n, delay) in delays.into_iter().enumerate() {
        let root = tmp.path().join(format!("store-{n}"));
        let mut child = Command::new(&exe)
            .args([
                "child_loads_image_when_spawned_by_crash_test",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD_ROOT, &root)
            .env(CHILD_LAYOUT, &layout)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        match delay {
            Some(ms) => {
                std::thread::sleep(Duration::from_millis(ms));
                let _ = child.kill();
                let _ = child.wait();
            }
            None => assert!(child.wait().unwrap().success()),
        }
        if !root.exists() {
            continue;
        }
        let done = check_consistent(&root, &img);
        eprintln!("delay {delay:?}: image complete after kill: {done}");
        if done {
            complete += 1;
        }
        // Whatever state it is in, the store finishes the job and prune drops leftovers.
        let store = Store::open(&root).unwrap();
        store.load(&layout).unwrap();
        assert!(check_consistent(&root, &img));
        store.prune(&|_| true).unwrap();
        assert_eq!(std::fs::read_dir(root.join("layers")).unwrap().count(), 3);
    }
    assert!(
        complete >= 1,
        "the child that was not killed completed its load"
    );
}
