//! Kernel wrappers: the only place in berth that issues raw system calls.
//!
//! Each module wraps one family of calls. Everything above this crate calls these safe
//! functions; every `unsafe` block lives here, a few lines long, with a `// SAFETY:` note.

pub mod bpf;
pub mod mount;
pub mod ns;
pub mod path;
pub mod process;
pub mod signal;
