//! Names from an archive or a manifest, which may be a download: split into
//! plain components or refused. Nothing here touches the file system.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// An archive entry's name as the components of a relative path: `./`
/// prefixes, `.` and repeated or trailing slashes are dropped (other tools
/// write them); `..`, an absolute name and control characters are refused
/// with the reason. The archive's top directory (`./`) gives no component.
pub fn entry_components(name: &[u8]) -> Result<Vec<OsString>, String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.starts_with(b"/") {
        return Err("the name is absolute; jail archives hold paths relative to /".into());
    }
    plain_components(name)
}

/// A path a manifest gives (`jail_root`, `exec`): absolute, with plain
/// components only (no `.` or `..`) and no control characters. `/` itself
/// gives no component.
pub fn absolute_components(path: &[u8]) -> Result<Vec<OsString>, String> {
    if !path.starts_with(b"/") {
        return Err("not an absolute path".into());
    }
    let components = plain_components(path)?;
    if path.split(|b| *b == b'/').any(|c| c == b".") {
        return Err("it has a `.` component; give the path without it".into());
    }
    Ok(components)
}

fn plain_components(path: &[u8]) -> Result<Vec<OsString>, String> {
    if let Some(byte) = path.iter().find(|b| is_control(**b)) {
        return Err(format!(
            "it holds the control character {:?}; names in a jail never do",
            char::from(*byte)
        ));
    }
    let mut components = Vec::new();
    for component in path.split(|b| *b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => return Err("it has a `..` component, which could leave the jail".into()),
            name => components.push(OsString::from_vec(name.to_vec())),
        }
    }
    Ok(components)
}

/// Control characters: C0, DEL. A name with a newline could forge lines
/// in a report or a listing.
pub fn is_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7f
}

/// Untrusted bytes for a message or a report: UTF-8 where it is, control
/// characters (and C1 controls) escaped, so a name cannot rewrite the
/// terminal or forge a line.
pub fn shown(bytes: &[u8]) -> String {
    printable(&String::from_utf8_lossy(bytes))
}

/// Like [`shown`], for text: tabs and newlines kept only when `lines` says so.
pub fn printable_text(text: &str, lines: bool) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' if lines => c.to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn printable(text: &str) -> String {
    printable_text(text, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(path: &str) -> Result<Vec<String>, String> {
        entry_components(path.as_bytes())
            .map(|c| c.iter().map(|n| n.to_string_lossy().into_owned()).collect())
    }

    #[test]
    fn dot_slash_prefixes_and_slashes_are_accepted() {
        assert_eq!(names("./var/jail/d/").unwrap(), ["var", "jail", "d"]);
        assert_eq!(names("var//jail/./d").unwrap(), ["var", "jail", "d"]);
        assert!(names("./").unwrap().is_empty());
    }

    #[test]
    fn dot_dot_absolute_and_control_characters_are_refused() {
        assert!(names("j/../../etc/passwd").unwrap_err().contains("`..`"));
        assert!(names("..").unwrap_err().contains("`..`"));
        assert!(names("/etc/passwd").unwrap_err().contains("absolute"));
        assert!(names("j/etc/pass\nwd").unwrap_err().contains("control"));
        assert!(names("j/\x1b[2Jx").unwrap_err().contains("control"));
        assert!(names("").is_err());
    }

    #[test]
    fn manifest_paths_are_absolute_and_plain() {
        let ok = absolute_components(b"/usr/local/sbin/d").unwrap();
        assert_eq!(ok.len(), 4);
        assert!(absolute_components(b"/").unwrap().is_empty());
        for bad in [
            &b"../../bin/sh"[..],
            b"bin/sh",
            b"/usr/../../bin/sh",
            b"/usr/./bin/sh",
            b"/bin/s\nh",
            b"",
        ] {
            assert!(absolute_components(bad).is_err(), "{}", shown(bad));
        }
    }

    #[test]
    fn shown_escapes_what_could_rewrite_a_terminal() {
        assert_eq!(shown(b"a\nb\x1b[0m"), "a\\nb\\u{1b}[0m");
        assert_eq!(shown(b"caf\xc3\xa9"), "café");
        assert_eq!(printable_text("a\tb\nc\x07", true), "a\tb\nc\\u{7}");
    }
}
