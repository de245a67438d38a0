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

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

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
        let before: Vec<ClosureFile> = self.files.clone();
        let mut files: HashMap<PathBuf, Merged> = self
            .files
            .drain(..)
            .map(|f| {
                let seen = f.needed_by.iter().cloned().collect();
                (f.path.clone(), (f, seen))
            })
            .collect();
        let links_before = self.links.clone();
        let mut links: HashMap<PathBuf, Link> =
            self.links.drain(..).map(|l| (l.path.clone(), l)).collect();
        let merged = other
            .files
            .into_iter()
            .filter(|f| f.path != object)
            .try_for_each(|f| merge_file(&mut files, f))
            .and_then(|()| {
                other
                    .links
                    .into_iter()
                    .try_for_each(|l| merge_link(&mut links, l))
            });
        if let Err(error) = merged {
            self.files = before;
            self.links = links_before;
            return Err(left_out_reason(&error));
        }
        self.files = sorted_files(files);
        self.links = sorted_links(links);
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
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, Vec<String>>,
}

/// Resolves the closure of `executables` (see [`Resolver`]).
pub fn resolve(executables: &[Executable], options: &Options) -> Result<Closure> {
    Resolver::new(options.clone()).resolve(executables)
}

/// Resolves closures, remembering every ELF file it has parsed, so that
/// many executables resolved against one root read each library once.
pub struct Resolver {
    root: FsRoot,
    options: Options,
    parsed: RefCell<HashMap<PathBuf, Rc<ElfObject>>>,
    /// What each search directory holds under each name asked for.
    located: RefCell<HashMap<LookIn, Option<Rc<walk::Found>>>>,
    /// Each target's search rules (its loader's configuration read once).
    rules: RefCell<Vec<(Target, Rc<dyn search::SearchRules>)>>,
}

impl Resolver {
    pub fn new(options: Options) -> Self {
        Resolver {
            root: options.root.clone(),
            options,
            parsed: RefCell::new(HashMap::new()),
            located: RefCell::new(HashMap::new()),
            rules: RefCell::new(Vec::new()),
        }
    }

    /// The search rules of `target`'s loader, made once per resolver.
    fn rules(&self, target: &Target) -> Result<Rc<dyn search::SearchRules>> {
        if let Some((_, rules)) = self.rules.borrow().iter().find(|(t, _)| t == target) {
            return Ok(Rc::clone(rules));
        }
        let root = &self.root;
        let path = &self.options.ld_library_path;
        let rules: Rc<dyn search::SearchRules> = match target.loader {
            target::Loader::Glibc => Rc::new(glibc::GlibcRules::new(root, target, path)?),
            target::Loader::Musl => Rc::new(musl::MuslRules::new(root, target, path)?),
            target::Loader::OpenBsd => Rc::new(openbsd::OpenBsdRules::new(path)),
            target::Loader::FreeBsd => Rc::new(freebsd::FreeBsdRules::new(root, path)?),
        };
        self.rules
            .borrow_mut()
            .push((target.clone(), Rc::clone(&rules)));
        Ok(rules)
    }

    /// Each executable gets a walk of its own (already-loaded libraries
    /// are per process); the results merge into one closure. All must be
    /// for one target.
    pub fn resolve(&self, executables: &[Executable]) -> Result<Closure> {
        let mut target: Option<Target> = None;
        // Hashed while merging, sorted once at the end: many executables
        // bring the same libraries, so most merges find the file there.
        let mut files: HashMap<PathBuf, Merged> = HashMap::new();
        let mut links: HashMap<PathBuf, Link> = HashMap::new();
        for (index, executable) in executables.iter().enumerate() {
            let object = self.parse(&executable.source)?;
            let this_target = Target::detect(&executable.source, &object)?;
            if let Some(first) = &target {
                if *first != this_target {
                    return Err(Error::Elf {
                        path: executable.source.clone(),
                        reason: format!(
                            "built for {} {} while {} is for {} {}; one jail holds one target",
                            this_target.os,
                            object.describe(),
                            executables[0].source.display(),
                            first.os,
                            self.parse(&executables[0].source)?.describe()
                        ),
                    });
                }
            } else {
                target = Some(this_target.clone());
            }
            // dlopen() lists belong to the daemon, the first executable.
            let (dlopen, optional): (&[String], &[String]) = if index == 0 {
                (&self.options.dlopen, &self.options.optional_dlopen)
            } else {
                (&[], &[])
            };
            let walk = walk::Walk::run(self, &this_target, executable, object, dlopen, optional)?;
            for file in walk.files {
                merge_file(&mut files, file)?;
            }
            for link in walk.links {
                merge_link(&mut links, link)?;
            }
        }
        let Some(target) = target else {
            return Err(Error::Selection {
                message: "no executable to jail".to_string(),
            });
        };
        let mut files = sorted_files(files);
        // Each file's version needs, once per file rather than per walk.
        for file in &mut files {
            file.versions = self
                .parse(&file.source)?
                .version_needs
                .iter()
                .map(|need| {
                    let names = need.versions.iter().map(|v| v.name.clone()).collect();
                    (need.library.clone(), names)
                })
                .collect();
        }
        Ok(Closure {
            target,
            files,
            links: sorted_links(links),
            left_out: Vec::new(),
        })
    }

    /// `locate`'s answer for `name` in `dir`, found once per resolver.
    fn look_in(
        &self,
        dir: &search::SearchDir,
        name: &str,
        lenient: bool,
        locate: impl FnOnce() -> Result<Option<walk::Found>>,
    ) -> Result<Option<Rc<walk::Found>>> {
        let key = LookIn {
            jail: dir.jail.clone(),
            host: dir.host.clone(),
            name: name.to_string(),
            lenient,
        };
        if let Some(found) = self.located.borrow().get(&key) {
            return Ok(found.clone());
        }
        let found = locate()?.map(Rc::new);
        self.located.borrow_mut().insert(key, found.clone());
        Ok(found)
    }

    /// Parses `path` once per resolver.
    fn parse(&self, path: &Path) -> Result<Rc<ElfObject>> {
        if let Some(object) = self.parsed.borrow().get(path) {
            return Ok(Rc::clone(object));
        }
        let object = Rc::new(ElfObject::read(path)?);
        self.parsed
            .borrow_mut()
            .insert(path.to_path_buf(), Rc::clone(&object));
        Ok(object)
    }
}

/// A name looked for in one search directory.
#[derive(PartialEq, Eq, Hash)]
struct LookIn {
    jail: PathBuf,
    host: Option<PathBuf>,
    name: String,
    lenient: bool,
}

/// A file of the merged closure, with the set of its `needed_by` (libc is
/// needed by every executable: a list scan would make merging quadratic).
type Merged = (ClosureFile, HashSet<PathBuf>);

fn merge_file(files: &mut HashMap<PathBuf, Merged>, file: ClosureFile) -> Result<()> {
    match files.get_mut(&file.path) {
        None => {
            let seen = file.needed_by.iter().cloned().collect();
            files.insert(file.path.clone(), (file, seen));
        }
        Some((old, seen)) if old.source == file.source => {
            for who in file.needed_by {
                if seen.insert(who.clone()) {
                    old.needed_by.push(who);
                }
            }
        }
        Some((old, _)) => {
            return Err(Error::Conflict {
                path: file.path.display().to_string(),
                first: old.source.display().to_string(),
                second: file.source.display().to_string(),
            });
        }
    }
    Ok(())
}

fn sorted_files(files: HashMap<PathBuf, Merged>) -> Vec<ClosureFile> {
    let mut files: Vec<ClosureFile> = files.into_values().map(|(file, _)| file).collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn sorted_links(links: HashMap<PathBuf, Link>) -> Vec<Link> {
    let mut links: Vec<Link> = links.into_values().collect();
    links.sort_by(|a, b| a.path.cmp(&b.path));
    links
}

fn merge_link(links: &mut HashMap<PathBuf, Link>, link: Link) -> Result<()> {
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
    Ok(())
}

#[cfg(test)]
mod tests;
