//! Containers from images: a docker-save archive is loaded, two containers share its
//! unpacked layer (same inode) and see each other's writes nowhere.

mod common;

use std::os::unix::fs::MetadataExt;

use common::Env;

#[test]
fn load_then_two_containers_share_layers_but_not_writes() {
    let env = Env::new("layers");
    let tag = "berth-test/busybox:1";
    let archive = common::busybox_archive(&env.root, tag);
    let out = env.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.starts_with("Loaded image ID: sha256:"), "{out}");
    let images = env.ok(&["images"]);
    assert!(images.contains("berth-test/busybox"), "{images}");

    let a = env.ok(&[
        "run",
        "-d",
        "--name",
        "a",
        tag,
        "sh",
        "-c",
        "echo from-a > /mine; sleep 1000",
    ]);
    let b = env.ok(&[
        "run",
        "-d",
        "--name",
        "b",
        tag,
        "sh",
        "-c",
        "echo from-b > /mine; sleep 1000",
    ]);
    assert_ne!(a, b);
    let ino = |name: &str| -> u64 {
        env.ok(&["exec", name, "stat", "-c", "%i", "/bin/busybox"])
            .trim()
            .parse()
            .unwrap()
    };
    let (ia, ib) = (ino("a"), ino("b"));
    assert_eq!(ia, ib, "both containers read the one unpacked layer");
    // ... which is the store's layer file itself, not a copy.
    let layer_files: Vec<u64> = walk(&env.root.join("images/layers"))
        .into_iter()
        .filter(|p| p.ends_with("diff/bin/busybox"))
        .map(|p| std::fs::metadata(p).unwrap().ino())
        .collect();
    assert_eq!(layer_files, [ia]);
    // Writes stay private.
    assert_eq!(env.ok(&["exec", "a", "cat", "/mine"]), "from-a\n");
    assert_eq!(env.ok(&["exec", "b", "cat", "/mine"]), "from-b\n");
    env.ok(&[
        "exec",
        "a",
        "sh",
        "-c",
        "echo changed > /bin/busybox-note; touch /etc/a-only",
    ]);
    assert_ne!(
        env.run(&["exec", "b", "ls", "/etc/a-only"]).status.code(),
        Some(0)
    );
    assert!(walk(&env.root.join("images/layers"))
        .iter()
        .all(|p| !p.ends_with("mine") && !p.ends_with("a-only")));
    // The image cannot be removed while used; it can after the containers are gone.
    assert_ne!(env.run(&["rmi", tag]).status.code(), Some(0));
    env.ok(&["rm", "-f", "a", "b"]);
    env.ok(&["rmi", tag]);
    assert_eq!(env.ok(&["images", "-q"]), "");
}

#[test]
fn image_config_user_workdir_and_save() {
    let env = Env::new("imgcfg");
    let tag = "berth-test/busybox:cfg";
    let archive = common::busybox_archive(&env.root, tag);
    env.ok(&["load", "-i", archive.to_str().unwrap()]);
    let out = env.ok(&[
        "run",
        "--rm",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        tag,
        "sh",
        "-c",
        "id -u; pwd; echo $PATH",
    ]);
    assert_eq!(out, "65534\n/tmp\n/bin\n");
    let saved = env.root.join("saved.tar");
    env.ok(&["save", "-o", saved.to_str().unwrap(), tag]);
    env.ok(&["rmi", tag]);
    env.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert!(env.ok(&["images"]).contains("berth-test/busybox"));
    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["image", "inspect", tag])).unwrap();
    assert_eq!(inspect[0]["Config"]["config"]["Cmd"][0], "sh");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
