//! Stage 3, plan: the closure plus the settings become one sorted list of
//! jail entries. All policy lives here (defaults, path safety, modes,
//! owners, device nodes, runtime [`presets`], [`hardening`] rules); nothing
//! is copied yet.

pub mod devices;
pub mod hardening;
mod index;
pub mod paths;
pub mod presets;

pub use self::index::{INDEX_PATH, manifest};

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use self::devices::Device;
use self::paths::{archive_path, checked_absolute, checked_account, checked_name};
use crate::build::Built;
use crate::closure::Closure;
use crate::closure::root::FsRoot;
use crate::closure::target::{Os, Target};
use crate::emit::service::ServiceKind;
use crate::error::{Error, Result};
use crate::settings::{Settings, source_path};

/// Everything emit needs, decided.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub version: String,
    pub description: String,
    /// The Rust target triple the artifacts are named after.
    pub triple: String,
    pub target: Target,
    /// Where the jail lives on the target, e.g. `/var/jail/daytimed`.
    pub jail_root: PathBuf,
    /// The daemon inside the jail.
    pub exec: PathBuf,
    pub args: Vec<String>,
    pub user: String,
    pub group: String,
    pub foreground: bool,
    pub writable: Vec<Writable>,
    /// FreeBSD: the jail wants devfs (it ships no nodes).
    pub needs_devices: bool,
    pub services: Vec<ServiceKind>,
    /// A project's own service templates (`templates.<flavour>`), read by emit.
    pub templates: Vec<CustomTemplate>,
    /// The daemon user's and group's numeric IDs, when the settings give them.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Archive entries, sorted, with paths relative to `/`.
    pub entries: Vec<Entry>,
    /// The modification time of every entry.
    pub mtime: u64,
    pub closure: Closure,
    /// The root file system the jail was made from (`--sysroot`), if not `/`.
    pub sysroot: Option<PathBuf>,
}

/// A service template of the project's own, in place of the embedded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomTemplate {
    pub kind: ServiceKind,
    /// The settings key, e.g. `templates.openbsd`, for error messages.
    pub setting: String,
    /// On the build host.
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writable {
    /// Inside the jail.
    pub path: PathBuf,
    pub owner: String,
    pub group: String,
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to `/`: `var/jail/daytimed/usr/lib/...`.
    pub path: PathBuf,
    pub kind: EntryKind,
    pub mode: u32,
    pub owner: Owner,
    /// What put it there: `closure`, a settings key such as `files[0]`, …
    pub origin: String,
    /// The SHA-256 of a file's contents (hex), filled in once the plan is
    /// complete; `None` for everything but files.
    pub sha256: Option<String>,
    /// A file's size in bytes, filled in with its SHA-256; 0 otherwise.
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    File {
        source: PathBuf,
    },
    /// A file whose contents the plan makes (the `passwd` preset's files,
    /// the jail's own file list).
    Generated {
        contents: Vec<u8>,
    },
    Symlink {
        target: PathBuf,
    },
    CharDevice {
        major: u32,
        minor: u32,
    },
}

/// Who owns an entry, by name: tar on OpenBSD restores owners by name only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub user: String,
    pub group: String,
    /// Numeric IDs for extractors that use them; 0 for the daemon's user,
    /// whose ID the build cannot know (an unknown name thus fails closed).
    pub uid: u64,
    pub gid: u64,
}

impl Owner {
    /// root, with group 0's name on that OS (`wheel` on the BSDs).
    pub fn root(os: Os) -> Owner {
        let group = match os {
            Os::Linux => "root",
            Os::OpenBsd | Os::FreeBsd => "wheel",
        };
        Owner {
            user: "root".into(),
            group: group.into(),
            uid: 0,
            gid: 0,
        }
    }

    fn named(user: &str, group: &str) -> Owner {
        Owner {
            user: user.into(),
            group: group.into(),
            uid: 0,
            gid: 0,
        }
    }
}

/// Default modification time when SOURCE_DATE_EPOCH is unset.
pub const DEFAULT_MTIME: u64 = 0;

/// Makes the plan for one jail.
pub fn plan(built: &Built, closure: &Closure, sysroot: Option<&Path>, mtime: u64) -> Result<Plan> {
    let settings = &built.settings;
    let manifest = &built.package.manifest_path;
    let os = closure.target.os;
    let name = checked_name(
        &manifest.display().to_string(),
        &settings.jail_name(&built.bin),
    )?;
    let jail_root = checked_absolute(
        "root",
        &settings.root.clone().unwrap_or(format!("/var/jail/{name}")),
    )?;
    if jail_root == Path::new("/") {
        return Err(Error::UnsafePath {
            field: "root".into(),
            path: "/".into(),
            reason: "the jail root cannot be / itself".into(),
        });
    }
    let exec = checked_absolute("exec", &settings.exec_path(&built.bin))?;
    let default_user = match os {
        Os::OpenBsd => format!("_{name}"),
        Os::Linux | Os::FreeBsd => name.clone(),
    };
    let user = checked_account("user", settings.user.as_deref().unwrap_or(&default_user))?;
    let group = checked_account("group", settings.group.as_deref().unwrap_or(&user))?;
    hardening::check_user(&user)?;

    let mut jail = Jail::new(&jail_root, os);
    for file in &closure.files {
        hardening::check_source(
            &hardening::Source {
                setting: "the closure",
                declared: &file.source.to_string_lossy(),
                real: &file.source,
                dest: &file.path,
                allow_secret: false,
                allow_setid: false,
            },
            false,
        )?;
        let mode = if is_executable(&file.source)? {
            0o755
        } else {
            0o644
        };
        jail.add(
            &file.path,
            EntryKind::File {
                source: file.source.clone(),
            },
            mode,
            None,
            "the closure",
        )?;
    }
    for link in &closure.links {
        jail.add(
            &link.path,
            EntryKind::Symlink {
                target: link.target.clone(),
            },
            0o777,
            None,
            "the closure",
        )?;
    }
    let package_dir = manifest.parent().unwrap_or(Path::new("."));
    for (index, file) in settings.files.iter().enumerate() {
        let field = format!("files[{index}]");
        let dest = checked_absolute(
            &format!("{field}.dest"),
            file.dest.as_deref().unwrap_or(&file.source),
        )?;
        let source = source_path(&file.source, package_dir, sysroot);
        let source = regular_file(&source, &format!("{field}.source"))?;
        // Executables belong in `executables`, which jails their closures too.
        let mode = file.mode.unwrap_or(0o644);
        hardening::check_file_mode(&field, &dest, mode)?;
        hardening::check_source(
            &hardening::Source {
                setting: &field,
                declared: &file.source,
                real: &source,
                dest: &dest,
                allow_secret: file.allow_secret,
                allow_setid: file.allow_setid,
            },
            true,
        )?;
        jail.add(&dest, EntryKind::File { source }, mode, None, &field)?;
    }
    if let Some(zone) = &settings.timezone {
        localtime(&mut jail, zone, sysroot, "timezone")?;
    }
    let mut needs_devices = false;
    for name in &settings.devices {
        if !devices::NAMES.contains(&name.as_str()) {
            return Err(Error::Settings {
                manifest: manifest.clone(),
                message: format!(
                    "devices: {name:?} is not one of the allowed nodes {:?}",
                    devices::NAMES
                ),
            });
        }
        needs_devices = true;
        let path = Path::new("/dev").join(name);
        match devices::device(os, name) {
            Some(Device::Char { major, minor, mode }) => jail.add(
                &path,
                EntryKind::CharDevice { major, minor },
                mode,
                None,
                "devices",
            )?,
            Some(Device::LinkTo(target)) => jail.add(
                &path,
                EntryKind::Symlink {
                    target: target.into(),
                },
                0o777,
                None,
                "devices",
            )?,
            // FreeBSD: devfs is mounted by the rc.d script instead.
            None => {}
        }
    }
    let mut writable = Vec::new();
    for (index, dir) in settings.writable.iter().enumerate() {
        let field = format!("writable[{index}]");
        let path = checked_absolute(&format!("{field}.path"), &dir.path)?;
        let owner = checked_account(
            &format!("{field}.owner"),
            dir.owner.as_deref().unwrap_or(&user),
        )?;
        let dir_group = checked_account(
            &format!("{field}.group"),
            dir.group.as_deref().unwrap_or(&group),
        )?;
        let mode = dir.mode.unwrap_or(0o750);
        hardening::check_writable_mode(&field, &path, mode)?;
        jail.add(
            &path,
            EntryKind::Directory,
            mode,
            Some(Owner::named(&owner, &dir_group)),
            &field,
        )?;
        writable.push(Writable {
            path,
            owner,
            group: dir_group,
            mode,
        });
    }
    let services = service_kinds(settings, os, manifest)?;
    let templates = custom_templates(settings, package_dir, manifest)?;
    let (uid, gid) = account_ids(settings, &user, &group, manifest)?;
    presets::add(
        &mut jail,
        &presets::Context {
            settings,
            manifest,
            target: &closure.target,
            sysroot,
            user: &user,
            group: &group,
            uid,
            gid,
        },
    )?;
    hardening::check_tree(&jail.entries, &user, &group)?;
    let mut plan = Plan {
        version: built.package.version.clone(),
        description: built
            .package
            .description
            .clone()
            .unwrap_or_else(|| format!("{name} in a chroot jail")),
        triple: built
            .target_triple
            .clone()
            .unwrap_or_else(|| closure.target.rust_triple()),
        target: closure.target.clone(),
        jail_root,
        exec,
        args: settings.args.clone(),
        user,
        group,
        foreground: settings.foreground.unwrap_or(true),
        writable,
        needs_devices,
        services,
        templates,
        uid,
        gid,
        entries: jail.into_entries(),
        mtime,
        closure: closure.clone(),
        sysroot: sysroot.map(Path::to_path_buf),
        name,
    };
    index::finish(&mut plan)?;
    Ok(plan)
}

/// The entries under construction, keyed by absolute in-jail path.
struct Jail {
    root: PathBuf,
    os: Os,
    entries: BTreeMap<PathBuf, Entry>,
}

impl Jail {
    fn new(root: &Path, os: Os) -> Self {
        Jail {
            root: root.to_path_buf(),
            os,
            entries: BTreeMap::new(),
        }
    }

    /// Adds `path` (absolute, inside the jail) and every directory above it
    /// up to the jail root. `origin` names the setting for conflict messages.
    fn add(
        &mut self,
        path: &Path,
        kind: EntryKind,
        mode: u32,
        owner: Option<Owner>,
        origin: &str,
    ) -> Result<()> {
        if path == Path::new("/") {
            return Err(Error::UnsafePath {
                field: origin.to_string(),
                path: "/".to_string(),
                reason: "the jail root itself is root-owned and cannot be replaced".to_string(),
            });
        }
        if let EntryKind::Symlink { target } = &kind {
            check_link(path, target)?;
        }
        let mut parent = path.parent();
        while let Some(dir) = parent.filter(|d| *d != Path::new("/")) {
            self.insert(
                dir,
                EntryKind::Directory,
                0o755,
                Owner::root(self.os),
                origin,
                true,
            )?;
            parent = dir.parent();
        }
        let owner = owner.unwrap_or_else(|| Owner::root(self.os));
        self.insert(path, kind, mode, owner, origin, false)
    }

    fn insert(
        &mut self,
        path: &Path,
        kind: EntryKind,
        mode: u32,
        owner: Owner,
        origin: &str,
        implied: bool,
    ) -> Result<()> {
        let entry = Entry {
            path: archive_path(&self.root.join(archive_path(path))),
            kind,
            mode,
            owner,
            origin: origin.to_string(),
            sha256: None,
            size: 0,
        };
        match self.entries.get(path) {
            None => {
                self.entries.insert(path.to_path_buf(), entry);
            }
            Some(old) if old.kind == EntryKind::Directory && entry.kind == EntryKind::Directory => {
                // An explicit directory (writable) wins over one implied by a file under it.
                if !implied {
                    self.entries.insert(path.to_path_buf(), entry);
                }
            }
            Some(old)
                if (&old.kind, old.mode, &old.owner) == (&entry.kind, entry.mode, &entry.owner) => {
            }
            Some(old) => {
                return Err(Error::Conflict {
                    path: path.display().to_string(),
                    first: format!("{} from {}", describe(&old.kind), old.origin),
                    second: format!("{} from {origin}", describe(&entry.kind)),
                });
            }
        }
        Ok(())
    }

    /// The jail root first, then everything sorted by path.
    fn into_entries(self) -> Vec<Entry> {
        let root = Entry {
            path: archive_path(&self.root),
            kind: EntryKind::Directory,
            mode: 0o755,
            owner: Owner::root(self.os),
            origin: "root".to_string(),
            sha256: None,
            size: 0,
        };
        std::iter::once(root)
            .chain(self.entries.into_values())
            .collect()
    }
}

/// A link must be relative and, read from its own directory, stay in the jail.
fn check_link(path: &Path, target: &Path) -> Result<()> {
    let depth = path
        .parent()
        .map_or(0, |p| p.components().count().saturating_sub(1));
    let mut level = depth as isize;
    let mut escapes = target.is_absolute();
    for component in target.components() {
        match component {
            std::path::Component::ParentDir => level -= 1,
            std::path::Component::Normal(_) => level += 1,
            _ => {}
        }
        escapes |= level < 0;
    }
    if escapes {
        return Err(Error::UnsafePath {
            field: format!("symlink {}", path.display()),
            path: target.display().to_string(),
            reason: "a jail's symlinks must be relative and stay inside the jail".into(),
        });
    }
    Ok(())
}

fn describe(kind: &EntryKind) -> String {
    match kind {
        EntryKind::Directory => "a directory".into(),
        EntryKind::File { source } => format!("a copy of {}", source.display()),
        EntryKind::Generated { .. } => "a generated file".into(),
        EntryKind::Symlink { target } => format!("a link to {}", target.display()),
        EntryKind::CharDevice { major, minor } => format!("a device {major},{minor}"),
    }
}

fn is_executable(path: &Path) -> Result<bool> {
    let metadata = std::fs::metadata(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(metadata.permissions().mode() & 0o111 != 0)
}

/// Follows links on the host to the regular file a setting names.
fn regular_file(path: &Path, field: &str) -> Result<PathBuf> {
    let real = std::fs::canonicalize(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !real.is_file() {
        return Err(Error::UnsafePath {
            field: field.into(),
            path: path.display().to_string(),
            reason: "not a regular file (directories are not copied whole: list the files)".into(),
        });
    }
    Ok(real)
}

/// The jail's local time zone: `host` is the host's (or sysroot's)
/// /etc/localtime, anything else a name under /usr/share/zoneinfo. When the
/// zone's name is known, /etc/localtime is a relative link to the zone file
/// in /usr/share/zoneinfo, as on the host: `TZ=<name>` works, and so do
/// programs that read the link to learn the zone's name.
fn localtime(jail: &mut Jail, zone: &str, sysroot: Option<&Path>, origin: &str) -> Result<()> {
    let root = sysroot.map_or_else(FsRoot::host, FsRoot::new);
    let wanted = if zone == "host" {
        PathBuf::from("/etc/localtime")
    } else {
        let ok = !zone.is_empty()
            && zone
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
            && zone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
        if !ok {
            return Err(Error::UnsafePath {
                field: "timezone".into(),
                path: zone.into(),
                reason: "expected \"host\" or a zone name such as \"Europe/Paris\"".into(),
            });
        }
        Path::new(ZONEINFO).join(zone)
    };
    let missing = || Error::Read {
        path: root.host_path(&wanted),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such zone file (is tzdata installed?)",
        ),
    };
    let resolved = root.resolve(&wanted)?.ok_or_else(missing)?;
    let source = root.host_path(&resolved.path);
    if !source.is_file() {
        return Err(missing());
    }
    let localtime = Path::new("/etc/localtime");
    let name = resolved
        .path
        .strip_prefix(ZONEINFO)
        .ok()
        .filter(|n| !n.as_os_str().is_empty());
    let Some(name) = name else {
        // A zone file of its own (no name to link to): a copy.
        return jail.add(localtime, EntryKind::File { source }, 0o644, None, origin);
    };
    let zone_file = Path::new(ZONEINFO).join(name);
    jail.add(&zone_file, EntryKind::File { source }, 0o644, None, origin)?;
    let target = Path::new("..").join(zone_file.strip_prefix("/").unwrap_or(&zone_file));
    jail.add(
        localtime,
        EntryKind::Symlink { target },
        0o777,
        None,
        origin,
    )
}

const ZONEINFO: &str = "/usr/share/zoneinfo";

fn service_kinds(settings: &Settings, os: Os, manifest: &Path) -> Result<Vec<ServiceKind>> {
    if settings.services.is_empty() {
        return Ok(vec![match os {
            Os::OpenBsd => ServiceKind::OpenBsd,
            Os::FreeBsd => ServiceKind::FreeBsd,
            Os::Linux => ServiceKind::Systemd,
        }]);
    }
    let mut kinds = Vec::new();
    for name in &settings.services {
        let kind = ServiceKind::parse(name).ok_or_else(|| Error::Settings {
            manifest: manifest.to_path_buf(),
            message: format!(
                "services: unknown service flavour {name:?}; use openbsd, freebsd or systemd"
            ),
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// The `templates` settings, each checked to be a readable file now, so a
/// wrong path fails before anything is built, naming the key and the path.
fn custom_templates(
    settings: &Settings,
    package_dir: &Path,
    manifest: &Path,
) -> Result<Vec<CustomTemplate>> {
    let given = [
        (ServiceKind::OpenBsd, &settings.templates.openbsd),
        (ServiceKind::FreeBsd, &settings.templates.freebsd),
        (ServiceKind::Systemd, &settings.templates.systemd),
    ];
    let mut templates = Vec::new();
    for (kind, value) in given {
        let Some(value) = value else { continue };
        let setting = format!("templates.{kind}");
        let path = package_dir.join(value);
        let readable = std::fs::File::open(&path).and_then(|file| {
            if file.metadata()?.is_file() {
                Ok(())
            } else {
                Err(std::io::Error::other("not a regular file"))
            }
        });
        if let Err(e) = readable {
            return Err(Error::Settings {
                manifest: manifest.to_path_buf(),
                message: format!(
                    "{setting}: cannot read the template {} ({e}); the path is relative to the package directory {}",
                    path.display(),
                    package_dir.display()
                ),
            });
        }
        templates.push(CustomTemplate {
            kind,
            setting,
            path,
        });
    }
    Ok(templates)
}

/// `uid` and `gid`: never 0 (root, wheel); `gid` defaults to `uid` when the
/// group is named after the user (the ports convention for daemon users).
fn account_ids(
    settings: &Settings,
    user: &str,
    group: &str,
    manifest: &Path,
) -> Result<(Option<u32>, Option<u32>)> {
    for (key, id) in [("uid", settings.uid), ("gid", settings.gid)] {
        if id == Some(0) {
            return Err(Error::Settings {
                manifest: manifest.to_path_buf(),
                message: format!(
                    "{key} = 0 is root's: give the daemon an ID of its own (OpenBSD ports register theirs in /usr/ports/infrastructure/db/user.list)"
                ),
            });
        }
    }
    let gid = settings.gid.or(settings.uid.filter(|_| group == user));
    Ok((settings.uid, gid))
}
