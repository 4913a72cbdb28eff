//! Image commands: thin wrappers over the manager's image store.

use std::path::Path;

use berth_image::{ArchiveFormat, Digest, PullOptions};
use berth_manager::Manager;

use crate::cli::ImageCommand;
use crate::output::{bytes, Table};

/// One line per blob on a terminal; nothing otherwise.
struct Lines;

impl berth_image::Progress for Lines {
    fn resolved(&self, reference: &str, manifest: &Digest) {
        eprintln!("{reference}: resolved to {manifest}");
    }
    fn blob_started(&self, digest: &Digest, size: u64) {
        eprintln!("{digest}: downloading {}", bytes(size));
    }
    fn blob_exists(&self, digest: &Digest) {
        eprintln!("{digest}: already present");
    }
    fn blob_done(&self, digest: &Digest) {
        eprintln!("{digest}: done");
    }
}

pub fn pull(m: &Manager, image: &str, insecure: bool, quiet: bool) -> anyhow::Result<i32> {
    use std::io::IsTerminal;
    let opts = PullOptions {
        insecure,
        platform: None,
    };
    let id = if quiet || !std::io::stderr().is_terminal() {
        m.pull(image, &opts, &berth_image::NoProgress)?
    } else {
        m.pull(image, &opts, &Lines)?
    };
    println!("{id}");
    Ok(0)
}

pub fn import(m: &Manager, file: &Path, reference: Option<&str>) -> anyhow::Result<i32> {
    println!("{}", m.import(file, reference)?);
    Ok(0)
}

pub fn load(m: &Manager, input: &Path) -> anyhow::Result<i32> {
    for id in m.load(input)? {
        println!("Loaded image ID: {id}");
    }
    Ok(0)
}

pub fn save(m: &Manager, out: &Path, format: &str, images: &[String]) -> anyhow::Result<i32> {
    let format = match format {
        "docker" | "docker-archive" => ArchiveFormat::Docker,
        "oci" | "oci-archive" => ArchiveFormat::Oci,
        other => anyhow::bail!("--format {other:?}: use docker or oci"),
    };
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    m.save(&refs, out, format)?;
    Ok(0)
}

pub fn list(m: &Manager, quiet: bool) -> anyhow::Result<i32> {
    let images = m.image_list()?;
    if quiet {
        for i in images {
            println!("{}", short(&i.id.to_string()));
        }
        return Ok(0);
    }
    let mut t = Table::new(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    for i in images {
        let id = short(&i.id.to_string());
        let created = i.created.clone().unwrap_or_default();
        let created = created.get(..19).unwrap_or(&created).replace('T', " ");
        let tags = if i.repo_tags.is_empty() {
            vec!["<none>:<none>".to_string()]
        } else {
            i.repo_tags.clone()
        };
        for tag in tags {
            let (repo, tag) = tag.rsplit_once(':').unwrap_or((&tag, "<none>"));
            t.row(vec![
                repo.into(),
                tag.into(),
                id.clone(),
                created.clone(),
                bytes(i.size),
            ]);
        }
    }
    t.print();
    Ok(0)
}

fn short(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

pub fn remove(m: &Manager, images: &[String], force: bool) -> anyhow::Result<i32> {
    crate::containers::each(images, |i| {
        m.image_remove(i, force)?;
        println!("Untagged/deleted: {i}");
        Ok(())
    })
}

pub fn image(m: &Manager, c: ImageCommand) -> anyhow::Result<i32> {
    match c {
        ImageCommand::Inspect { images } => {
            let mut out = Vec::new();
            for i in &images {
                let d = m.image_inspect(i)?;
                out.push(serde_json::json!({
                    "Id": d.summary.id.to_string(),
                    "RepoTags": d.summary.repo_tags,
                    "RepoDigests": d.summary.repo_digests,
                    "Created": d.summary.created,
                    "Size": d.summary.size,
                    "Manifest": d.manifest_digest.to_string(),
                    "ManifestMediaType": d.manifest_media_type,
                    "Config": serde_json::to_value(&d.config)?,
                    "Layers": d.layers.iter().map(|l| serde_json::json!({
                        "Digest": l.digest.to_string(),
                        "DiffId": l.diff_id.to_string(),
                        "MediaType": l.media_type,
                        "Size": l.size,
                    })).collect::<Vec<_>>(),
                }));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(0)
        }
        ImageCommand::Prune { all, force: _ } => {
            println!("Reclaimed {}", bytes(m.image_prune(all)?));
            Ok(0)
        }
        ImageCommand::Ls { quiet } => list(m, quiet),
        ImageCommand::Rm { force, images } => remove(m, &images, force),
    }
}
