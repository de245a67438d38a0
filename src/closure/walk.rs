//! The breadth-first walk of one executable's dependencies, made the way
//! its loader makes it: the interpreter first, then DT_NEEDED level by
//! level, a name already loaded satisfying every later request for it.

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::ffi::OsStr;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use super::elf::ElfObject;
use super::root::{Link, normalize};
use super::search::{DirKind, Matching, Requester, SearchDir, SearchList, SearchRules, expand};
use super::target::{Loader, Target};
use super::versions;
use super::{Executable, Resolver, Role, address, openbsd};
use crate::error::{Error, MissingLibrary, MissingVersion, Result};

/// A library file found in a search directory, before any walk takes it.
pub(super) struct Found {
    /// The file name matched (OpenBSD's may differ from the one asked for).
    name: String,
    source: PathBuf,
    jail_path: PathBuf,
    links: Vec<Link>,
    object: Arc<ElfObject>,
}

/// Which file answers a request, and its CPU-specific copies, before a
/// walk loads them.
pub(super) struct Answer {
    found: Arc<Placed>,
    variants: Vec<Arc<Placed>>,
}

/// A file as walks load it, the same for every walk that loads it
/// through the same request: shared, so a walk's files are pointers.
pub(super) struct Placed {
    pub object: Arc<ElfObject>,
    /// Where the file lives inside the jail, and where it is read.
    pub path: PathBuf,
    pub source: PathBuf,
    pub role: Role,
    /// How the loader finds it (see [`super::ClosureFile`]).
    pub found: String,
    pub moved_from: Option<PathBuf>,
    /// `$ORIGIN` inside the jail and, for objects from outside the root, on the host.
    origin: PathBuf,
    host_origin: Option<PathBuf>,
    /// The links passed to reach it.
    pub links: Vec<Link>,
}

/// Who-asked-for-what pairs a walk scans before it indexes them.
const SCAN_NEEDS: usize = 64;

/// One object the walk has loaded.
struct Loaded {
    placed: Arc<Placed>,
    /// The object whose request loaded this one (for RPATH inheritance).
    loader: Option<usize>,
    /// Where its requests are searched for, once it has made one.
    search: Option<SearchList>,
}

pub(super) struct Walk<'r> {
    resolver: &'r Resolver,
    target: &'r Target,
    rules: Arc<dyn SearchRules>,
    loaded: Vec<Loaded>,
    /// Names and sonames already loaded: these satisfy any later request.
    by_name: FxHashMap<String, usize>,
    /// The loaded objects by in-jail path.
    by_path: FxHashMap<ByPath, usize>,
    queue: VecDeque<usize>,
    /// Who asked for what, as (object, asker) indices, in the order asked:
    /// one list for the walk rather than one per object.
    needs: Vec<(usize, usize)>,
    /// The same pairs as a set, once there are many: a walk of hundreds of
    /// libraries that all need each other must not scan the list each time.
    needs_seen: FxHashSet<(usize, usize)>,
    /// Libraries not found so far (the walk goes on past them).
    missing: Vec<MissingLibrary>,
}

/// A loaded file as a key: hashed and compared as its in-jail path's
/// bytes, so that a walk finds a path among its files without copying it.
struct ByPath(Arc<Placed>);

impl Borrow<OsStr> for ByPath {
    fn borrow(&self) -> &OsStr {
        self.0.path.as_os_str()
    }
}

impl Hash for ByPath {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.path.as_os_str().hash(state);
    }
}

impl PartialEq for ByPath {
    fn eq(&self, other: &Self) -> bool {
        self.0.path.as_os_str() == other.0.path.as_os_str()
    }
}

impl Eq for ByPath {}

/// What one walk found: its executable, then the files it loaded.
pub(super) struct Walked {
    pub executable: Arc<Placed>,
    pub tail: Arc<Tail>,
}

/// The files a walk loaded after its executable, in the order loaded, and
/// who asked for what, as (file, asker) indices into the walk's files
/// (the executable is 0), in the order asked. Shared by every executable
/// whose walk it would be (see [`TailKey`]).
pub(super) struct Tail {
    pub files: Vec<Arc<Placed>>,
    pub needs: Vec<(usize, usize)>,
    /// The names that answered requests, and the loaded paths, by index:
    /// an executable that takes the tail has its version needs checked
    /// against these, and must not itself be at one of these paths.
    by_name: FxHashMap<String, usize>,
    by_path: FxHashMap<ByPath, usize>,
}

impl Walked {
    /// The walk's files in the order loaded, the executable first.
    pub fn files(&self) -> impl Iterator<Item = &Arc<Placed>> {
        std::iter::once(&self.executable).chain(&self.tail.files)
    }
}

/// What decides a walk beyond its executable, when the executable adds
/// nothing of its own to it: the target, the search list its requests
/// take, and the interpreter and libraries it asks for. Most programs of
/// a system ask for the same few sets (229 of 641 in /usr/bin and
/// /usr/sbin for libc alone), so their walks are made once.
pub(super) struct TailKey {
    target: Target,
    /// The address of the executable's (canonical) search list.
    list: usize,
    /// The first executable of this key; its interpreter and DT_NEEDED.
    object: Arc<ElfObject>,
}

impl Hash for TailKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.target.hash(state);
        self.list.hash(state);
        self.object.interpreter.hash(state);
        self.object.needed.hash(state);
    }
}

impl PartialEq for TailKey {
    fn eq(&self, other: &Self) -> bool {
        self.target == other.target
            && self.list == other.list
            && self.object.interpreter == other.object.interpreter
            && self.object.needed == other.object.needed
    }
}

impl Eq for TailKey {}

impl<'r> Walk<'r> {
    pub(super) fn run(
        resolver: &'r Resolver,
        target: &'r Target,
        executable: &Executable,
        host_real: Result<PathBuf>,
        object: Arc<ElfObject>,
        dlopen: &[String],
        optional_dlopen: &[String],
    ) -> Result<Walked> {
        let rules = resolver.rules(target)?;
        let shares_tail = Walk::shares_tail(&rules, &object, dlopen, optional_dlopen);
        let mut walk = Walk {
            resolver,
            target,
            rules,
            loaded: Vec::new(),
            by_name: FxHashMap::default(),
            by_path: FxHashMap::default(),
            queue: VecDeque::new(),
            needs: Vec::new(),
            needs_seen: FxHashSet::default(),
            missing: Vec::new(),
        };
        let host_real = host_real?;
        let jail_path = normalize(&executable.jail_path);
        let interpreter = object.interpreter.clone();
        let placed = Placed {
            origin: parent(&jail_path),
            host_origin: Some(parent(&host_real)),
            links: Vec::new(),
            path: jail_path,
            source: host_real,
            role: Role::Executable,
            found: "given".to_string(),
            moved_from: None,
            object,
        };
        walk.add(Arc::new(placed), None);
        let key = if shares_tail {
            walk.make_search_list(0);
            let key = TailKey {
                target: target.clone(),
                list: address(walk.loaded[0].search.as_ref().expect("made above")),
                object: Arc::clone(&walk.loaded[0].placed.object),
            };
            if let Some(walked) = walk.take_tail(&key)? {
                return Ok(walked);
            }
            Some(key)
        } else {
            None
        };
        if let Some(interpreter) = interpreter {
            walk.add_interpreter(&interpreter)?;
        }
        walk.drain()?;
        for name in dlopen {
            walk.request(0, name, false)?;
        }
        for name in optional_dlopen {
            walk.request(0, name, true)?;
        }
        walk.drain()?;
        if let Some(error) = MissingLibrary::error(std::mem::take(&mut walk.missing)) {
            return Err(error);
        }
        if matches!(target.loader, Loader::Glibc | Loader::FreeBsd) {
            let file = |index: usize| &*walk.loaded[index].placed;
            walk.check_versions(file, walk.loaded.iter().map(|l| &*l.placed), &walk.by_name)?;
        }
        let mut loaded = walk.loaded.into_iter().map(|l| l.placed);
        let executable = loaded.next().expect("the executable is loaded first");
        let tail = Arc::new(Tail {
            files: loaded.collect(),
            needs: walk.needs,
            by_name: walk.by_name,
            by_path: walk.by_path,
        });
        // A tail in which the executable answered a request (a library's
        // path is its own, or it asks for itself by name) is its own.
        if let Some(key) = key.filter(|_| tail.by_name.values().all(|&file| file != 0)) {
            resolver.keep_tail(key, Arc::clone(&tail));
        }
        Ok(Walked { executable, tail })
    }

    /// Whether the walk past the executable depends on the executable
    /// only through its [`TailKey`]: no RPATH or RUNPATH (which name their
    /// owner and may hold `$ORIGIN`), no soname a library could ask for,
    /// no path among its DT_NEEDED, no declared dlopen(), and names that
    /// map the same for every program (FreeBSD's libmap.conf may not).
    fn shares_tail(
        rules: &Arc<dyn SearchRules>,
        object: &ElfObject,
        dlopen: &[String],
        optional_dlopen: &[String],
    ) -> bool {
        object.rpath.is_empty()
            && object.runpath.is_empty()
            && object.soname.is_none()
            && object.dlopen.is_empty()
            && !object.needed.iter().any(|name| name.contains('/'))
            && dlopen.is_empty()
            && optional_dlopen.is_empty()
            && !rules.maps_by_program()
    }

    /// The walk of another executable of the same key, taken as this
    /// one's once its own version needs are met there; `None` when there
    /// is none yet, or a library of it is at this executable's path.
    fn take_tail(&self, key: &TailKey) -> Result<Option<Walked>> {
        let Some(tail) = self.resolver.tail(key) else {
            return Ok(None);
        };
        let executable = &self.loaded[0].placed;
        if tail.by_path.contains_key(executable.path.as_os_str()) {
            return Ok(None);
        }
        if matches!(self.target.loader, Loader::Glibc | Loader::FreeBsd) {
            let file = |index: usize| match index {
                0 => &**executable,
                _ => &*tail.files[index - 1],
            };
            self.check_versions(file, std::iter::once(&**executable), &tail.by_name)?;
        }
        Ok(Some(Walked {
            executable: Arc::clone(executable),
            tail,
        }))
    }

    fn drain(&mut self) -> Result<()> {
        while let Some(index) = self.queue.pop_front() {
            let object = Arc::clone(&self.loaded[index].placed.object);
            for name in &object.needed {
                self.request(index, name, false)?;
            }
            // Declared dlopen()s: the first alternative found; none is no error.
            for alternatives in &object.dlopen {
                for soname in alternatives {
                    if self.request(index, soname, true)? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Every version need of every loaded object against the object that
    /// answers its library's name, all in one error as the loader would
    /// list them (it stops at the first).
    /// `file` gives the walk's files by index (the executable is 0),
    /// `needers` are those of them to check, `by_name` the names that
    /// answered requests.
    fn check_versions<'p>(
        &self,
        file: impl Fn(usize) -> &'p Placed,
        needers: impl Iterator<Item = &'p Placed>,
        by_name: &FxHashMap<String, usize>,
    ) -> Result<()> {
        let mut missing = Vec::new();
        for needer in needers {
            for need in needer.object.version_needs.iter() {
                let mapped = self.rules.map_name(&file(0).path, &need.library);
                let answer = [need.library.as_str(), mapped]
                    .iter()
                    .find_map(|name| by_name.get(*name));
                // Not loaded: a need without a DT_NEEDED, which the loader
                // reports as the missing library itself; nothing to check.
                let Some(&index) = answer else { continue };
                let library = file(index);
                let defined = &library.object.version_definitions;
                for (version, newest) in versions::missing(&need.versions, defined) {
                    missing.push(MissingVersion {
                        object: needer.path.clone(),
                        library: need.library.clone(),
                        library_file: library.path.clone(),
                        version: version.name.clone(),
                        newest,
                    });
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::VersionsNotFound {
            help: versions::causes(&missing, &self.resolver.root.describe()),
            missing,
        })
    }

    /// The interpreter must exist at exactly its PT_INTERP path.
    fn add_interpreter(&mut self, path: &str) -> Result<()> {
        let root = &self.resolver.root;
        let Some(placed) = self
            .resolver
            .interpreter(path, || place_interpreter(self.resolver, path))?
        else {
            return Err(Error::LibraryNotFound {
                name: path.to_string(),
                chain: vec![self.loaded[0].placed.path.clone()],
                searched: vec![root.host_path(Path::new(path))],
            });
        };
        let index = self.add(placed, Some(0));
        self.by_name.insert(path.to_string(), index);
        Ok(())
    }

    /// Loads `placed` for `requester` (none for the executable).
    fn add(&mut self, placed: Arc<Placed>, requester: Option<usize>) -> usize {
        if let Some(soname) = &placed.object.soname {
            self.by_name
                .entry(soname.clone())
                .or_insert(self.loaded.len());
        }
        self.add_unnamed(placed, requester)
    }

    /// Adds an object without letting its soname answer later requests
    /// (a CPU variant: the plain copy answers them).
    fn add_unnamed(&mut self, placed: Arc<Placed>, requester: Option<usize>) -> usize {
        let index = self.loaded.len();
        self.by_path
            .entry(ByPath(Arc::clone(&placed)))
            .or_insert(index);
        self.loaded.push(Loaded {
            placed,
            loader: requester,
            search: None,
        });
        if let Some(requester) = requester {
            self.note_need(index, requester);
        }
        self.queue.push_back(index);
        index
    }

    /// Whether a file of this path is loaded already, and which.
    fn loaded_at(&self, path: &Path) -> Option<usize> {
        self.by_path.get(path.as_os_str()).copied()
    }

    /// Handles `requester` asking for `name`. Returns whether it was found;
    /// a missing `optional` name is no error.
    fn request(&mut self, requester: usize, name: &str, optional: bool) -> Result<bool> {
        // Owned only when libmap.conf maps the name: the rules, shared by
        // every walk, are not held (nor their count touched) per request.
        let mapped = self.rules.map_name(&self.loaded[0].placed.path, name);
        let mapped_owned = (mapped != name).then(|| mapped.to_string());
        let mapped = mapped_owned.as_deref().unwrap_or(name);
        for known in [name, mapped] {
            if let Some(&index) = self.by_name.get(known) {
                self.note_need(index, requester);
                return Ok(true);
            }
        }
        // The directories a path names; a searched name's are its requester's.
        let (path_dirs, found) = if let Some((dir, file)) = mapped.rsplit_once('/') {
            // A name with a slash is a path, used as it is once `$ORIGIN`
            // and friends are expanded (a relative one is relative to the
            // daemon's working directory: never found).
            let (lib, platform) = self.rules.tokens();
            let dir = if dir.is_empty() { "/" } else { dir };
            let dirs: SearchList = expand(
                dir,
                &self.chain(requester)[0],
                lib,
                platform,
                DirKind::NeededPath,
            )
            .into_iter()
            .collect();
            let found = match dirs.first() {
                Some(dir) => self.look_in(dir, file, false)?.map(|found| {
                    Arc::new(Answer {
                        found: Arc::new(found),
                        variants: Vec::new(),
                    })
                }),
                None => None,
            };
            (Some(dirs), found)
        } else {
            self.make_search_list(requester);
            let dirs = self.loaded[requester].search.as_ref().expect("made above");
            let found =
                (self.resolver).answer(self.target, dirs, mapped, || self.search(dirs, mapped))?;
            (None, found)
        };
        let Some(answer) = found else {
            if optional {
                return Ok(false);
            }
            // Noted, and the walk goes on: one run names every library
            // missing, not only the first.
            let root = &self.resolver.root;
            let dirs = path_dirs
                .as_ref()
                .or(self.loaded[requester].search.as_ref());
            let missing = MissingLibrary {
                name: name.to_string(),
                chain: self.loader_chain(requester),
                searched: dirs
                    .iter()
                    .flat_map(|d| d.iter())
                    .fold(Vec::new(), |mut searched, d| {
                        let dir = d.host.clone().unwrap_or_else(|| root.host_path(&d.jail));
                        if !searched.contains(&dir) {
                            searched.push(dir);
                        }
                        searched
                    }),
            };
            self.missing.push(missing);
            return Ok(false);
        };
        // Two names (a symlink and its target) may reach one loaded file.
        if let Some(index) = self.loaded_at(&answer.found.path) {
            self.by_name.insert(name.to_string(), index);
            self.note_need(index, requester);
            return Ok(true);
        }
        let index = self.add(Arc::clone(&answer.found), Some(requester));
        self.by_name.insert(name.to_string(), index);
        for variant in &answer.variants {
            if self.loaded_at(&variant.path).is_none() {
                self.add_unnamed(Arc::clone(variant), Some(requester));
            }
        }
        Ok(true)
    }

    /// The first of `dirs` that holds `name`, and the CPU-specific copies
    /// beside it: the file system's answer to a request, the same for
    /// every walk that searches these directories.
    fn search(&self, dirs: &[SearchDir], name: &str) -> Result<Option<Answer>> {
        // OpenBSD's ld.so makes a second, lenient pass over the same
        // directories: a lower minor than the one asked for will do.
        let passes: &[bool] = match self.rules.matching() {
            Matching::Exact => &[false],
            Matching::Versioned => &[false, true],
        };
        for &lenient in passes {
            for dir in dirs {
                if let Some(found) = self.look_in(dir, name, lenient)? {
                    let variants = self.cpu_variants(dir, name)?;
                    return Ok(Some(Answer {
                        found: Arc::new(found),
                        variants: variants.into_iter().map(Arc::new).collect(),
                    }));
                }
            }
        }
        Ok(None)
    }

    /// The CPU-specific copies of `name` beside the one found in `dir`.
    fn cpu_variants(&self, dir: &SearchDir, name: &str) -> Result<Vec<Placed>> {
        let mut variants = Vec::new();
        for sub in self.rules.cpu_variants() {
            let variant_dir = SearchDir {
                jail: dir.jail.join(sub),
                host: dir.host.as_ref().map(|h| h.join(sub)),
                kind: dir.kind.clone(),
            };
            if let Some(mut variant) = self.look_in(&variant_dir, name, false)? {
                if variant.moved_from.is_some() {
                    // Moved beside the plain copy: keep the subdirectory.
                    let dir = parent(&variant.path).join(sub);
                    variant.path = dir.join(name);
                    variant.origin = dir;
                }
                variant.found = format!(
                    "{} (a copy for CPUs with {sub}; the plain copy stays for the others)",
                    variant.found
                );
                variants.push(variant);
            }
        }
        Ok(variants)
    }

    fn note_need(&mut self, index: usize, requester: usize) {
        if index == requester {
            return;
        }
        let need = (index, requester);
        let new = if self.needs.len() < SCAN_NEEDS {
            !self.needs.contains(&need)
        } else {
            if self.needs_seen.is_empty() {
                self.needs_seen.extend(self.needs.iter().copied());
            }
            self.needs_seen.insert(need)
        };
        if new {
            self.needs.push(need);
        }
    }

    /// Where `requester`'s loader searches for the names it asks for,
    /// made once per requester.
    fn make_search_list(&mut self, requester: usize) {
        if self.loaded[requester].search.is_none() {
            let list = self.rules.search_dirs(&self.chain(requester));
            self.loaded[requester].search = Some(self.resolver.canonical(list));
        }
    }

    /// The requester, then the object that loaded it, up to the executable.
    fn chain(&self, requester: usize) -> Vec<Requester<'_>> {
        let mut chain = Vec::new();
        let mut cursor = Some(requester);
        while let Some(i) = cursor {
            let loaded = &self.loaded[i];
            chain.push(Requester {
                object: &loaded.placed.object,
                jail_path: &loaded.placed.path,
                origin: &loaded.placed.origin,
                host_origin: loaded.placed.host_origin.as_deref(),
            });
            cursor = loaded.loader;
        }
        chain
    }

    fn loader_chain(&self, requester: usize) -> Vec<PathBuf> {
        self.chain(requester)
            .iter()
            .map(|r| r.jail_path.to_path_buf())
            .collect()
    }

    /// Looks for `name` in one directory. A file of the wrong class or
    /// machine, or no ELF file at all, is passed over as the loader does.
    fn look_in(&self, dir: &SearchDir, name: &str, lenient: bool) -> Result<Option<Placed>> {
        // Most directories of a search list, and most glibc-hwcaps
        // subdirectories, are absent or hold none of the names asked for:
        // a lookup of the directory, or its listing, answers for every
        // name. (OpenBSD's names are matched against a listing anyway.)
        let matching = self.rules.matching();
        let exact = matching == Matching::Exact;
        if dir.host.is_none() && exact && self.resolver.root.lacks(&dir.jail, name) {
            return Ok(None);
        }
        let Some(found) = self.resolver.look_in(dir, name, matching, lenient, || {
            self.locate(dir, name, lenient)
        })?
        else {
            return Ok(None);
        };
        if !self.loaded[0].placed.object.compatible(&found.object) {
            return Ok(None);
        }
        let mut description = format!("{} {}", dir.kind, dir.jail.display());
        if lenient {
            description.push_str(" (a lower minor than asked for: ld.so warns)");
        }
        let mut candidate = Placed {
            path: found.jail_path.clone(),
            source: found.source.clone(),
            role: Role::Library,
            found: description,
            moved_from: None,
            origin: normalize(&dir.jail),
            host_origin: dir.host.clone(),
            links: found.links.clone(),
            object: Arc::clone(&found.object),
        };
        if !dir.kind.searched_in_jail() {
            self.move_to_default_dir(&mut candidate, &found.name)?;
        }
        Ok(Some(candidate))
    }

    /// The file system's part of [`Walk::look_in`], which depends on the
    /// directory and the name alone: the resolver remembers it, so a
    /// library every executable asks for is looked up once per directory.
    fn locate(&self, dir: &SearchDir, name: &str, lenient: bool) -> Result<Option<Found>> {
        let root = &self.resolver.root;
        let name = match self.rules.matching() {
            Matching::Exact => name.to_string(),
            Matching::Versioned => match openbsd::best_match(&self.list(dir)?, name, lenient) {
                Some(file) => file,
                None => return Ok(None),
            },
        };
        let requested = dir.jail.join(&name);
        let (source, jail_path, links) = match &dir.host {
            Some(host_dir) => {
                let host = host_dir.join(&name);
                if !host.is_file() {
                    return Ok(None);
                }
                let source = std::fs::canonicalize(&host)
                    .map_err(|source| Error::Read { path: host, source })?;
                if !source.is_file() {
                    return Ok(None);
                }
                (source, normalize(&requested), Vec::new())
            }
            None => {
                // A link loop on the way, or a directory this user may
                // not search, is no file, as for ld.so's open(): it goes
                // on to the next directory.
                let resolved = match root.resolve(&requested) {
                    Ok(Some(resolved)) => resolved,
                    Ok(None) | Err(Error::SymlinkLoop { .. }) => return Ok(None),
                    Err(Error::Read { source, .. })
                        if source.kind() == std::io::ErrorKind::PermissionDenied =>
                    {
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                };
                if !root.is_file(&resolved.path) {
                    return Ok(None);
                }
                (
                    root.host_path(&resolved.path),
                    resolved.path,
                    resolved.links,
                )
            }
        };
        let object = match self.resolver.parse(&source) {
            Ok(object) => object,
            Err(Error::Elf { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(Found {
            name,
            source,
            jail_path,
            links,
            object,
        }))
    }

    /// The file names in a search directory (OpenBSD matches versions).
    fn list(&self, dir: &SearchDir) -> Result<Vec<String>> {
        let root = &self.resolver.root;
        let host = match &dir.host {
            Some(host) => host.clone(),
            None => match root.resolve(&dir.jail)? {
                Some(resolved) => root.host_path(&resolved.path),
                None => return Ok(Vec::new()),
            },
        };
        Ok(root
            .dir_names(&host)
            .iter()
            .filter_map(|name| name.to_str().map(str::to_string))
            .collect())
    }

    /// The jail has no loader cache or hints: put the library where its
    /// loader looks.
    fn move_to_default_dir(&self, candidate: &mut Placed, name: &str) -> Result<()> {
        for dir in self.rules.default_dirs() {
            if let Some(resolved) = self.resolver.root.resolve(dir)? {
                candidate.moved_from = Some(candidate.path.clone());
                candidate.path = resolved.path.join(name);
                candidate.found = format!(
                    "{}; moved to default directory {} (the jail has no loader cache or hints)",
                    candidate.found,
                    dir.display()
                );
                candidate.links = resolved.links;
                candidate.origin = dir.clone();
                return Ok(());
            }
        }
        Err(Error::NotSupported {
            path: candidate.source.clone(),
            what: format!(
                "placing a library found through the loader cache when the {} root has none of the default directories {:?}",
                self.target.os,
                self.rules.default_dirs()
            ),
        })
    }
}

/// The interpreter at `path`, where the root has it; `None` when it has not.
pub(super) fn place_interpreter(resolver: &Resolver, path: &str) -> Result<Option<Placed>> {
    let jail_path = PathBuf::from(path);
    let root = &resolver.root;
    let Some(resolved) = root.resolve(&jail_path)? else {
        return Ok(None);
    };
    let source = root.host_path(&resolved.path);
    let object = resolver.parse(&source)?;
    Ok(Some(Placed {
        origin: parent(&jail_path),
        host_origin: None,
        links: resolved.links,
        path: resolved.path,
        source,
        role: Role::Interpreter,
        found: "PT_INTERP".to_string(),
        moved_from: None,
        object,
    }))
}

fn parent(path: &Path) -> PathBuf {
    path.parent().unwrap_or(Path::new("/")).to_path_buf()
}
