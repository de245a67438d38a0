//! OpenBSD's ld.so: `libX.so.MAJOR.MINOR` matching, and its search order —
//! LD_LIBRARY_PATH; the requester's DT_RUNPATH, or without one its DT_RPATH
//! and then the executable's; the hints directories (only /usr/lib when
//! there is no hints file, as inside a jail). `$ORIGIN` is expanded only
//! for objects flagged DF_ORIGIN / DF_1_ORIGIN.

use std::path::PathBuf;

use super::search::{DirKind, Matching, Order, Requester, SearchList, SearchRules};

pub struct OpenBsdRules {
    defaults: Vec<PathBuf>,
    /// The defaults, then what ldconfig(8) puts in the hints file by
    /// default at boot (rc(8)): the build host's loader finds libraries
    /// there, the jail's does not.
    searched_last: SearchList,
    ld_library_path: Vec<String>,
}

impl OpenBsdRules {
    pub fn new(ld_library_path: &[String]) -> Self {
        let defaults = vec!["/usr/lib".into()];
        let hints = ["/usr/X11R6/lib", "/usr/local/lib"].map(PathBuf::from);
        let searched_last = Order::new(("lib", ""))
            .in_root(&defaults, DirKind::Default)
            .in_root(&hints, DirKind::Cache)
            .finish();
        OpenBsdRules {
            defaults,
            searched_last,
            ld_library_path: ld_library_path.to_vec(),
        }
    }
}

impl SearchRules for OpenBsdRules {
    fn search_dirs(&self, chain: &[Requester<'_>]) -> SearchList {
        let requester = &chain[0];
        let executable = &chain[chain.len() - 1];
        let mut order = Order::new(("lib", "")).origin_needs_flag();
        order.ld_library_path_as_written(&self.ld_library_path);
        if !requester.object.runpath.is_empty() {
            order.runpath(requester);
        } else {
            order.rpath(requester);
            if chain.len() > 1 {
                order.rpath(executable);
            }
        }
        order.then(&self.searched_last)
    }

    fn default_dirs(&self) -> &[PathBuf] {
        &self.defaults
    }

    fn matching(&self) -> Matching {
        Matching::Versioned
    }
}

/// `libc.so.96.2` → (`libc.so`, Some((96, 2))); `libc.so` → (`libc.so`, None).
fn split_version(name: &str) -> Option<(&str, Option<(u32, u32)>)> {
    let index = name.find(".so")?;
    let (base, rest) = name.split_at(index + 3);
    if rest.is_empty() {
        return Some((base, None));
    }
    let mut numbers = rest.strip_prefix('.')?.split('.');
    let major = numbers.next()?.parse().ok()?;
    let minor = numbers.next().map_or(Some(0), |m| m.parse().ok())?;
    if numbers.next().is_some() {
        return None;
    }
    Some((base, Some((major, minor))))
}

/// The file among `files` (one directory's names) that ld.so picks for
/// `wanted`. `lenient` is ld.so's second pass: a lower minor will do.
pub fn best_match(files: &[String], wanted: &str, lenient: bool) -> Option<String> {
    let (base, version) = split_version(wanted)?;
    let mut best: Option<((u32, u32), &String)> = None;
    for file in files {
        let Some((file_base, Some((major, minor)))) = split_version(file) else {
            continue;
        };
        if file_base != base || !file.contains(".so.") || file.matches('.').count() < 3 {
            continue;
        }
        let acceptable = match version {
            None => true,
            Some((want_major, want_minor)) => {
                major == want_major && (lenient || minor >= want_minor)
            }
        };
        if acceptable && best.is_none_or(|(v, _)| (major, minor) > v) {
            best = Some(((major, minor), file));
        }
    }
    best.map(|(_, file)| file.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn same_major_highest_minor_at_least_the_one_asked_for() {
        let dir = files(&[
            "libc.so.95.9",
            "libc.so.96.1",
            "libc.so.96.4",
            "libc.so.97.0",
            "libcrypto.so.96.9",
        ]);
        assert_eq!(
            best_match(&dir, "libc.so.96.2", false).as_deref(),
            Some("libc.so.96.4")
        );
        assert_eq!(best_match(&dir, "libc.so.96.5", false), None);
        assert_eq!(
            best_match(&dir, "libc.so.96.5", true).as_deref(),
            Some("libc.so.96.4")
        );
        assert_eq!(best_match(&dir, "libc.so.98.0", true), None);
    }

    #[test]
    fn an_unversioned_name_takes_the_highest_major_then_minor() {
        let dir = files(&["libc.so.96.9", "libc.so.97.0", "libc.so.97.1", "libc.so"]);
        assert_eq!(
            best_match(&dir, "libc.so", false).as_deref(),
            Some("libc.so.97.1")
        );
    }

    #[test]
    fn names_that_only_share_a_prefix_do_not_match() {
        let dir = files(&["libcurses.so.14.0", "libc.so.96.2.bak", "libc.so.96"]);
        assert_eq!(best_match(&dir, "libc.so.96.0", false), None);
        assert_eq!(
            split_version("libc.so.96.2"),
            Some(("libc.so", Some((96, 2))))
        );
    }
}
