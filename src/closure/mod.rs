//! Stage 2, closure: every file the executables need at run time, found by
//! reading ELF files (never running them) and following the target loader's
//! own search rules against `/` or a sysroot.

pub mod elf;
mod freebsd;
mod glibc;
mod musl;
mod openbsd;
pub mod root;
mod search;
pub mod target;
pub mod versions;
mod walk;

use std::collections::hash_map::Entry;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use self::elf::ElfObject;
use self::root::{FsRoot, Link};
use self::target::Target;
use crate::error::{Error, Result};

/// An executable to put in the jail.
#[derive(Debug, Clone)]
pub struct Executable {
    /// Where it is on the build host.
    pub source: PathBuf,
    /// Where it goes inside the jail (absolute).
    pub jail_path: PathBuf,
}

/// Everything beyond the executables themselves that shapes the walk.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The target's root file system: the build host's `/` or a sysroot.
    pub root: FsRoot,
    /// Directories the jailed program will get in LD_LIBRARY_PATH.
    pub ld_library_path: Vec<String>,
    /// Libraries the main executable dlopen()s, by name or path.
    pub dlopen: Vec<String>,
    /// Libraries it dlopen()s when they exist (glibc's NSS modules): each
    /// is resolved like `dlopen` when its loader would find it, else passed over.
    pub optional_dlopen: Vec<String>,
}

/// The result: the target and every file with where it came from and why.
#[derive(Debug, Clone, Serialize)]
pub struct Closure {
    pub target: Target,
    /// Sorted by in-jail path.
    pub files: Vec<ClosureFile>,
    /// Symlinks the loader passes through, sorted by path.
    pub links: Vec<Link>,
    /// ELF objects of a directory source left out of the jail because
    /// their closure could not be completed (see [`Closure::absorb`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<LeftOut>,
}

/// An object the jail goes without, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    /// Inside the jail.
    pub path: PathBuf,
    pub reason: String,
}

impl Closure {
    /// Adds the closure of `object` (an ELF file a directory source ships,
    /// resolved on its own) without the object itself, which its `files`
    /// line places. When the object's closure failed, or does not fit this
    /// one (another target, another copy of a library), the object is
    /// recorded as left out instead: a plugin for something the host lacks
    /// must not stop the jail.
    pub fn absorb(&mut self, object: &Path, resolved: Result<Closure>) {
        let reason = match resolved {
            Err(error) => Some(left_out_reason(&error)),
            Ok(other) if other.target != self.target => Some(format!(
                "it is built for {} ({}), the daemon for {} ({})",
                other.target.os,
                other.target.rust_triple(),
                self.target.os,
                self.target.rust_triple()
            )),
            Ok(other) => self.try_merge(object, other).err(),
        };
        if let Some(reason) = reason {
            self.left_out.push(LeftOut {
                path: object.to_path_buf(),
                reason,
            });
        }
    }

    /// Merges all of `other` but `object`, or nothing.
    fn try_merge(&mut self, object: &Path, other: Closure) -> std::result::Result<(), String> {
        let merged = self.merge_all_but(object, other);
        merged.map_err(|error| left_out_reason(&error))
    }

    fn merge_all_but(&mut self, object: &Path, other: Closure) -> Result<()> {
        let mut merger = Merger::default();
        let others = other.files.iter().filter(|f| f.path != object);
        for file in self.files.iter().chain(others) {
            let needed_by = file.needed_by.iter().map(PathBuf::as_path);
            merger.file(FileView::of(file), needed_by)?;
        }
        for link in self.links.iter().chain(&other.links) {
            merger.link(link)?;
        }
        (self.files, self.links) = merger.finish();
        Ok(())
    }
}

/// One line on why an object's closure is incomplete.
fn left_out_reason(error: &Error) -> String {
    match error {
        Error::LibraryNotFound { name, .. } => {
            format!("it needs {name}, which the root does not have")
        }
        Error::LibrariesNotFound { missing } => {
            let names: Vec<&str> = missing.iter().map(|m| m.name.as_str()).collect();
            format!(
                "it needs {}, which the root does not have",
                names.join(", ")
            )
        }
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Executable,
    Interpreter,
    Library,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClosureFile {
    /// Where the file lives inside the jail.
    pub path: PathBuf,
    /// Where it was read on the build host.
    pub source: PathBuf,
    pub role: Role,
    /// In-jail paths of the objects that asked for it (empty for an executable).
    pub needed_by: Vec<PathBuf>,
    /// How the loader finds it, e.g. `default directory /lib/x86_64-linux-gnu`.
    pub found: String,
    /// Set when the host found it in a directory the jailed loader will not
    /// search (ld.so.cache, hints): the host path it was moved from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<PathBuf>,
    /// The symbol versions it needs, per library soname (DT_VERNEED), in
    /// the order of the file: the highest `GLIBC_2.x` among them is the
    /// oldest glibc it runs on.
    #[serde(skip_serializing_if = "versions::ByLibrary::is_empty")]
    pub versions: versions::ByLibrary,
}

/// Resolves the closure of `executables` (see [`Resolver`]).
pub fn resolve(executables: &[Executable], options: &Options) -> Result<Closure> {
    Resolver::new(options.clone()).resolve(executables)
}

/// Resolves closures, remembering every ELF file it has parsed, so that
/// many executables resolved against one root read each library once.
/// Shared by the walks, which run on every core.
pub struct Resolver {
    root: FsRoot,
    /// The build host's `/`, where the executables are (the root itself
    /// when there is no sysroot: one memo of the file system).
    host: FsRoot,
    options: Options,
    parsed: Mutex<FxHashMap<OsString, Arc<ElfObject>>>,
    /// What each search directory holds under each name asked for.
    located: Mutex<FxHashMap<LookIn, Option<Arc<walk::Found>>>>,
    /// Which file answers a name in a list of search directories, per
    /// target (its loader's rules and its class and machine decide what
    /// answers): most requests of most walks search the same few lists.
    answers: Mutex<FxHashMap<Target, Answers>>,
    /// One copy of each search list made: a list is then known by its
    /// address, and a request's answer is found without hashing or
    /// comparing the list's directories.
    lists: Mutex<Lists>,
    /// Each interpreter (PT_INTERP) found, by its path: nearly every walk
    /// starts with the same one.
    interpreters: Mutex<FxHashMap<String, Arc<walk::Placed>>>,
    /// Each target's search rules (its loader's configuration read once).
    rules: Mutex<Vec<(Target, Arc<dyn search::SearchRules>)>>,
    /// Walks past their executable, made once per key and taken by every
    /// executable of that key.
    tails: Mutex<FxHashMap<walk::TailKey, Arc<walk::Tail>>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Resolver {
    pub fn new(options: Options) -> Self {
        let host = match options.root.sysroot() {
            None => options.root.clone(),
            Some(_) => FsRoot::host(),
        };
        Resolver {
            root: options.root.clone(),
            host,
            options,
            parsed: Mutex::default(),
            located: Mutex::default(),
            answers: Mutex::default(),
            lists: Mutex::default(),
            interpreters: Mutex::default(),
            rules: Mutex::default(),
            tails: Mutex::default(),
        }
    }

    /// The search rules of `target`'s loader, made once per resolver.
    fn rules(&self, target: &Target) -> Result<Arc<dyn search::SearchRules>> {
        let mut made = locked(&self.rules);
        if let Some((_, rules)) = made.iter().find(|(t, _)| t == target) {
            return Ok(Arc::clone(rules));
        }
        let root = &self.root;
        let path = &self.options.ld_library_path;
        let rules: Arc<dyn search::SearchRules> = match target.loader {
            target::Loader::Glibc => Arc::new(glibc::GlibcRules::new(root, target, path)?),
            target::Loader::Musl => Arc::new(musl::MuslRules::new(root, target, path)?),
            target::Loader::OpenBsd => Arc::new(openbsd::OpenBsdRules::new(path)),
            target::Loader::FreeBsd => Arc::new(freebsd::FreeBsdRules::new(root, path)?),
        };
        made.push((target.clone(), Arc::clone(&rules)));
        Ok(rules)
    }

    /// Each executable gets a walk of its own (already-loaded libraries
    /// are per process); the walks run on every core and merge, in the
    /// executables' order, into one closure. All must be for one target.
    pub fn resolve(&self, executables: &[Executable]) -> Result<Closure> {
        let indexed: Vec<(usize, &Executable)> = executables.iter().enumerate().collect();
        let walks = crate::parallel::map(&indexed, |&(index, executable)| {
            self.walk(index, executable)
        });
        let (target, walked, failure) = self.in_order(executables, walks);
        // Hashed while merging, sorted once at the end: many executables
        // bring the same libraries, so most merges find the file there. A
        // conflict among the walks before the first failure comes first,
        // as in a loop over the executables.
        let mut merger = Merger::default();
        for walk in &walked {
            merger.walk(walk)?;
        }
        if let Some(error) = failure {
            return Err(error);
        }
        let Some(target) = target else {
            return Err(Error::Selection {
                message: "no executable to jail".to_string(),
            });
        };
        let (files, links) = merger.finish();
        Ok(Closure {
            target,
            files,
            links,
            left_out: Vec::new(),
        })
    }

    /// The walks in the executables' order up to the first that failed,
    /// with that failure, as a loop over them would meet it: reading the
    /// executable, telling its target (the first one's for all), walking.
    fn in_order(
        &self,
        executables: &[Executable],
        walks: Vec<Result<Started>>,
    ) -> (Option<Target>, Vec<walk::Walked>, Option<Error>) {
        // The first executable's target, and the object that told it.
        let mut first: Option<(Target, Arc<ElfObject>)> = None;
        let mut walked = Vec::with_capacity(walks.len());
        for (executable, walk) in executables.iter().zip(walks) {
            let failure = match walk {
                Err(error) => error,
                Ok((object, target, walk)) => {
                    let (first_target, first_object) =
                        first.get_or_insert_with(|| (target.clone(), Arc::clone(&object)));
                    if *first_target != target {
                        Error::Elf {
                            path: executable.source.clone(),
                            reason: format!(
                                "built for {} {} while {} is for {} {}; one jail holds one target",
                                target.os,
                                object.describe(),
                                executables[0].source.display(),
                                first_target.os,
                                first_object.describe()
                            ),
                        }
                    } else {
                        match walk {
                            Ok(walk) => {
                                walked.push(walk);
                                continue;
                            }
                            Err(error) => error,
                        }
                    }
                }
            };
            return (first.map(|(target, _)| target), walked, Some(failure));
        }
        (first.map(|(target, _)| target), walked, None)
    }

    /// One executable read, its target told and its walk made. The walk's
    /// own failure comes apart from the others: a target that differs
    /// from the first executable's is the error to report before it.
    fn walk(&self, index: usize, executable: &Executable) -> Result<Started> {
        let (host_real, object) = match self.read_where_it_is(&executable.source) {
            Some(object) => (Ok(executable.source.clone()), object),
            None => {
                // Where it really is, looked up before it is opened so that
                // it is known to be regular then; a failure is the walk's,
                // after the reading's own.
                let host_real = self.host_real(&executable.source);
                (host_real, self.parse(&executable.source)?)
            }
        };
        let target = Target::detect(&executable.source, &object)?;
        // dlopen() lists belong to the daemon, the first executable.
        let (dlopen, optional): (&[String], &[String]) = if index == 0 {
            (&self.options.dlopen, &self.options.optional_dlopen)
        } else {
            (&[], &[])
        };
        let walked = walk::Walk::run(
            self,
            &target,
            executable,
            host_real,
            Arc::clone(&object),
            dlopen,
            optional,
        );
        Ok((object, target, walked))
    }

    /// The executable at `path`, read in one open when `path` is where it
    /// really is: absolute, in a directory reached through no link, and
    /// no link itself (opened without following one). Most programs are
    /// so, and for them this is a `lstat` fewer. `None` sends the caller
    /// the long way, which follows links and tells every failure.
    fn read_where_it_is(&self, path: &Path) -> Option<Arc<ElfObject>> {
        let parent = path.parent().filter(|_| path.is_absolute())?;
        let resolved = self.host.resolve(parent).ok()??;
        // Byte for byte: a path with `.` or `//` in it goes the long way,
        // which gives the real path without them.
        let real = resolved.path.join(path.file_name()?);
        if real.as_os_str() != path.as_os_str() || !resolved.links.is_empty() {
            return None;
        }
        // Never taken from the memo: the long way files a link's object
        // under the link's path, and only the open below tells a link.
        let object = Arc::new(ElfObject::read_not_a_link(path).ok()?);
        locked(&self.parsed).insert(path.as_os_str().to_owned(), Arc::clone(&object));
        Some(object)
    }

    /// `locate`'s answer for `name` in `dir`, found once per resolver.
    fn look_in(
        &self,
        dir: &search::SearchDir,
        name: &str,
        matching: search::Matching,
        lenient: bool,
        locate: impl FnOnce() -> Result<Option<walk::Found>>,
    ) -> Result<Option<Arc<walk::Found>>> {
        let key = LookIn {
            jail: dir.jail.as_os_str().to_owned(),
            host: dir.host.as_ref().map(|h| h.as_os_str().to_owned()),
            name: name.to_string(),
            matching,
            lenient,
        };
        if let Some(found) = locked(&self.located).get(&key) {
            return Ok(found.clone());
        }
        // Two walks may look at once; both answers are the same.
        let found = locate()?.map(Arc::new);
        locked(&self.located).insert(key, found.clone());
        Ok(found)
    }

    /// `place`'s interpreter at `path`, found once per resolver.
    fn interpreter(
        &self,
        path: &str,
        place: impl FnOnce() -> Result<Option<walk::Placed>>,
    ) -> Result<Option<Arc<walk::Placed>>> {
        if let Some(placed) = locked(&self.interpreters).get(path) {
            return Ok(Some(Arc::clone(placed)));
        }
        let Some(placed) = place()?.map(Arc::new) else {
            return Ok(None);
        };
        locked(&self.interpreters).insert(path.to_string(), Arc::clone(&placed));
        Ok(Some(placed))
    }

    /// The walk past the executable made for `key`, if one was.
    fn tail(&self, key: &walk::TailKey) -> Option<Arc<walk::Tail>> {
        locked(&self.tails).get(key).cloned()
    }

    /// Keeps `tail` for the executables of `key` still to walk. (Two
    /// walks of one key may run at once; their tails are the same.)
    fn keep_tail(&self, key: walk::TailKey, tail: Arc<walk::Tail>) {
        locked(&self.tails).entry(key).or_insert(tail);
    }

    /// The one copy of `list` (one with the same directories), which
    /// [`Resolver::answer`] takes.
    fn canonical(&self, list: search::SearchList) -> search::SearchList {
        let mut lists = locked(&self.lists);
        // Most lists asked about are a copy already: the rules' shared tail.
        if lists.addresses.contains(&address(&list)) {
            return list;
        }
        if let Some(known) = lists.by_content.get(&list) {
            return Arc::clone(known);
        }
        lists.addresses.insert(address(&list));
        lists.by_content.insert(Arc::clone(&list));
        list
    }

    /// `search`'s answer for `name` in `dirs` (from
    /// [`Resolver::canonical`]), found once per resolver.
    fn answer(
        &self,
        target: &Target,
        dirs: &search::SearchList,
        name: &str,
        search: impl FnOnce() -> Result<Option<walk::Answer>>,
    ) -> Result<Option<Arc<walk::Answer>>> {
        let known = locked(&self.answers)
            .get(target)
            .and_then(|lists| lists.get(&address(dirs)))
            .and_then(|names| names.get(name))
            .cloned();
        if let Some(answer) = known {
            return Ok(answer);
        }
        let answer = search()?.map(Arc::new);
        locked(&self.answers)
            .entry(target.clone())
            .or_default()
            .entry(address(dirs))
            .or_default()
            .insert(name.to_string(), answer.clone());
        Ok(answer)
    }

    /// Where `path` on the build host really is, every link followed, as
    /// `realpath` finds it, but through the host's memo: most executables
    /// share their directories.
    fn host_real(&self, path: &Path) -> Result<PathBuf> {
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            let current = std::env::current_dir().map_err(|source| Error::Read {
                path: ".".into(),
                source,
            })?;
            current.join(path)
        };
        match self.host.resolve(&absolute)? {
            Some(resolved) => Ok(resolved.path),
            None => Err(Error::Read {
                path: path.to_path_buf(),
                source: std::io::ErrorKind::NotFound.into(),
            }),
        }
    }

    /// Parses `path` once per resolver.
    fn parse(&self, path: &Path) -> Result<Arc<ElfObject>> {
        if let Some(object) = locked(&self.parsed).get(path.as_os_str()) {
            return Ok(Arc::clone(object));
        }
        // Most files read are libraries the root's memo has seen: no need
        // to look at them again before opening.
        let object = if self.root.seen_regular(path) || self.host.seen_regular(path) {
            ElfObject::read_seen_regular(path)?
        } else {
            ElfObject::read(path)?
        };
        let object = Arc::new(object);
        locked(&self.parsed).insert(path.as_os_str().to_owned(), Arc::clone(&object));
        Ok(object)
    }
}

/// An executable read, its target, and its walk's outcome.
type Started = (Arc<ElfObject>, Target, Result<walk::Walked>);

/// A name looked for in one search directory. (Paths are kept as their
/// bytes in every map here: hashing a `Path` walks its components.)
#[derive(PartialEq, Eq, Hash)]
struct LookIn {
    jail: OsString,
    host: Option<OsString>,
    name: String,
    /// OpenBSD's versioned names answer differently from an exact match.
    matching: search::Matching,
    lenient: bool,
}

/// Answers by search list (its one copy's address), then by name.
type Answers = FxHashMap<usize, FxHashMap<String, Option<Arc<walk::Answer>>>>;

/// The search lists made, one copy of each, kept for the resolver's life
/// (so that an address names one list).
#[derive(Default)]
struct Lists {
    by_content: FxHashSet<search::SearchList>,
    addresses: FxHashSet<usize>,
}

/// Where a search list's directories are: its identity once canonical.
pub(super) fn address(list: &search::SearchList) -> usize {
    Arc::as_ptr(list).cast::<search::SearchDir>() as usize
}

/// One file of a closure or a walk, borrowed for merging.
#[derive(Clone, Copy)]
struct FileView<'a> {
    path: &'a Path,
    source: &'a Path,
    role: &'a Role,
    found: &'a str,
    moved_from: Option<&'a Path>,
    /// Shared, not copied: [`versions::ByLibrary`] holds them as they are.
    versions: &'a Arc<[versions::VersionNeed]>,
}

impl<'a> FileView<'a> {
    fn of(file: &'a ClosureFile) -> Self {
        FileView {
            path: &file.path,
            source: &file.source,
            role: &file.role,
            found: &file.found,
            moved_from: file.moved_from.as_deref(),
            versions: file.versions.needs(),
        }
    }

    fn placed(placed: &'a walk::Placed) -> Self {
        FileView {
            path: &placed.path,
            source: &placed.source,
            role: &placed.role,
            found: &placed.found,
            moved_from: placed.moved_from.as_deref(),
            versions: &placed.object.version_needs,
        }
    }
}

/// Files and links of several walks or closures, merged by path: the
/// first to bring a path describes it, the others add who needs it; two
/// sources for one path, or two targets for one link, are a conflict.
/// It borrows what it merges and copies only the result. Every path is
/// numbered once (hashed as its bytes: hashing a `Path` walks its
/// components); past that, files and who needs them are numbers.
#[derive(Default)]
struct Merger<'a> {
    /// Each path met, by number, and the number of each.
    paths: Vec<&'a Path>,
    numbers: FxHashMap<&'a OsStr, u32>,
    /// The file at each path number, once one is merged there.
    files: Vec<Option<MergedFile<'a>>>,
    /// Who needs what, as (file, asker) numbers: libc is needed by every
    /// executable, and a scan of its list would make merging quadratic.
    needs: FxHashSet<(u32, u32)>,
    /// The path number of each walk file merged: walks share most of their
    /// files, and a file met again is known by its address alone.
    placed: FxHashMap<*const walk::Placed, u32>,
    /// The walk tails merged, by address: most walks share one with walks
    /// merged before them (see [`walk::TailKey`]).
    tails: FxHashSet<*const walk::Tail>,
    links: FxHashMap<&'a OsStr, &'a Link>,
}

struct MergedFile<'a> {
    file: FileView<'a>,
    needed_by: Vec<u32>,
}

impl<'a> Merger<'a> {
    /// The number of `path`, given on first sight.
    fn number(&mut self, path: &'a Path) -> u32 {
        let next = self.paths.len() as u32;
        let number = *self.numbers.entry(path.as_os_str()).or_insert(next);
        if number == next {
            self.paths.push(path);
            self.files.push(None);
        }
        number
    }

    /// Merges `file`, who asks for it aside; its path's number.
    fn place(&mut self, file: FileView<'a>) -> Result<u32> {
        let number = self.number(file.path);
        match &self.files[number as usize] {
            None => {
                self.files[number as usize] = Some(MergedFile {
                    file,
                    needed_by: Vec::new(),
                })
            }
            Some(merged) if merged.file.source == file.source => {}
            Some(merged) => {
                return Err(Error::Conflict {
                    path: file.path.display().to_string(),
                    first: merged.file.source.display().to_string(),
                    second: file.source.display().to_string(),
                });
            }
        }
        Ok(number)
    }

    /// Notes that the file numbered `file` is needed by the one numbered `by`.
    fn need(&mut self, file: u32, by: u32) {
        if self.needs.insert((file, by)) {
            let merged = self.files[file as usize].as_mut();
            merged.expect("placed before").needed_by.push(by);
        }
    }

    /// A closure's file and who needs it.
    fn file(
        &mut self,
        file: FileView<'a>,
        needed_by: impl Iterator<Item = &'a Path>,
    ) -> Result<()> {
        let number = self.place(file)?;
        for who in needed_by {
            let by = self.number(who);
            self.need(number, by);
        }
        Ok(())
    }

    /// A walk's files, then who needs them (a walk's askers may come after
    /// what they ask for), then the links passed to reach them.
    fn walk(&mut self, walk: &'a walk::Walked) -> Result<()> {
        if self.tails.contains(&Arc::as_ptr(&walk.tail)) {
            return self.walk_on_known_tail(walk);
        }
        self.tails.insert(Arc::as_ptr(&walk.tail));
        let mut numbers = Vec::with_capacity(walk.tail.files.len() + 1);
        let mut first_seen = Vec::new();
        for placed in walk.files() {
            let address = Arc::as_ptr(placed);
            let number = match self.placed.get(&address) {
                Some(&number) => number,
                None => {
                    let number = self.place(FileView::placed(placed))?;
                    self.placed.insert(address, number);
                    first_seen.push(placed);
                    number
                }
            };
            numbers.push(number);
        }
        for &(file, asker) in &walk.tail.needs {
            self.need(numbers[file], numbers[asker]);
        }
        // A file met before brought its links then.
        for placed in first_seen {
            for link in &placed.links {
                self.link(link)?;
            }
        }
        Ok(())
    }

    /// A walk whose tail is merged already: only its executable is new,
    /// and who asks for what among the tail's files is known. (The same
    /// as merging every file again, which would find each one there.)
    fn walk_on_known_tail(&mut self, walk: &'a walk::Walked) -> Result<()> {
        let executable = self.place(FileView::placed(&walk.executable))?;
        for link in &walk.executable.links {
            self.link(link)?;
        }
        let number = |merger: &Self, index: usize| match index {
            0 => executable,
            _ => merger.placed[&Arc::as_ptr(&walk.tail.files[index - 1])],
        };
        for &(file, asker) in &walk.tail.needs {
            if file == 0 || asker == 0 {
                let (file, asker) = (number(self, file), number(self, asker));
                self.need(file, asker);
            }
        }
        Ok(())
    }

    fn link(&mut self, link: &'a Link) -> Result<()> {
        match self.links.entry(link.path.as_os_str()) {
            Entry::Occupied(old) if old.get().target != link.target => Err(Error::Conflict {
                path: link.path.display().to_string(),
                first: format!("a link to {}", old.get().target.display()),
                second: format!("a link to {}", link.target.display()),
            }),
            Entry::Occupied(_) => Ok(()),
            Entry::Vacant(entry) => {
                entry.insert(link);
                Ok(())
            }
        }
    }

    /// The merged files and links, each sorted by path.
    fn finish(self) -> (Vec<ClosureFile>, Vec<Link>) {
        let paths = &self.paths;
        let mut files: Vec<ClosureFile> = (self.files.into_iter().flatten())
            .map(|merged| {
                let file = merged.file;
                let needed_by = merged.needed_by.iter();
                ClosureFile {
                    path: file.path.to_path_buf(),
                    source: file.source.to_path_buf(),
                    role: file.role.clone(),
                    needed_by: needed_by
                        .map(|&n| paths[n as usize].to_path_buf())
                        .collect(),
                    found: file.found.to_string(),
                    moved_from: file.moved_from.map(Path::to_path_buf),
                    versions: versions::ByLibrary::new(file.versions),
                }
            })
            .collect();
        // Each path once: an unstable sort gives the one order.
        files.sort_unstable_by(|a, b| root::path_order(&a.path, &b.path));
        let mut links: Vec<Link> = self.links.into_values().cloned().collect();
        links.sort_unstable_by(|a, b| root::path_order(&a.path, &b.path));
        (files, links)
    }
}

#[cfg(test)]
mod tests;
