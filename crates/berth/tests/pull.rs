//! `berth pull` end to end: a registry (Debian's docker-registry) on a random loopback port,
//! an image pushed to it over plain HTTP by the test, pulled by berth and run.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{hex_digest, Env};

struct Registry {
    child: Child,
    addr: String,
}

impl Registry {
    fn start(dir: &std::path::Path) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let cfg = dir.join("registry.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n  secret: berth-test\n",
                dir.join("registry-data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is installed");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, addr }
    }

    /// One HTTP/1.1 request; (status, headers, body).
    fn request(&self, method: &str, path: &str, ctype: &str, body: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let text = String::from_utf8_lossy(&resp).into_owned();
        let status = text.split(' ').nth(1).unwrap().parse().unwrap();
        (status, text)
    }

    fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = hex_digest(data);
        let (status, head) = self.request(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            "application/octet-stream",
            b"",
        );
        assert_eq!(status, 202, "{head}");
        let location = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("Location: ")
                    .or_else(|| l.strip_prefix("location: "))
            })
            .unwrap()
            .trim()
            .to_string();
        let path = location
            .strip_prefix(&format!("http://{}", self.addr))
            .unwrap_or(&location)
            .to_string();
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, head) = self.request(
            "PUT",
            &format!("{path}{sep}digest={digest}"),
            "application/octet-stream",
            data,
        );
        assert_eq!(status, 201, "{head}");
        digest
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn pull_from_a_local_registry_and_run() {
    let env = Env::new("pull");
    let reg = Registry::start(&env.root);
    let repo = "berth-test/busybox";
    let (layer, config) = common::busybox_image();
    let layer_digest = reg.push_blob(repo, &layer);
    let config_digest = reg.push_blob(repo, &config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}]
    });
    let (status, head) = reg.request(
        "PUT",
        &format!("/v2/{repo}/manifests/v1"),
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    assert_eq!(status, 201, "{head}");

    let reference = format!("{}/{repo}:v1", reg.addr);
    let id = env.ok(&["pull", "-q", &reference]);
    assert_eq!(id.trim(), config_digest);
    assert!(env
        .ok(&["images"])
        .contains(&format!("{}/{repo}", reg.addr)));
    assert_eq!(
        env.ok(&["run", "--rm", &reference, "echo", "pulled"]),
        "pulled\n"
    );
    // A second pull finds everything present.
    assert_eq!(env.ok(&["pull", "-q", &reference]).trim(), config_digest);
}
