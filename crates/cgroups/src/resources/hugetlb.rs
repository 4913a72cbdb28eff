//! hugepageLimits.

use oci_spec::runtime::LinuxHugepageLimit;

use super::{Layout, Version, Write};
use crate::Error;

/// "2MB", "64KB", "1GB": digits then a unit; anything else could name other files.
fn valid_page_size(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && ["KB", "MB", "GB"].contains(&unit)
}

pub(super) fn plan(
    limits: &[LinuxHugepageLimit],
    layout: &Layout,
    w: &mut Vec<Write>,
) -> Result<(), Error> {
    if limits.is_empty() {
        return Ok(());
    }
    let v = layout.place("hugepageLimits", "hugetlb")?;
    for l in limits {
        let size = l.page_size();
        if !valid_page_size(size) {
            return Err(Error::InvalidValue {
                knob: "hugepageLimits.pageSize",
                value: size.clone(),
                reason: "expected a size such as 2MB or 1GB",
            });
        }
        let hint = "the kernel has no huge pages of this size";
        let (limit_file, rsvd_file, value) = match v {
            Version::V1 => (
                format!("hugetlb.{size}.limit_in_bytes"),
                format!("hugetlb.{size}.rsvd.limit_in_bytes"),
                l.limit().to_string(),
            ),
            Version::V2 => (
                format!("hugetlb.{size}.max"),
                format!("hugetlb.{size}.rsvd.max"),
                if l.limit() < 0 {
                    "max".into()
                } else {
                    l.limit().to_string()
                },
            ),
        };
        w.push(Write::new("hugepageLimits", v, "hugetlb", limit_file, value.clone()).hint(hint));
        // The spec prefers reservation limits where the kernel has them (Linux 5.7+).
        w.push(Write::new("hugepageLimits", v, "hugetlb", rsvd_file, value).optional());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes() {
        assert!(valid_page_size("2MB"));
        assert!(valid_page_size("1GB"));
        assert!(valid_page_size("64KB"));
        assert!(!valid_page_size("../x"));
        assert!(!valid_page_size("MB"));
        assert!(!valid_page_size("2MB/../x"));
    }
}
