//! Disk quotas on the writable layer: a write past `--disk` fails inside the container
//! while the host and a neighbour keep writing; `update --disk` grows it live.

mod common;

use common::Env;

#[test]
fn write_past_disk_quota_fails_only_inside() {
    let env = Env::new("quota");
    let info = env.ok(&["info"]);
    assert!(info.contains("Quota backend:"), "{info}");
    assert!(
        !info.contains("Quota backend:  none"),
        "a quota backend is available: {info}"
    );
    env.ok(&[
        "run", "-d", "--name", "small", "--disk", "64M", "--", "sleep", "1000",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "big",
        "--storage-opt",
        "size=256M",
        "--",
        "sleep",
        "1000",
    ]);

    let dd = |name: &str, file: &str, mb: u32| {
        env.run(&[
            "exec",
            name,
            "dd",
            "if=/dev/zero",
            &format!("of={file}"),
            "bs=1M",
            &format!("count={mb}"),
            "conv=fsync",
        ])
    };
    let over = dd("small", "/fill", 100);
    assert_ne!(
        over.status.code(),
        Some(0),
        "100M into a 64M quota must fail"
    );
    let err = String::from_utf8_lossy(&over.stderr);
    assert!(
        err.contains("No space left") || err.contains("quota"),
        "the writer sees ENOSPC/EDQUOT: {err}"
    );
    // The neighbour and the host are not affected.
    assert_eq!(dd("big", "/fill", 100).status.code(), Some(0));
    let host_file = env.root.join("host-fill");
    std::fs::write(&host_file, vec![1u8; 32 << 20]).unwrap();
    std::fs::remove_file(&host_file).unwrap();

    // Stats show use against the quota.
    let stats = env.ok(&["stats", "--no-stream", "small"]);
    assert!(stats.contains("64.0MiB"), "{stats}");
    // Grow the full container's quota while it runs: the write now fits.
    env.ok(&["exec", "small", "rm", "-f", "/fill"]);
    env.ok(&["update", "--disk", "256M", "small"]);
    assert_eq!(dd("small", "/fill", 100).status.code(), Some(0));
    assert_eq!(env.inspect("small")["config"]["disk"], 256u64 << 20);
    let df = env.ok(&["system", "df"]);
    assert!(df.contains("Containers"), "{df}");
}
