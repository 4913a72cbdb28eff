//! path wrappers.
