//! glibc's ld.so search rules (Linux), and the ld.so.conf it caches.
//!
//! Order for one DT_NEEDED name (PLATFORMS.md): DT_RPATH of the requester and
//! then of its loaders up the chain, only when the requester has no
//! DT_RUNPATH; LD_LIBRARY_PATH; the requester's DT_RUNPATH; /etc/ld.so.cache;
//! the trusted default directories. The jail has no ld.so.cache, so a library
//! the host finds only through it is moved into a default directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::root::FsRoot;
use super::search::{DirKind, Order, Requester, SearchList, SearchRules};
use super::target::Target;
use crate::error::{Error, Result};

pub struct GlibcRules {
    defaults: Vec<PathBuf>,
    /// The cache's directories, then the defaults. A cached directory that
    /// is also a default one is searched in the jail too.
    searched_last: SearchList,
    /// For an object flagged DF_1_NODEFLIB (`-z nodefaultlib`): no default
    /// directory, and no cache entry inside one (glibc compares the
    /// entry's path with each by prefix).
    searched_last_nodeflib: SearchList,
    lib: String,
    platform: String,
    ld_library_path: Vec<String>,
}

impl GlibcRules {
    pub fn new(root: &FsRoot, target: &Target, ld_library_path: &[String]) -> Result<Self> {
        let triplet = multiarch_triplet(target.machine, target.class == super::elf::Class::Elf64);
        let multiarch = triplet.filter(|t| root.is_dir(&Path::new("/usr/lib").join(t)));
        let (defaults, lib): (Vec<PathBuf>, String) = match multiarch {
            // Debian and Ubuntu: glibc's slibdir is the multiarch directory.
            Some(t) => (
                vec![
                    Path::new("/lib").join(t),
                    Path::new("/usr/lib").join(t),
                    "/lib".into(),
                    "/usr/lib".into(),
                ],
                format!("lib/{t}"),
            ),
            None if target.class == super::elf::Class::Elf64 => {
                (vec!["/lib64".into(), "/usr/lib64".into()], "lib64".into())
            }
            None => (vec!["/lib".into(), "/usr/lib".into()], "lib".into()),
        };
        let cache = read_ld_so_conf(root)?;
        let mut order = Order::new(("", ""));
        for dir in &cache {
            let kind = if defaults.contains(dir) {
                DirKind::Default
            } else {
                DirKind::Cache
            };
            order.in_root(std::slice::from_ref(dir), kind);
        }
        let searched_last = order.in_root(&defaults, DirKind::Default).finish();
        let outside_defaults: Vec<PathBuf> = (cache.into_iter())
            .filter(|dir| !defaults.iter().any(|default| dir.starts_with(default)))
            .collect();
        let searched_last_nodeflib = order.in_root(&outside_defaults, DirKind::Cache).finish();
        Ok(GlibcRules {
            defaults,
            searched_last,
            searched_last_nodeflib,
            lib,
            platform: platform_name(target.machine).to_string(),
            ld_library_path: ld_library_path.to_vec(),
        })
    }
}

impl SearchRules for GlibcRules {
    fn search_dirs(&self, chain: &[Requester<'_>]) -> SearchList {
        let requester = &chain[0];
        let mut order = Order::new(self.tokens());
        // RPATH is inherited up the chain of loaders, unless the requester
        // has a RUNPATH (which is not inherited at all).
        if requester.object.runpath.is_empty() {
            for owner in chain {
                order.rpath(owner);
            }
        }
        order
            .ld_library_path(&chain[chain.len() - 1], &self.ld_library_path)
            .runpath(requester);
        if requester.object.nodeflib {
            order.then(&self.searched_last_nodeflib)
        } else {
            order.then(&self.searched_last)
        }
    }

    fn default_dirs(&self) -> &[PathBuf] {
        &self.defaults
    }

    fn tokens(&self) -> (&str, &str) {
        (&self.lib, &self.platform)
    }

    fn cpu_variants(&self) -> &[&'static str] {
        match self.platform.as_str() {
            "x86_64" => &[
                "glibc-hwcaps/x86-64-v4",
                "glibc-hwcaps/x86-64-v3",
                "glibc-hwcaps/x86-64-v2",
            ],
            "aarch64" => &["glibc-hwcaps/aarch64-sve"],
            _ => &[],
        }
    }
}

/// Debian's multiarch tuple for a machine, e.g. `x86_64-linux-gnu`.
fn multiarch_triplet(machine: u16, is_64: bool) -> Option<&'static str> {
    use crate::closure::elf::machine::*;
    Some(match (machine, is_64) {
        (EM_X86_64, true) => "x86_64-linux-gnu",
        (EM_386, false) => "i386-linux-gnu",
        (EM_AARCH64, true) => "aarch64-linux-gnu",
        (EM_ARM, false) => "arm-linux-gnueabihf",
        (EM_RISCV, true) => "riscv64-linux-gnu",
        (EM_PPC64, true) => "powerpc64le-linux-gnu",
        (EM_S390, true) => "s390x-linux-gnu",
        _ => return None,
    })
}

/// What `$PLATFORM` expands to: the kernel's AT_PLATFORM base name.
fn platform_name(machine: u16) -> &'static str {
    use crate::closure::elf::machine::*;
    match machine {
        EM_X86_64 => "x86_64",
        EM_386 => "i686",
        EM_AARCH64 => "aarch64",
        EM_ARM => "v7l",
        _ => "unknown",
    }
}

/// The directories ldconfig would put in /etc/ld.so.cache, in order: those
/// of /etc/ld.so.conf and the files its `include` lines name.
pub fn read_ld_so_conf(root: &FsRoot) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    let mut seen = HashSet::new();
    read_conf_file(root, Path::new("/etc/ld.so.conf"), &mut dirs, &mut seen)?;
    Ok(dirs)
}

fn read_conf_file(
    root: &FsRoot,
    path: &Path,
    dirs: &mut Vec<PathBuf>,
    seen: &mut HashSet<PathBuf>,
) -> Result<()> {
    // An include cycle (a.conf includes b.conf includes a.conf) ends here.
    if !seen.insert(path.to_path_buf()) {
        return Ok(());
    }
    let Some(resolved) = root.resolve(path)? else {
        return Ok(());
    };
    let host = root.host_path(&resolved.path);
    let text = match std::fs::read_to_string(&host) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => return Ok(()),
        Err(source) => return Err(Error::Read { path: host, source }),
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line
            .strip_prefix("include")
            .filter(|rest| rest.starts_with([' ', '\t']))
        {
            for pattern in pattern.split_whitespace() {
                let pattern = path.parent().unwrap_or(Path::new("/")).join(pattern);
                for file in glob(root, &pattern)? {
                    read_conf_file(root, &file, dirs, seen)?;
                }
            }
        } else if line.starts_with("hwcap ") {
            // Obsolete hwcap lines name no directory.
        } else {
            for dir in line
                .split([' ', '\t', ':', ','])
                .filter(|d| d.starts_with('/'))
            {
                let dir = PathBuf::from(dir);
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
    }
    Ok(())
}

/// Expands a pattern whose last component may hold `*` and `?`, as glob(3)
/// does for ld.so.conf includes; matches are sorted like glob's.
fn glob(root: &FsRoot, pattern: &Path) -> Result<Vec<PathBuf>> {
    let (Some(dir), Some(name)) = (
        pattern.parent(),
        pattern.file_name().and_then(|n| n.to_str()),
    ) else {
        return Ok(Vec::new());
    };
    if !name.contains(['*', '?']) {
        return Ok(vec![pattern.to_path_buf()]);
    }
    let Some(resolved) = root.resolve(dir)? else {
        return Ok(Vec::new());
    };
    let host = root.host_path(&resolved.path);
    let entries = match std::fs::read_dir(&host) {
        Ok(entries) => entries,
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::Read { path: host, source }),
    };
    let mut matches: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|file| !file.starts_with('.') && wildcard_match(name.as_bytes(), file.as_bytes()))
        .map(|file| dir.join(file))
        .collect();
    matches.sort();
    Ok(matches)
}

fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard_match(&pattern[1..], text)
                || (!text.is_empty() && wildcard_match(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard_match(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => wildcard_match(&pattern[1..], &text[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_their_chain_adds_nothing_to_share_one_search_list() {
        use crate::closure::elf::ElfObject;
        use std::sync::Arc;
        let sh = ElfObject::read(Path::new("/bin/sh")).unwrap();
        assert!(sh.rpath.is_empty() && sh.runpath.is_empty());
        let target = Target::detect(Path::new("/bin/sh"), &sh).unwrap();
        let rules = GlibcRules::new(&FsRoot::host(), &target, &[]).unwrap();
        let asking = |object, path| Requester {
            object,
            jail_path: Path::new(path),
            origin: Path::new("/usr/bin"),
            host_origin: None,
        };
        let first = rules.search_dirs(&[asking(&sh, "/usr/bin/a")]);
        let second = rules.search_dirs(&[asking(&sh, "/usr/bin/b"), asking(&sh, "/usr/bin/a")]);
        assert!(Arc::ptr_eq(&first, &second), "one list, not a copy each");
        let mut app = sh.clone();
        app.runpath = vec!["$ORIGIN/../lib".to_string()];
        let own = rules.search_dirs(&[asking(&app, "/usr/bin/app")]);
        assert_eq!(own[0].jail, Path::new("/usr/bin/../lib"));
        assert_eq!(
            own[1..],
            first[..],
            "then the directories every request searches"
        );
    }

    #[test]
    fn ld_so_conf_includes_are_followed_in_order_and_cycles_end() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(etc.join("ld.so.conf.d")).unwrap();
        std::fs::write(
            etc.join("ld.so.conf"),
            "/opt/first\ninclude /etc/ld.so.conf.d/*.conf\n/opt/last # trailing\n",
        )
        .unwrap();
        std::fs::write(etc.join("ld.so.conf.d/b.conf"), "/opt/b\n").unwrap();
        std::fs::write(
            etc.join("ld.so.conf.d/a.conf"),
            "# comment\n/opt/a1:/opt/a2\ninclude ../ld.so.conf\n",
        )
        .unwrap();
        std::fs::write(etc.join("ld.so.conf.d/skip.txt"), "/opt/never\n").unwrap();
        let dirs = read_ld_so_conf(&FsRoot::new(dir.path())).unwrap();
        let dirs: Vec<_> = dirs.iter().map(|d| d.to_str().unwrap()).collect();
        assert_eq!(
            dirs,
            ["/opt/first", "/opt/a1", "/opt/a2", "/opt/b", "/opt/last"]
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match(b"*.conf", b"libc.conf"));
        assert!(!wildcard_match(b"*.conf", b"libc.conf.bak"));
        assert!(wildcard_match(b"x?.conf", b"x1.conf"));
    }
}
