//! The vocabulary the loaders' rules share: a directory to search, why it is
//! searched, and the expansion of `$ORIGIN`, `$LIB` and `$PLATFORM`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::elf::ElfObject;

/// One loader's search order. `chain[0]` is the object asking for a
/// library, `chain[1]` the object that loaded it, and so on up to the
/// executable.
pub trait SearchRules: Send + Sync {
    fn search_dirs(&self, chain: &[Requester<'_>]) -> SearchList;
    /// The directories the jailed loader searches by default, in order; a
    /// library found where the jail's loader will not look is moved to the
    /// first of them that exists.
    fn default_dirs(&self) -> &[PathBuf];

    /// The name actually searched for when `executable` asks for `name`
    /// (FreeBSD's libmap.conf); the name itself elsewhere.
    fn map_name<'a>(&'a self, _executable: &Path, name: &'a str) -> &'a str {
        name
    }

    /// Whether [`SearchRules::map_name`] maps some name for some programs
    /// only (FreeBSD's libmap.conf sections of a program's own).
    fn maps_by_program(&self) -> bool {
        false
    }

    /// How a file in a directory answers a request.
    fn matching(&self) -> Matching {
        Matching::Exact
    }

    /// What `$LIB` and `$PLATFORM` expand to.
    fn tokens(&self) -> (&str, &str) {
        ("lib", "")
    }

    /// Subdirectories of every search directory that hold copies built for
    /// newer CPUs (glibc-hwcaps). The host's loader may pick one; a jail
    /// that must run on any CPU of the target needs them and the plain copy.
    fn cpu_variants(&self) -> &[&'static str] {
        &[]
    }
}

/// How a loader matches a requested name against the files of a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Matching {
    /// The file of exactly that name (glibc, musl, FreeBSD).
    Exact,
    /// OpenBSD's `libX.so.MAJOR.MINOR` rules: same major, highest minor at
    /// least the one asked for; a name without numbers takes the highest.
    Versioned,
}

/// An object that asks for libraries, as the search rules see it.
pub struct Requester<'a> {
    pub object: &'a ElfObject,
    /// Where the object is inside the jail, as the loader reached it.
    pub jail_path: &'a Path,
    /// `$ORIGIN`: the directory the object was found in, inside the jail.
    pub origin: &'a Path,
    /// The same directory on the build host when the object does not come
    /// from the root (a freshly built executable).
    pub host_origin: Option<&'a Path>,
}

/// The directories searched for a name, in order; shared, as most
/// requests of most walks search the same list.
pub type SearchList = Arc<[SearchDir]>;

/// A directory to look in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDir {
    /// The directory as the target's loader sees it (may hold `..`).
    pub jail: PathBuf,
    /// Where it is on the build host, when it is not under the root.
    pub host: Option<PathBuf>,
    pub kind: DirKind,
}

// Hashed as the paths' bytes: `Path`'s own hash walks its components.
impl std::hash::Hash for SearchDir {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.jail.as_os_str().hash(state);
        self.host.as_ref().map(|h| h.as_os_str()).hash(state);
        std::mem::discriminant(&self.kind).hash(state);
        if let DirKind::Rpath(owner) | DirKind::Runpath(owner) = &self.kind {
            owner.as_os_str().hash(state);
        }
    }
}

/// Why a directory is searched; decides whether the jail's loader searches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirKind {
    Rpath(PathBuf),
    Runpath(PathBuf),
    LdLibraryPath,
    /// The directory of a DT_NEEDED entry that is itself a path.
    NeededPath,
    /// Known to the host loader only through a cache or hints file built by
    /// ldconfig (or musl's path file): absent from the jail.
    Cache,
    Default,
}

impl SearchDir {
    pub fn in_root(jail: PathBuf, kind: DirKind) -> Self {
        SearchDir {
            jail,
            host: None,
            kind,
        }
    }
}

impl DirKind {
    /// Whether the loader inside the jail searches this directory too.
    pub fn searched_in_jail(&self) -> bool {
        !matches!(self, DirKind::Cache)
    }
}

impl fmt::Display for DirKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirKind::Rpath(owner) => write!(f, "RPATH of {}", owner.display()),
            DirKind::Runpath(owner) => write!(f, "RUNPATH of {}", owner.display()),
            DirKind::LdLibraryPath => f.write_str("LD_LIBRARY_PATH"),
            DirKind::NeededPath => f.write_str("a DT_NEEDED path"),
            DirKind::Cache => f.write_str("the host's loader cache"),
            DirKind::Default => f.write_str("default directory"),
        }
    }
}

/// A loader's search order, built step by step in the order the loader
/// takes, so each loader's rules read as its manual states them.
pub struct Order<'t> {
    dirs: Vec<SearchDir>,
    /// What `$LIB` and `$PLATFORM` expand to.
    tokens: (&'t str, &'t str),
    /// OpenBSD: `$ORIGIN` only for objects flagged DF_ORIGIN / DF_1_ORIGIN.
    origin_needs_flag: bool,
}

impl<'t> Order<'t> {
    pub fn new(tokens: (&'t str, &'t str)) -> Self {
        Order {
            dirs: Vec::new(),
            tokens,
            origin_needs_flag: false,
        }
    }

    pub fn origin_needs_flag(mut self) -> Self {
        self.origin_needs_flag = true;
        self
    }

    /// The DT_RPATH entries of `owner`.
    pub fn rpath(&mut self, owner: &Requester<'_>) -> &mut Self {
        // Most objects have none: nothing to name, nothing to copy.
        if owner.object.rpath.is_empty() {
            return self;
        }
        let kind = DirKind::Rpath(owner.jail_path.to_path_buf());
        self.entries(owner, &owner.object.rpath, kind)
    }

    /// The DT_RUNPATH entries of `owner`.
    pub fn runpath(&mut self, owner: &Requester<'_>) -> &mut Self {
        if owner.object.runpath.is_empty() {
            return self;
        }
        let kind = DirKind::Runpath(owner.jail_path.to_path_buf());
        self.entries(owner, &owner.object.runpath, kind)
    }

    /// LD_LIBRARY_PATH as glibc takes it: its `$ORIGIN`, `$LIB` and
    /// `$PLATFORM` expanded once, for the main program (`program`), whoever
    /// asks.
    pub fn ld_library_path(&mut self, program: &Requester<'_>, list: &[String]) -> &mut Self {
        self.entries(program, list, DirKind::LdLibraryPath)
    }

    /// LD_LIBRARY_PATH as musl, FreeBSD's rtld and OpenBSD's ld.so take it:
    /// each entry as written, no token expanded (a relative one is relative
    /// to the daemon's working directory: never searched here).
    pub fn ld_library_path_as_written(&mut self, list: &[String]) -> &mut Self {
        let absolute = list.iter().filter(|dir| dir.starts_with('/'));
        let dirs = absolute.map(|dir| SearchDir::in_root(dir.into(), DirKind::LdLibraryPath));
        self.dirs.extend(dirs);
        self
    }

    /// Directories of the root itself: defaults, or the cache's.
    pub fn in_root(&mut self, dirs: &[PathBuf], kind: DirKind) -> &mut Self {
        let new = dirs
            .iter()
            .map(|d| SearchDir::in_root(d.clone(), kind.clone()));
        self.dirs.extend(new);
        self
    }

    fn entries(&mut self, owner: &Requester<'_>, list: &[String], kind: DirKind) -> &mut Self {
        for dir in list {
            let uses_origin = dir.contains("$ORIGIN") || dir.contains("${ORIGIN}");
            if uses_origin && self.origin_needs_flag && !owner.object.origin_flag {
                continue;
            }
            let (lib, platform) = self.tokens;
            self.dirs
                .extend(expand(dir, owner, lib, platform, kind.clone()));
        }
        self
    }

    pub fn finish(&mut self) -> SearchList {
        std::mem::take(&mut self.dirs).into()
    }

    /// The directories added so far, then `tail` (the directories of the
    /// root the loader always searches). When the requester and its
    /// loaders add none, as for most requests, the list is `tail` itself.
    pub fn then(&mut self, tail: &SearchList) -> SearchList {
        if self.dirs.is_empty() {
            return Arc::clone(tail);
        }
        self.dirs.extend(tail.iter().cloned());
        self.finish()
    }
}

/// Expands the dynamic string tokens of one RPATH/RUNPATH entry. Entries
/// that are relative (to the process's working directory) or hold an
/// unknown token are dropped, as ld.so drops them for a daemon.
pub fn expand(
    dir: &str,
    owner: &Requester<'_>,
    lib: &str,
    platform: &str,
    kind: DirKind,
) -> Option<SearchDir> {
    let substitute = |origin: &str| -> Option<String> {
        let mut out = dir.to_string();
        let tokens = [
            ("${ORIGIN}", "$ORIGIN", origin),
            ("${LIB}", "$LIB", lib),
            ("${PLATFORM}", "$PLATFORM", platform),
        ];
        for (braced, bare, value) in tokens {
            // Most entries hold no token: copied once, not once a token.
            for token in [braced, bare] {
                if out.contains(token) {
                    out = out.replace(token, value);
                }
            }
        }
        (!out.contains('$')).then_some(out)
    };
    let jail = substitute(owner.origin.to_str()?)?;
    if !jail.starts_with('/') {
        return None;
    }
    let uses_origin = dir.contains("$ORIGIN") || dir.contains("${ORIGIN}");
    let host = match owner.host_origin {
        Some(host_origin) if uses_origin => Some(PathBuf::from(substitute(host_origin.to_str()?)?)),
        _ => None,
    };
    Some(SearchDir {
        jail: PathBuf::from(jail),
        host,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ld_library_path_as_written_expands_nothing() {
        // musl, FreeBSD's rtld and OpenBSD's ld.so take LD_LIBRARY_PATH
        // literally: a token is part of a directory's name.
        let list = ["$ORIGIN/lib", "/opt/lib", "relative/lib", "/x/$LIB"].map(String::from);
        let dirs = Order::new(("lib64", "x86_64"))
            .ld_library_path_as_written(&list)
            .finish();
        let jail: Vec<&Path> = dirs.iter().map(|d| d.jail.as_path()).collect();
        assert_eq!(jail, [Path::new("/opt/lib"), Path::new("/x/$LIB")]);
    }
}
