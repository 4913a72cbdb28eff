//! Placeholder: scheduling is being written.
