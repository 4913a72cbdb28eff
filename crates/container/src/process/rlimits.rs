//! Placeholder: rlimits is being written.
