//! Placeholder: the rootfs module is being written.
