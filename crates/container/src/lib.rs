//! berth-container
