//! Placeholder: identity is being written.
