//! Container ids: they become directory, image and mount names, so only a safe alphabet.

use crate::error::Error;

/// Longest accepted id; leaves room in the 64-byte loop device name and in
/// overlay mount options.
pub const MAX_ID_LEN: usize = 64;

/// Accept `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most [`MAX_ID_LEN`] bytes.
pub fn validate(id: &str) -> Result<(), Error> {
    let invalid = |reason| {
        Err(Error::InvalidId {
            id: id.to_owned(),
            reason,
        })
    };
    let Some(first) = id.bytes().next() else {
        return invalid("empty");
    };
    if id.len() > MAX_ID_LEN {
        return invalid("longer than 64 bytes");
    }
    if !first.is_ascii_alphanumeric() {
        return invalid("must start with a letter or digit");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return invalid("only letters, digits, '_', '.' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_plain_ids() {
        assert!(validate("web-1").is_ok());
        assert!(validate("a.b_c").is_ok());
        assert!(validate(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn rejects_unsafe_ids() {
        for bad in ["", ".hidden", "-x", "a/b", "..", "a b", "é"] {
            assert!(validate(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate(&"x".repeat(65)).is_err());
    }
}
