//! berth-manager
