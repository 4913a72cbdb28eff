//! hugepageLimits on this hybrid host go to the cgroup2 tree, where hugetlb lives. Needs
//! root. The controller is enabled in the tree's root for the test and disabled again
//! afterwards if it was off.

mod common;

use std::fs;
use std::path::PathBuf;

use berth_cgroups::UNIFIED_KEY;
use common::Cg;
use oci_spec::runtime::{LinuxHugepageLimitBuilder, LinuxResourcesBuilder};

struct RestoreRootControllers {
    file: PathBuf,
    had_hugetlb: bool,
}

impl Drop for RestoreRootControllers {
    fn drop(&mut self) {
        if !self.had_hugetlb {
            if let Err(e) = fs::write(&self.file, "-hugetlb") {
                eprintln!("restore {}: {e}", self.file.display());
            }
        }
    }
}

#[test]
fn hugetlb_limit_uses_cgroup2_tree_on_hybrid_host() {
    let mounts = berth_cgroups::Mounts::detect().unwrap();
    assert!(
        !mounts.v1.contains_key("hugetlb"),
        "this test is for hosts without v1 hugetlb"
    );
    let root = mounts.v2.unwrap().mountpoint;
    let file = root.join("cgroup.subtree_control");
    let _restore = RestoreRootControllers {
        had_hugetlb: fs::read_to_string(&file).unwrap().contains("hugetlb"),
        file,
    };
    let limit: i64 = 8 << 20;
    let res = LinuxResourcesBuilder::default()
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(limit)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    let cg = Cg::with("hugetlb", &res);
    assert_eq!(cg.read(UNIFIED_KEY, "hugetlb.2MB.max"), limit.to_string());
    assert_eq!(
        cg.read(UNIFIED_KEY, "hugetlb.2MB.rsvd.max"),
        limit.to_string()
    );
    let stats = cg.mgr.stats().unwrap();
    assert!(stats.hugetlb.contains_key("2MB"), "{:?}", stats.hugetlb);

    // A pure-v2 manager creating intermediate directories passes the controllers down.
    let top = common::unique_path("nested");
    let _cleanup = RemoveTree(root.join(top.trim_start_matches('/')));
    let nested = berth_cgroups::Manager::with_mounts(
        &berth_cgroups::Mounts::unified_at(&root),
        Some(&format!("{top}/inner/leaf")),
        "x",
        false,
        false,
    )
    .unwrap();
    nested.create().unwrap();
    let leaf = &nested.paths()[UNIFIED_KEY];
    let controllers = fs::read_to_string(leaf.join("cgroup.controllers")).unwrap();
    assert_eq!(controllers.trim(), "hugetlb");
    nested.apply(&res).unwrap();
    assert_eq!(
        fs::read_to_string(leaf.join("hugetlb.2MB.max"))
            .unwrap()
            .trim(),
        limit.to_string()
    );
}

/// Removes a cgroup directory tree, children first.
struct RemoveTree(PathBuf);

impl Drop for RemoveTree {
    fn drop(&mut self) {
        fn rm(p: &std::path::Path) {
            if let Ok(entries) = fs::read_dir(p) {
                for e in entries.flatten() {
                    if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        rm(&e.path());
                    }
                }
            }
            let _ = fs::remove_dir(p);
        }
        rm(&self.0);
    }
}
