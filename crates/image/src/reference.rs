//! Image reference normalisation (`busybox` -> `docker.io/library/busybox:latest`).

use oci_client::Reference;

use crate::Error;

/// Parses a reference the docker way; a missing tag means `latest`.
pub(crate) fn parse(reference: &str) -> Result<Reference, Error> {
    Reference::try_from(reference).map_err(|e| Error::InvalidReference {
        reference: reference.to_owned(),
        reason: e.to_string(),
    })
}

/// The fully qualified form of a reference, as stored in `refs.json`.
pub fn normalize(reference: &str) -> Result<String, Error> {
    Ok(parse(reference)?.whole())
}

/// `registry/repository` of a reference.
pub(crate) fn repository(r: &Reference) -> String {
    format!("{}/{}", r.registry(), r.repository())
}

/// The short name docker shows (`busybox:latest` for docker.io/library/busybox:latest).
pub(crate) fn familiar(full: &str) -> String {
    full.strip_prefix("docker.io/library/")
        .or_else(|| full.strip_prefix("docker.io/"))
        .unwrap_or(full)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_docker_hub_names() {
        assert_eq!(
            normalize("busybox").unwrap(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(normalize("user/app:1").unwrap(), "docker.io/user/app:1");
        assert_eq!(
            normalize("127.0.0.1:5000/x/y:t").unwrap(),
            "127.0.0.1:5000/x/y:t"
        );
        assert_eq!(
            familiar("docker.io/library/busybox:latest"),
            "busybox:latest"
        );
        assert!(normalize("UPPER").is_err());
    }
}
