//! process wrappers.
