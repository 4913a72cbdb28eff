//! Registry credentials from the docker client config (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): the `auths` map with base64 `user:password` in `auth` (or
//! plain `username`/`password`). Credential helpers are not supported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::Error;

#[derive(Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// Where the docker config lives.
pub(crate) fn config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The host part of an `auths` key (`https://index.docker.io/v1/` -> `index.docker.io`).
fn key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn same_registry(key: &str, registry: &str) -> bool {
    const HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
    let host = key_host(key);
    host == registry || (HUB.contains(&host) && HUB.contains(&registry))
}

/// Credentials for `registry` (as in a reference: `host[:port]`) from the docker config
/// file `config` (default: [`config_path`]), anonymous if none.
pub(crate) fn auth_for(registry: &str, config: Option<&Path>) -> Result<RegistryAuth, Error> {
    let Some(path) = config.map(Path::to_owned).or_else(config_path) else {
        return Ok(RegistryAuth::Anonymous);
    };
    let data = match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RegistryAuth::Anonymous),
        Err(source) => return Err(Error::Read { path, source }),
        Ok(d) => d,
    };
    let config: DockerConfig =
        serde_json::from_slice(&data).map_err(|source| Error::ParseJson {
            what: "docker config",
            path: path.clone(),
            source,
        })?;
    let bad = |reason: String| Error::DockerConfig {
        path: path.clone(),
        reason,
    };
    let Some((key, entry)) = config
        .auths
        .iter()
        .find(|(k, _)| same_registry(k, registry))
    else {
        return Ok(RegistryAuth::Anonymous);
    };
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|e| bad(format!("auths[{key}].auth is not base64: {e}")))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| bad(format!("auths[{key}].auth is not UTF-8")))?;
        let (user, pass) = decoded
            .split_once(':')
            .ok_or_else(|| bad(format!("auths[{key}].auth is not user:password")))?;
        return Ok(RegistryAuth::Basic(user.to_owned(), pass.to_owned()));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) => Ok(RegistryAuth::Basic(u.clone(), p.clone())),
        _ => Ok(RegistryAuth::Anonymous),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_registries() {
        assert!(same_registry("https://index.docker.io/v1/", "docker.io"));
        assert!(same_registry("127.0.0.1:5000", "127.0.0.1:5000"));
        assert!(same_registry("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"));
        assert!(!same_registry("127.0.0.1:5001", "127.0.0.1:5000"));
    }
}
