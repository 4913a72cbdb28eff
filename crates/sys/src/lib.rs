//! berth-sys
