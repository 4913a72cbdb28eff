//! `regex`, provided by `regex-lite`.
//!
//! Why this exists: oci-spec depends on `regex` unconditionally, for two patterns only
//! (`process.execCPUAffinity` in the runtime spec and image references in the
//! distribution spec; oci-client declares the dependency without using it). The full
//! engine (regex-automata, regex-syntax, aho-corasick) adds about 480 KiB of machine code
//! to `berth-runtime`, and on this kernel a process maps nearly all of its binary's text
//! when it runs (large page-cache folios are mapped whole), so that code is resident on
//! every container start: it was a fifth of the runtime's peak RSS, which issue 2 holds to
//! crun's. `regex-lite` is the same authors' engine built for binary size; it has the
//! same API for what those crates call (`Regex::new`, `RegexBuilder`, `is_match`,
//! `captures`). It differs in matching `\w`, `\d` and `\s` as ASCII only, which is what
//! both grammars mean (runc and the distribution spec define them over ASCII).
//!
//! `tests` below pins the two patterns' behaviour, so a change in either crate that needs
//! more of the full engine fails here, not at run time.

pub use regex_lite::*;

#[cfg(test)]
mod tests {
    use oci_spec::distribution::Reference;
    use oci_spec::runtime::Process;

    #[test]
    fn exec_cpu_affinity_is_validated() {
        let ok = r#"{"cwd":"/","user":{"uid":0,"gid":0},"args":["true"],"execCPUAffinity":{"initial":"0-1,3","final":"2"}}"#;
        if let Err(e) = serde_json::from_str::<Process>(ok) {
            panic!("{e}");
        }
        let bad = r#"{"cwd":"/","user":{"uid":0,"gid":0},"args":["true"],"execCPUAffinity":{"initial":"0-,x"}}"#;
        let err = serde_json::from_str::<Process>(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("execCPUAffinity"), "{err}");
    }

    #[test]
    fn image_references_parse() {
        let r: Reference = "registry.example:5000/team/app:v1.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            .parse()
            .unwrap();
        assert_eq!(r.registry(), "registry.example:5000");
        assert_eq!(r.repository(), "team/app");
        assert_eq!(r.tag(), Some("v1.2"));
        assert!(r.digest().unwrap().starts_with("sha256:"));
        let r: Reference = "busybox".parse().unwrap();
        assert_eq!(r.repository(), "library/busybox", "{r:?}");
        assert!("a/UPPER".parse::<Reference>().is_err());
        assert!("a:b:c".parse::<Reference>().is_err());
    }
}
