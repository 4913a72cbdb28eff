//! Placeholder: the security module is being written.
