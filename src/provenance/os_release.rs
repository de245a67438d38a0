//! `/etc/os-release` (or `/usr/lib/os-release`): which distribution and
//! release a root holds, for the purl's namespace and `distro` qualifier
//! and for files of a base system no package owns.

use std::collections::BTreeMap;
use std::path::Path;

use super::read::read_optional;
use crate::closure::root::FsRoot;

/// The fields of the root's os-release file; empty when it has none.
pub fn fields(root: &FsRoot) -> BTreeMap<String, String> {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|path| read_optional(root, Path::new(path), 1 << 16))
        .map(|bytes| parse(&String::from_utf8_lossy(&bytes)))
        .unwrap_or_default()
}

/// `KEY=value` lines, values optionally quoted (os-release(5)).
fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            (key.trim().to_string(), value.replace("\\\"", "\""))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoted_and_bare_values() {
        let fields = super::parse("ID=debian\nVERSION_ID=\"12\"\n# c\nbroken line\n");
        assert_eq!(fields["ID"], "debian");
        assert_eq!(fields["VERSION_ID"], "12");
    }
}
