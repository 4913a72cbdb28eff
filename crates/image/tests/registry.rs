//! Pulls from a real registry (Debian's `docker-registry`, the distribution server) started on
//! a random loopback port with its own storage: plain http, basic auth via a docker config,
//! a multi-arch index, and a tampered blob.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use berth_image::{Digest, Error, NoProgress, Platform, Progress, PullOptions};
use common::*;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::json;

/// A running registry, killed and its storage removed on drop.
struct Registry {
    child: Child,
    dir: TempDir,
    addr: String,
}

impl Registry {
    fn start(auth: Option<(&str, &str)>) -> Registry {
        let dir = TempDir::new("registry");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: berth-test\n",
            dir.path().join("data").display()
        );
        if let Some((user, pass)) = auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .expect("htpasswd (apache2-utils) is installed");
            assert!(out.status.success());
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, out.stdout).unwrap();
            config += &format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("BERTH_TEST_REGISTRY_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("docker-registry is installed");
        let reg = Registry { child, dir, addr };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&reg.addr).is_err() {
            assert!(Instant::now() < deadline, "registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = &digest[7..];
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> Client {
    Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    })
}

async fn push(client: &Client, reference: &str, img: &Built, auth: &RegistryAuth) -> String {
    push_typed(
        client,
        reference,
        img,
        auth,
        "application/vnd.oci.image.manifest.v1+json",
    )
    .await
}

async fn push_typed(
    client: &Client,
    reference: &str,
    img: &Built,
    auth: &RegistryAuth,
    content_type: &str,
) -> String {
    let r: Reference = reference.parse().unwrap();
    client
        .store_auth_if_needed(r.resolve_registry(), auth)
        .await;
    for (blob, _) in &img.layers {
        client
            .push_blob(&r, blob.clone(), &sha(blob))
            .await
            .unwrap();
    }
    client
        .push_blob(&r, img.config.clone(), &img.config_digest())
        .await
        .unwrap();
    client
        .push_manifest_raw(&r, img.manifest.clone(), content_type.parse().unwrap())
        .await
        .unwrap();
    img.manifest_digest()
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Progress for Recorder {
    fn blob_done(&self, d: &Digest) {
        self.0.lock().unwrap().push(format!("done {d}"));
    }
    fn blob_progress(&self, d: &Digest, n: u64) {
        self.0
            .lock()
            .unwrap()
            .retain(|e| !e.starts_with(&format!("progress {d}")));
        self.0.lock().unwrap().push(format!("progress {d} {n}"));
    }
    fn blob_exists(&self, d: &Digest) {
        self.0.lock().unwrap().push(format!("exists {d}"));
    }
}

#[tokio::test]
async fn pull_over_plain_http_from_loopback_registry() {
    let reg = Registry::start(None);
    let base = Layer::new().dir("etc/").file("etc/motd", b"hello");
    let img = image(&[&base, &Layer::new().file("app", b"#!app")]);
    let reference = format!("{}/berth/app:v1", reg.addr);
    let manifest = push(&client(), &reference, &img, &RegistryAuth::Anonymous).await;

    let (_d, store) = store();
    let rec = Recorder::default();
    let id = store
        .pull(&reference, &PullOptions::default(), &rec)
        .await
        .unwrap();
    assert_eq!(id, img.id());
    let events = rec.0.lock().unwrap().clone();
    let done = events.iter().filter(|e| e.starts_with("done")).count();
    assert_eq!(done, 3, "config + 2 layers downloaded: {events:?}");
    for (blob, _) in &img.layers {
        let last = format!("progress {} {}", sha(blob), blob.len());
        assert!(events.contains(&last), "{last} in {events:?}");
    }
    let dirs = store.layer_dirs(&id).unwrap();
    assert_eq!(std::fs::read(dirs[0].join("app")).unwrap(), b"#!app");
    assert_eq!(std::fs::read(dirs[1].join("etc/motd")).unwrap(), b"hello");
    let repo_digest = format!("{}/berth/app@{manifest}", reg.addr);
    let d = store.inspect(&reference).unwrap();
    assert_eq!(d.summary.repo_digests, vec![repo_digest.clone()]);
    assert_eq!(d.manifest_digest.as_str(), manifest);
    assert_eq!(store.resolve(&repo_digest).unwrap(), id);

    // Pull by digest: everything is already there.
    let rec = Recorder::default();
    store
        .pull(&repo_digest, &PullOptions::default(), &rec)
        .await
        .unwrap();
    assert!(rec
        .0
        .lock()
        .unwrap()
        .iter()
        .all(|e| e.starts_with("exists")));
}

#[tokio::test]
async fn pull_with_basic_auth_from_docker_config() {
    let reg = Registry::start(Some(("berth", "s3cret")));
    let img = image(&[&Layer::new().file("private", b"p")]);
    let reference = format!("{}/team/private:1", reg.addr);
    let auth = RegistryAuth::Basic("berth".into(), "s3cret".into());
    push(&client(), &reference, &img, &auth).await;

    let (d, store) = store();
    let docker_config = d.path().join("docker-config");
    std::fs::create_dir_all(&docker_config).unwrap();
    std::env::set_var("DOCKER_CONFIG", &docker_config);

    let err = store
        .pull(&reference, &PullOptions::default(), &NoProgress)
        .await
        .expect_err("anonymous pull of a private image");
    assert!(matches!(err, Error::Registry { .. }), "{err}");
    assert!(contents(&store).is_empty());

    let token = base64::engine::general_purpose::STANDARD.encode("berth:s3cret");
    let cfg = json!({"auths": {format!("http://{}", reg.addr): {"auth": token}}});
    std::fs::write(docker_config.join("config.json"), cfg.to_string()).unwrap();
    let id = store
        .pull(&reference, &PullOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(id, img.id());
    assert_eq!(
        std::fs::read(store.layer_dirs(&id).unwrap()[0].join("private")).unwrap(),
        b"p"
    );

    let bad = base64::engine::general_purpose::STANDARD.encode("berth:wrong");
    let cfg = json!({"auths": {reg.addr.clone(): {"auth": bad}}});
    std::fs::write(docker_config.join("config.json"), cfg.to_string()).unwrap();
    let (d2, other) = common::store();
    assert!(other
        .pull(&reference, &PullOptions::default(), &NoProgress)
        .await
        .is_err());

    // An explicit config file wins over $DOCKER_CONFIG.
    let explicit = d2.path().join("explicit.json");
    let cfg = json!({"auths": {reg.addr.clone(): {"username": "berth", "password": "s3cret"}}});
    std::fs::write(&explicit, cfg.to_string()).unwrap();
    let other = other.with_docker_config(&explicit);
    let opts = PullOptions::default();
    assert_eq!(
        other.pull(&reference, &opts, &NoProgress).await.unwrap(),
        img.id()
    );
}

#[tokio::test]
async fn multi_arch_index_resolves_to_the_wanted_platform() {
    let reg = Registry::start(None);
    let amd = Layer::new().file("arch", b"amd64");
    let arm = Layer::new().file("arch", b"arm64");
    let amd_img = image_with(&[(gzip(&amd.tar()), amd.tar())], "amd64", &["sh"]);
    let arm_img = image_with(&[(gzip(&arm.tar()), arm.tar())], "arm64", &["sh"]);
    let repo = format!("{}/berth/multi", reg.addr);
    let c = client();
    let a = push(
        &c,
        &format!("{repo}@{}", amd_img.manifest_digest()),
        &amd_img,
        &RegistryAuth::Anonymous,
    )
    .await;
    let b = push(
        &c,
        &format!("{repo}@{}", arm_img.manifest_digest()),
        &arm_img,
        &RegistryAuth::Anonymous,
    )
    .await;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": b,
             "size": arm_img.manifest.len(), "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": a,
             "size": amd_img.manifest.len(), "platform": {"architecture": "amd64", "os": "linux"}},
        ],
    })
    .to_string()
    .into_bytes();
    let index_digest = sha(&index);
    let tagged: Reference = format!("{repo}:latest").parse().unwrap();
    c.push_manifest_raw(
        &tagged,
        index,
        "application/vnd.oci.image.index.v1+json".parse().unwrap(),
    )
    .await
    .unwrap();

    let (_d, store) = store();
    let id = store
        .pull(
            &format!("{repo}:latest"),
            &PullOptions::default(),
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(id, amd_img.id(), "host (amd64) manifest chosen");
    let dir = &store.layer_dirs(&id).unwrap()[0];
    assert_eq!(std::fs::read(dir.join("arch")).unwrap(), b"amd64");
    let d = store.inspect(&format!("{repo}:latest")).unwrap();
    assert_eq!(
        d.index_digest.as_ref().map(|d| d.to_string()),
        Some(index_digest.clone())
    );
    assert_eq!(
        store.resolve(&format!("{repo}@{index_digest}")).unwrap(),
        id
    );

    let opts = PullOptions {
        platform: Some(Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        }),
        ..Default::default()
    };
    let arm_id = store
        .pull(&format!("{repo}:latest"), &opts, &NoProgress)
        .await
        .unwrap();
    assert_eq!(arm_id, arm_img.id());
    let opts = PullOptions {
        platform: Some(Platform {
            os: "linux".into(),
            architecture: "s390x".into(),
            variant: None,
        }),
        ..Default::default()
    };
    let err = store
        .pull(&format!("{repo}:latest"), &opts, &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoMatchingPlatform { .. }), "{err}");
}

#[tokio::test]
async fn tampered_registry_blob_is_refused() {
    let reg = Registry::start(None);
    let layer = Layer::new().file("payload", b"good");
    let img = image(&[&layer]);
    let reference = format!("{}/berth/tampered:1", reg.addr);
    push(&client(), &reference, &img, &RegistryAuth::Anonymous).await;
    // The registry serves what is on its disk: change the layer behind its back.
    let blob = &img.layers[0].0;
    let mut evil = gzip(&Layer::new().file("payload", b"evil").tar());
    evil.resize(blob.len(), 0);
    std::fs::write(reg.blob_data(&sha(blob)), &evil).unwrap();

    let (_d, store) = store();
    let err = store
        .pull(&reference, &PullOptions::default(), &NoProgress)
        .await
        .expect_err("tampered blob accepted");
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(
        msg.contains(&sha(blob)[7..]) || msg.to_lowercase().contains("digest"),
        "{msg}"
    );
    assert!(contents(&store).is_empty(), "{:?}", contents(&store));
    assert!(store.resolve(&reference).is_err());
}

/// Docker Hub still serves docker schema 2 media types: manifest, config and layers.
#[tokio::test]
async fn pull_docker_schema2_media_types() {
    let reg = Registry::start(None);
    let layer = Layer::new().file("hub", b"docker");
    let mut img = image(&[&layer]);
    let manifest = String::from_utf8(img.manifest.clone())
        .unwrap()
        .replace(
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .replace(
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.docker.container.image.v1+json",
        )
        .replace(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        );
    img.manifest = manifest.into_bytes();
    let reference = format!("{}/library/hub:latest", reg.addr);
    push_typed(
        &client(),
        &reference,
        &img,
        &RegistryAuth::Anonymous,
        "application/vnd.docker.distribution.manifest.v2+json",
    )
    .await;
    let (_d, store) = store();
    let id = store
        .pull(&reference, &PullOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(id, img.id());
    let d = store.inspect(&reference).unwrap();
    assert_eq!(
        d.manifest_media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        d.layers[0].media_type,
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    assert_eq!(
        std::fs::read(store.layer_dirs(&id).unwrap()[0].join("hub")).unwrap(),
        b"docker"
    );
}

#[tokio::test]
async fn registry_streaming_more_than_announced_is_cut_off() {
    let reg = Registry::start(None);
    let layer = Layer::new().file("payload", b"small");
    let img = image(&[&layer]);
    let reference = format!("{}/berth/oversized:1", reg.addr);
    push(&client(), &reference, &img, &RegistryAuth::Anonymous).await;
    let blob = &img.layers[0].0;
    let mut huge = blob.clone();
    huge.resize(blob.len() + (4 << 20), 0);
    std::fs::write(reg.blob_data(&sha(blob)), &huge).unwrap();

    let (_d, store) = store();
    let err = store
        .pull(&reference, &PullOptions::default(), &NoProgress)
        .await
        .expect_err("oversized blob accepted");
    assert!(matches!(err, Error::Registry { .. }), "{err}");
    assert!(
        err.to_string().contains("announced"),
        "cut off by size, not digest: {err}"
    );
    assert!(contents(&store).is_empty(), "{:?}", contents(&store));
}

/// Pulls hold the store lock shared: two at once both land, sharing their base layer, and
/// neither loses the other's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_share_layers_and_keep_both_names() {
    let reg = Registry::start(None);
    let base = Layer::new().file("base", &vec![3u8; 300_000]);
    let one = image(&[&base, &Layer::new().file("one", b"1")]);
    let two = image(&[&base, &Layer::new().file("two", b"2")]);
    let c = client();
    let r1 = format!("{}/berth/one:1", reg.addr);
    let r2 = format!("{}/berth/two:1", reg.addr);
    push(&c, &r1, &one, &RegistryAuth::Anonymous).await;
    push(&c, &r2, &two, &RegistryAuth::Anonymous).await;

    let (d, _) = store();
    let root = d.path().join("image");
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(&root);
        let s1 = std::sync::Arc::new(berth_image::Store::open(&root).unwrap());
        let s2 = std::sync::Arc::new(berth_image::Store::open(&root).unwrap());
        let spawn = |s: std::sync::Arc<berth_image::Store>, r: String| {
            tokio::spawn(async move { s.pull(&r, &PullOptions::default(), &NoProgress).await })
        };
        let a = spawn(s1.clone(), r1.clone());
        let b = spawn(s2.clone(), r2.clone());
        assert_eq!(a.await.unwrap().unwrap(), one.id());
        assert_eq!(b.await.unwrap().unwrap(), two.id());
        assert_eq!(s1.resolve(&r2).unwrap(), two.id());
        assert_eq!(s2.resolve(&r1).unwrap(), one.id());
        assert_eq!(
            s1.layer_dirs(&one.id()).unwrap()[1],
            s1.layer_dirs(&two.id()).unwrap()[1]
        );
        assert_eq!(std::fs::read_dir(root.join("layers")).unwrap().count(), 3);
        assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    }
}
