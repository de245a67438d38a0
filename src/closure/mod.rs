//! Stage 2, closure: every file the executables need at run time, found by
//! reading ELF files (never running them) and following the target loader's
//! own search rules against `/` or a sysroot.

pub mod elf;
mod glibc;
mod musl;
pub mod root;
mod search;
pub mod target;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::Serialize;

use self::elf::ElfObject;
use self::root::{FsRoot, Link, normalize};
use self::search::{DirKind, Requester, SearchDir, SearchRules};
use self::target::{Loader, Target};
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
    /// The target's root file system; `None` for the build host's `/`.
    pub sysroot: Option<PathBuf>,
    /// Directories the jailed program will get in LD_LIBRARY_PATH.
    pub ld_library_path: Vec<String>,
    /// Libraries the main executable dlopen()s, by name or path.
    pub dlopen: Vec<String>,
}

/// The result: the target and every file with where it came from and why.
#[derive(Debug, Clone, Serialize)]
pub struct Closure {
    pub target: Target,
    /// Sorted by in-jail path.
    pub files: Vec<ClosureFile>,
    /// Symlinks the loader passes through, sorted by path.
    pub links: Vec<Link>,
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
}

/// Resolves the closure of `executables`. Each executable gets a walk of
/// its own (already-loaded libraries are per process); the results merge.
pub fn resolve(executables: &[Executable], options: &Options) -> Result<Closure> {
    let root = match &options.sysroot {
        Some(dir) => FsRoot::new(dir),
        None => FsRoot::host(),
    };
    let mut target: Option<Target> = None;
    let mut files: BTreeMap<PathBuf, ClosureFile> = BTreeMap::new();
    let mut links: BTreeMap<PathBuf, Link> = BTreeMap::new();
    for (index, executable) in executables.iter().enumerate() {
        let object = ElfObject::read(&executable.source)?;
        let this_target = Target::detect(&executable.source, &object)?;
        match &target {
            None => target = Some(this_target.clone()),
            Some(first) if *first != this_target => {
                return Err(Error::Elf {
                    path: executable.source.clone(),
                    reason: format!(
                        "built for {} {} while {} is for {} {}; one jail holds one target",
                        this_target.os,
                        object.describe(),
                        executables[0].source.display(),
                        first.os,
                        ElfObject::read(&executables[0].source)?.describe()
                    ),
                });
            }
            Some(_) => {}
        }
        let dlopen = if index == 0 { &options.dlopen[..] } else { &[] };
        let walk = Walk::run(&root, &this_target, options, executable, object, dlopen)?;
        for file in walk.files {
            merge_file(&mut files, file)?;
        }
        for link in walk.links {
            if let Some(old) = links
                .get(&link.path)
                .filter(|old| old.target != link.target)
            {
                return Err(Error::Conflict {
                    path: link.path.display().to_string(),
                    first: format!("a link to {}", old.target.display()),
                    second: format!("a link to {}", link.target.display()),
                });
            }
            links.insert(link.path.clone(), link);
        }
    }
    let Some(target) = target else {
        return Err(Error::Selection {
            message: "no executable to jail".to_string(),
        });
    };
    Ok(Closure {
        target,
        files: files.into_values().collect(),
        links: links.into_values().collect(),
    })
}

fn merge_file(files: &mut BTreeMap<PathBuf, ClosureFile>, file: ClosureFile) -> Result<()> {
    match files.get_mut(&file.path) {
        None => {
            files.insert(file.path.clone(), file);
        }
        Some(old) if old.source == file.source => {
            for who in file.needed_by {
                if !old.needed_by.contains(&who) {
                    old.needed_by.push(who);
                }
            }
        }
        Some(old) => {
            return Err(Error::Conflict {
                path: file.path.display().to_string(),
                first: old.source.display().to_string(),
                second: file.source.display().to_string(),
            });
        }
    }
    Ok(())
}

/// One object the walk has loaded.
struct Loaded {
    object: ElfObject,
    file: ClosureFile,
    /// `$ORIGIN` inside the jail and, for objects from outside the root, on the host.
    origin: PathBuf,
    host_origin: Option<PathBuf>,
    /// The object whose request loaded this one (for RPATH inheritance).
    loader: Option<usize>,
}

/// A breadth-first walk of one executable's dependencies, as its loader
/// makes it.
struct Walk<'a> {
    root: &'a FsRoot,
    target: &'a Target,
    rules: Box<dyn SearchRules>,
    loaded: Vec<Loaded>,
    /// Names and sonames already loaded: these satisfy any later request.
    by_name: HashMap<String, usize>,
    queue: VecDeque<usize>,
    links: Vec<Link>,
    files: Vec<ClosureFile>,
}

impl<'a> Walk<'a> {
    fn run(
        root: &'a FsRoot,
        target: &'a Target,
        options: &Options,
        executable: &Executable,
        object: ElfObject,
        dlopen: &[String],
    ) -> Result<Self> {
        let rules: Box<dyn SearchRules> = match target.loader {
            Loader::Glibc => Box::new(glibc::GlibcRules::new(
                root,
                target,
                &options.ld_library_path,
            )?),
            Loader::Musl => Box::new(musl::MuslRules::new(
                root,
                target,
                &options.ld_library_path,
            )?),
            Loader::OpenBsd | Loader::FreeBsd => {
                return Err(Error::NotSupported {
                    path: executable.source.clone(),
                    what: format!("resolving the closure of a {} executable", target.os),
                });
            }
        };
        let mut walk = Walk {
            root,
            target,
            rules,
            loaded: Vec::new(),
            by_name: HashMap::new(),
            queue: VecDeque::new(),
            links: Vec::new(),
            files: Vec::new(),
        };
        let host_real =
            std::fs::canonicalize(&executable.source).map_err(|source| Error::Read {
                path: executable.source.clone(),
                source,
            })?;
        let jail_path = normalize(&executable.jail_path);
        let interpreter = object.interpreter.clone();
        walk.add(Loaded {
            origin: parent(&jail_path),
            host_origin: Some(parent(&host_real)),
            loader: None,
            file: ClosureFile {
                path: jail_path,
                source: host_real,
                role: Role::Executable,
                needed_by: Vec::new(),
                found: "given".to_string(),
                moved_from: None,
            },
            object,
        });
        if let Some(interpreter) = interpreter {
            walk.add_interpreter(&interpreter)?;
        }
        walk.drain()?;
        for name in dlopen {
            walk.request(0, name)?;
        }
        walk.drain()?;
        walk.files = walk.loaded.iter().map(|l| l.file.clone()).collect();
        Ok(walk)
    }

    fn drain(&mut self) -> Result<()> {
        while let Some(index) = self.queue.pop_front() {
            for name in self.loaded[index].object.needed.clone() {
                self.request(index, &name)?;
            }
        }
        Ok(())
    }

    /// The interpreter must exist at exactly its PT_INTERP path.
    fn add_interpreter(&mut self, path: &str) -> Result<()> {
        let jail_path = PathBuf::from(path);
        let Some(resolved) = self.root.resolve(&jail_path)? else {
            return Err(Error::LibraryNotFound {
                name: path.to_string(),
                chain: vec![self.loaded[0].file.path.clone()],
                searched: vec![self.root.host_path(&jail_path)],
            });
        };
        let source = self.root.host_path(&resolved.path);
        let object = ElfObject::read(&source)?;
        self.links.extend(resolved.links);
        let requester = self.loaded[0].file.path.clone();
        let index = self.add(Loaded {
            origin: parent(&jail_path),
            host_origin: None,
            loader: Some(0),
            file: ClosureFile {
                path: resolved.path,
                source,
                role: Role::Interpreter,
                needed_by: vec![requester],
                found: "PT_INTERP".to_string(),
                moved_from: None,
            },
            object,
        });
        self.by_name.insert(path.to_string(), index);
        Ok(())
    }

    fn add(&mut self, loaded: Loaded) -> usize {
        let index = self.loaded.len();
        if let Some(soname) = &loaded.object.soname {
            self.by_name.entry(soname.clone()).or_insert(index);
        }
        self.loaded.push(loaded);
        self.queue.push_back(index);
        index
    }

    /// Handles `requester` asking for `name`.
    fn request(&mut self, requester: usize, name: &str) -> Result<()> {
        let requester_path = self.loaded[requester].file.path.clone();
        if let Some(&index) = self.by_name.get(name) {
            let needed_by = &mut self.loaded[index].file.needed_by;
            if !needed_by.contains(&requester_path) && index != requester {
                needed_by.push(requester_path);
            }
            return Ok(());
        }
        let (dirs, found) = if name.contains('/') {
            // A name with a slash is a path, used as it is.
            let dir = SearchDir::in_root(parent(Path::new(name)), DirKind::Default);
            let found = self.look_in(&dir, file_name(name))?;
            (vec![dir], found)
        } else {
            let dirs = self.rules.search_dirs(&self.chain(requester));
            let mut found = None;
            for dir in &dirs {
                found = self.look_in(dir, name)?;
                if found.is_some() {
                    break;
                }
            }
            (dirs, found)
        };
        let Some(mut candidate) = found else {
            let mut chain: Vec<PathBuf> = Vec::new();
            let mut cursor = Some(requester);
            while let Some(i) = cursor {
                chain.push(self.loaded[i].file.path.clone());
                cursor = self.loaded[i].loader;
            }
            return Err(Error::LibraryNotFound {
                name: name.to_string(),
                chain,
                searched: dirs
                    .iter()
                    .map(|d| {
                        d.host
                            .clone()
                            .unwrap_or_else(|| self.root.host_path(&d.jail))
                    })
                    .collect(),
            });
        };
        // Two names (a symlink and its target) may reach one file.
        if let Some(index) = self
            .loaded
            .iter()
            .position(|l| l.file.path == candidate.file.path)
        {
            self.by_name.insert(name.to_string(), index);
            return self.request(requester, name);
        }
        candidate.file.needed_by.push(requester_path);
        candidate.loader = Some(requester);
        self.links.append(&mut candidate.links);
        let index = self.add(candidate.into_loaded());
        self.by_name.insert(name.to_string(), index);
        Ok(())
    }

    /// The requester, then the object that loaded it, up to the executable.
    fn chain(&self, requester: usize) -> Vec<Requester<'_>> {
        let mut chain = Vec::new();
        let mut cursor = Some(requester);
        while let Some(i) = cursor {
            let loaded = &self.loaded[i];
            chain.push(Requester {
                object: &loaded.object,
                jail_path: &loaded.file.path,
                origin: &loaded.origin,
                host_origin: loaded.host_origin.as_deref(),
            });
            cursor = loaded.loader;
        }
        chain
    }

    /// Looks for `name` in one directory; a file of the wrong class or
    /// machine, or no ELF file at all, is passed over as the loader does.
    fn look_in(&self, dir: &SearchDir, name: &str) -> Result<Option<Candidate>> {
        let requested = dir.jail.join(name);
        let (source, jail_path, links) = match &dir.host {
            Some(host_dir) => {
                let host = host_dir.join(name);
                if !host.is_file() {
                    return Ok(None);
                }
                let source = std::fs::canonicalize(&host)
                    .map_err(|source| Error::Read { path: host, source })?;
                (source, normalize(&requested), Vec::new())
            }
            None => {
                let Some(resolved) = self.root.resolve(&requested)? else {
                    return Ok(None);
                };
                (
                    self.root.host_path(&resolved.path),
                    resolved.path,
                    resolved.links,
                )
            }
        };
        if !source.is_file() {
            return Ok(None);
        }
        let object = match ElfObject::read(&source) {
            Ok(object) if self.loaded[0].object.compatible(&object) => object,
            Ok(_) | Err(Error::Elf { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut candidate = Candidate {
            file: ClosureFile {
                path: jail_path,
                source,
                role: Role::Library,
                needed_by: Vec::new(),
                found: format!("{} {}", dir.kind, dir.jail.display()),
                moved_from: None,
            },
            origin: normalize(&dir.jail),
            host_origin: dir.host.clone(),
            links,
            object,
            loader: None,
        };
        if !dir.kind.searched_in_jail() {
            self.move_to_default_dir(&mut candidate, name)?;
        }
        Ok(Some(candidate))
    }

    /// The jail has no loader cache: put the library where its loader looks.
    fn move_to_default_dir(&self, candidate: &mut Candidate, name: &str) -> Result<()> {
        for dir in self.rules.default_dirs() {
            if let Some(resolved) = self.root.resolve(dir)? {
                candidate.file.moved_from = Some(candidate.file.path.clone());
                candidate.file.path = resolved.path.join(name);
                candidate.file.found = format!(
                    "{}; moved to default directory {} (the jail has no loader cache)",
                    candidate.file.found,
                    dir.display()
                );
                candidate.links = resolved.links;
                candidate.origin = dir.clone();
                return Ok(());
            }
        }
        Err(Error::NotSupported {
            path: candidate.file.source.clone(),
            what: format!(
                "placing a library found through the loader cache when {} has none of the default directories {:?}",
                self.target.os,
                self.rules.default_dirs()
            ),
        })
    }
}

/// A library found but not yet added.
struct Candidate {
    file: ClosureFile,
    object: ElfObject,
    origin: PathBuf,
    host_origin: Option<PathBuf>,
    links: Vec<Link>,
    loader: Option<usize>,
}

impl Candidate {
    fn into_loaded(self) -> Loaded {
        Loaded {
            object: self.object,
            file: self.file,
            origin: self.origin,
            host_origin: self.host_origin,
            loader: self.loader,
        }
    }
}

fn parent(path: &Path) -> PathBuf {
    path.parent().unwrap_or(Path::new("/")).to_path_buf()
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests;
