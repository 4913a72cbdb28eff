//! Container ids (64 hex digits, like docker's) and generated names (`adjective_noun`).

use std::io::Read;

use crate::error::{sys, Result};

pub fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(sys("read /dev/urandom"))?;
    Ok(buf)
}

pub fn new_id() -> Result<String> {
    Ok(random_bytes(32)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lively", "mighty",
    "nimble", "proud", "quiet", "rapid", "steady", "tidy", "upbeat", "vivid", "witty", "zealous",
];
const NOUNS: &[&str] = &[
    "anchor", "barge", "buoy", "cove", "dock", "ferry", "harbor", "jetty", "keel", "lagoon",
    "mast", "pier", "quay", "reef", "sail", "skiff", "tide", "vessel", "wharf", "yacht",
];

pub fn generate_name() -> Result<String> {
    let b = random_bytes(3)?;
    Ok(format!(
        "{}_{}{}",
        ADJECTIVES[b[0] as usize % ADJECTIVES.len()],
        NOUNS[b[1] as usize % NOUNS.len()],
        b[2] % 100
    ))
}

/// Names become nothing on disk but are shown and matched: docker's alphabet.
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && name.len() <= 128
}
