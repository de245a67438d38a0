//! Directory sources: a `files` entry naming a directory copies its tree
//! (a module or plugin directory, a web root). Regular files are copied
//! with their modes (less group and world write, or `mode`), directories
//! get `dir-mode` or theirs, symlinks that stay inside the tree stay links;
//! one leading out is followed only to a regular file of the root, never
//! on the build host for a sysroot. `exclude` globs leave things out, and
//! every file passes the hardening rules as a single `files` line would.
//! ELF objects inside are resolved by the pipeline, each with a closure of
//! its own ([`elf_objects`]); one whose closure is incomplete is left out
//! with a warning (a plugin for a language the host does not have).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::files::{Located, dest_of, locate};
use super::jail::Jail;
use super::paths::kernel_or_device_dir;
use super::{EntryKind, Owner, glob, hardening};
use crate::closure::root::FsRoot;
use crate::closure::{Executable, LeftOut};
use crate::error::{Error, Result};
use crate::settings::{FileSetting, Settings};

/// A tree's entries and files beyond this many are refused: a source of
/// that size is a mistake (`/usr`), not a plugin directory.
const MAX_ENTRIES: usize = 100_000;

/// One directory source, as the plan step sees it.
pub(super) struct Tree<'a> {
    pub field: &'a str,
    pub setting: &'a FileSetting,
    /// Inside the jail.
    pub dest: &'a Path,
    pub source: &'a Located,
    pub root: &'a FsRoot,
    pub owner: Option<Owner>,
    pub left_out: &'a [LeftOut],
}

/// What a tree holds, relative to its top.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Dir {
        rel: PathBuf,
        mode: u32,
    },
    File {
        rel: PathBuf,
        host: PathBuf,
        declared: PathBuf,
        mode: u32,
    },
    Link {
        rel: PathBuf,
        target: PathBuf,
    },
}

/// Adds the tree to the jail; returns the warnings (what it left out).
pub(super) fn add(jail: &mut Jail, tree: &Tree) -> Result<Vec<String>> {
    let (items, mut warnings) = scan(tree.field, tree.setting, tree.source, tree.root)?;
    let field = tree.field;
    jail.add(
        tree.dest,
        EntryKind::Directory,
        dir_mode(tree.setting, tree.source.host.as_path())?,
        None,
        field,
    )?;
    for item in items {
        match item {
            Item::Dir { rel, mode } => {
                jail.add(
                    &tree.dest.join(rel),
                    EntryKind::Directory,
                    mode,
                    None,
                    field,
                )?;
            }
            Item::Link { rel, target } => {
                jail.add(
                    &tree.dest.join(rel),
                    EntryKind::Symlink { target },
                    0o777,
                    None,
                    field,
                )?;
            }
            Item::File {
                rel,
                host,
                declared,
                mode,
            } => {
                let dest = tree.dest.join(&rel);
                if let Some(out) = tree.left_out.iter().find(|o| o.path == dest) {
                    warnings.push(format!(
                        "{field}: left {} out of the jail: {}",
                        dest.display(),
                        out.reason
                    ));
                    continue;
                }
                // A library of the tree some closure already placed.
                let placed = jail.entries().get(&dest).is_some_and(
                    |e| matches!(&e.kind, EntryKind::File { source } if *source == host),
                );
                if placed {
                    continue;
                }
                hardening::check_file_mode(field, &dest, mode)?;
                hardening::check_source(
                    &hardening::Source {
                        setting: field,
                        declared: &declared.to_string_lossy(),
                        real: &host,
                        dest: &dest,
                        allow_secret: tree.setting.allow_secret,
                        allow_setid: tree.setting.allow_setid,
                    },
                    true,
                )?;
                let kind = EntryKind::File { source: host };
                jail.add(&dest, kind, mode, tree.owner.clone(), field)?;
            }
        }
    }
    Ok(warnings)
}

/// The ELF objects of every directory source, each at its place in the
/// jail, for the pipeline to resolve one by one.
pub fn elf_objects(settings: &Settings, manifest: &Path, root: &FsRoot) -> Result<Vec<Executable>> {
    let package_dir = manifest.parent().unwrap_or(Path::new("."));
    let mut objects = Vec::new();
    for (index, file) in settings.files.iter().enumerate() {
        let field = format!("files[{index}]");
        let source = locate(&file.source, package_dir, root, &format!("{field}.source"))?;
        if !source.is_dir {
            continue;
        }
        let dest = dest_of(&field, file)?;
        let (items, _) = scan(&field, file, &source, root)?;
        for item in items {
            if let Item::File { rel, host, .. } = item {
                if is_elf(&host)? {
                    objects.push(Executable {
                        source: host,
                        jail_path: dest.join(rel),
                    });
                }
            }
        }
    }
    Ok(objects)
}

fn is_elf(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(file.read_exact(&mut magic).is_ok() && magic == *b"\x7fELF")
}

fn dir_mode(setting: &FileSetting, host: &Path) -> Result<u32> {
    if let Some(mode) = setting.dir_mode {
        return Ok(mode);
    }
    let metadata = std::fs::symlink_metadata(host).map_err(|source| Error::Read {
        path: host.to_path_buf(),
        source,
    })?;
    Ok(std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o755)
}

/// Lists the tree, sorted, without following a link to a directory; the
/// warnings name what it passes over.
fn scan(
    field: &str,
    setting: &FileSetting,
    source: &Located,
    root: &FsRoot,
) -> Result<(Vec<Item>, Vec<String>)> {
    use std::os::unix::fs::PermissionsExt;
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Read { path, source }
    };
    let mut items = Vec::new();
    let mut warnings = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        let host_dir = source.host.join(&dir);
        let mut names: Vec<_> = std::fs::read_dir(&host_dir)
            .map_err(read_error(&host_dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .map_err(read_error(&host_dir))?;
        names.sort();
        for name in names {
            let rel = dir.join(&name);
            if setting.exclude.iter().any(|g| glob::matches(g, &rel)) {
                continue;
            }
            if items.len() >= MAX_ENTRIES {
                return Err(Error::UnsafePath {
                    field: format!("{field}.source"),
                    path: setting.source.clone(),
                    reason: format!(
                        "more than {MAX_ENTRIES} entries: name the directory the daemon reads, or leave parts out with `exclude`"
                    ),
                });
            }
            let host = source.host.join(&rel);
            let declared = Path::new(&setting.source).join(&rel);
            let metadata = std::fs::symlink_metadata(&host).map_err(read_error(&host))?;
            let host_mode = metadata.permissions().mode();
            if metadata.is_dir() {
                let mode = setting.dir_mode.unwrap_or(host_mode & 0o755);
                items.push(Item::Dir {
                    rel: rel.clone(),
                    mode,
                });
                pending.push(rel);
            } else if metadata.is_file() {
                let mode = setting.mode.unwrap_or(host_mode & 0o755);
                items.push(Item::File {
                    rel,
                    host,
                    declared,
                    mode,
                });
            } else if metadata.file_type().is_symlink() {
                let target = std::fs::read_link(&host).map_err(read_error(&host))?;
                if stays_inside(&rel, &target) {
                    items.push(Item::Link { rel, target });
                } else if let Some(real) = followed(source, &rel, root)? {
                    let real_mode = std::fs::metadata(&real).map_err(read_error(&real))?;
                    let mode = setting
                        .mode
                        .unwrap_or(real_mode.permissions().mode() & 0o755);
                    items.push(Item::File {
                        rel,
                        host: real,
                        declared,
                        mode,
                    });
                } else {
                    warnings.push(format!(
                        "{field}: left {} out: a link to {}, outside the directory, that does not lead to a regular file of the root",
                        declared.display(),
                        target.display()
                    ));
                }
            } else {
                warnings.push(format!(
                    "{field}: left {} out: neither a file, a directory nor a link (a FIFO, socket or device is never copied)",
                    declared.display()
                ));
            }
        }
    }
    items.sort_by(|a, b| item_path(a).cmp(item_path(b)));
    Ok((items, warnings))
}

fn item_path(item: &Item) -> &Path {
    match item {
        Item::Dir { rel, .. } | Item::File { rel, .. } | Item::Link { rel, .. } => rel,
    }
}

/// Whether a link at `rel` (inside the tree) pointing at `target` stays in
/// the tree when read from its own directory.
fn stays_inside(rel: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut level = rel.components().count() as isize - 1;
    for component in target.components() {
        match component {
            Component::ParentDir => level -= 1,
            Component::Normal(_) => level += 1,
            _ => {}
        }
        if level < 0 {
            return false;
        }
    }
    true
}

/// The regular file a link leading out of the tree reaches: through the
/// root for an absolute source (a sysroot's links stay in the sysroot),
/// on the build host for one in the package's directory. Never a file the
/// kernel makes up, a device, or a directory.
fn followed(source: &Located, rel: &Path, root: &FsRoot) -> Result<Option<PathBuf>> {
    let real = match &source.in_root {
        Some(in_root) => match root.resolve(&in_root.join(rel))? {
            None => return Ok(None),
            Some(resolved) => {
                if kernel_or_device_dir(&resolved.path).is_some() {
                    return Ok(None);
                }
                root.host_path(&resolved.path)
            }
        },
        None => match std::fs::canonicalize(source.host.join(rel)) {
            Err(_) => return Ok(None),
            Ok(real) => real,
        },
    };
    if kernel_or_device_dir(&real).is_some() {
        return Ok(None);
    }
    Ok(std::fs::symlink_metadata(&real)
        .is_ok_and(|m| m.is_file())
        .then_some(real))
}

#[cfg(test)]
mod tests;
