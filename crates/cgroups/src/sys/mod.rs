//! The crate's only `unsafe` code: thin wrappers over system calls that neither rustix nor
//! nix cover (bpf(2); kill(2) with real-time signals).
// TODO(lead): move into crates/sys once that crate grows bpf/signal modules.

pub mod bpf;
pub mod signal;
