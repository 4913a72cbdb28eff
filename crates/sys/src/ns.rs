//! ns wrappers.
