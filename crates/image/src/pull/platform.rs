//! Choosing one manifest from a multi-platform index.

use oci_spec::image::ImageIndex;

/// A target platform (`linux/amd64`, `linux/arm/v7`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this process runs on, in OCI/GOARCH spelling.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "powerpc64" => ("ppc64le", None),
            "riscv64" => ("riscv64", None),
            "s390x" => ("s390x", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The digest of the manifest in `index` for `want`: an exact variant match first, then an
/// entry without variant (arm64's `v8` is the default and often omitted).
pub(crate) fn select<'a>(
    index: &'a ImageIndex,
    want: &Platform,
) -> Option<&'a oci_spec::image::Descriptor> {
    let candidates: Vec<_> = index
        .manifests()
        .iter()
        .filter(|m| {
            m.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == want.os && p.architecture().to_string() == want.architecture
            })
        })
        .collect();
    let variant_of =
        |m: &&oci_spec::image::Descriptor| m.platform().as_ref().and_then(|p| p.variant().clone());
    candidates
        .iter()
        .find(|m| variant_of(m) == want.variant)
        .or_else(|| candidates.iter().find(|m| variant_of(m).is_none()))
        .or_else(|| candidates.first().filter(|_| want.variant.is_none()))
        .copied()
}
