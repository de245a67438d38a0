//! Stage 3, plan: the closure plus the settings become one sorted list of
//! jail entries. All policy lives here (defaults, path safety, modes,
//! owners, device nodes, runtime [`presets`], the mount points a systemd
//! unit needs, [`hardening`] rules); nothing is copied yet.

mod accounts;
pub mod devices;
mod files;
mod glob;
pub mod hardening;
mod index;
mod jail;
mod mount_points;
mod pam;
pub mod paths;
pub mod presets;
mod services;
mod timezone;
pub mod tree;
mod writable;

pub use self::index::{INDEX_PATH, manifest};

use std::path::{Path, PathBuf};

use self::jail::Jail;
use crate::build::Built;
use crate::closure::Closure;
use crate::closure::root::FsRoot;
use crate::closure::target::{Os, Target};
use crate::error::Result;
use crate::provenance::{self, Provenance};
use crate::settings::ServiceKind;

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
    /// The daemon cargo built, if it did: its path on the build host and
    /// the same path relative to the workspace, as the manifest records it
    /// (no checkout's location may end up in an artifact).
    pub build_output: Option<(PathBuf, PathBuf)>,
    /// The OS package or crate behind each file, for the SBOM and the
    /// jail's file list.
    pub provenance: Provenance,
    /// What the jail goes without, for the front end to print (a plugin
    /// whose library the root lacks, a link leading out of a directory source).
    pub warnings: Vec<String>,
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

    pub(super) fn named(user: &str, group: &str) -> Owner {
        Owner {
            user: user.into(),
            group: group.into(),
            uid: 0,
            gid: 0,
        }
    }
}

/// Default modification time when SOURCE_DATE_EPOCH is unset:
/// 1980-01-01 00:00:00 UTC (zip's epoch), not 0, because programs take a
/// file dated 1970-01-01 00:00:00 for one that never changed: NSD leaves
/// such a zone file unloaded ("older than zone transfer in memory").
pub const DEFAULT_MTIME: u64 = 315_532_800;

/// Makes the plan for one jail, a step for each thing the jail gets.
pub fn plan(built: &Built, closure: &Closure, root: &FsRoot, mtime: u64) -> Result<Plan> {
    let settings = &built.settings;
    let manifest = &built.package.manifest_path;
    let os = closure.target.os;
    let who = accounts::decide(built, os)?;
    let mut jail = Jail::new(&who.jail_root, os);
    files::add_closure(&mut jail, closure)?;
    let warnings =
        files::add_settings_files(&mut jail, settings, manifest, root, &who, &closure.left_out)?;
    if let Some(zone) = &settings.timezone {
        timezone::add_localtime(&mut jail, zone, root, "timezone")?;
    }
    let needs_devices = devices::add(&mut jail, &settings.devices, os)?;
    let writable = writable::add(&mut jail, settings, &who)?;
    presets::add(
        &mut jail,
        &presets::Context {
            settings,
            manifest,
            target: &closure.target,
            root,
            user: &who.user,
            group: &who.group,
            uid: who.uid,
            gid: who.gid,
        },
    )?;
    let services = services::kinds(settings, os);
    let templates = services::custom_templates(settings, manifest)?;
    mount_points::add(
        &mut jail, os, &services, &templates, &writable, &who, manifest,
    )?;
    hardening::check_tree(jail.entries(), &who.user, &who.group)?;
    let mut plan = Plan {
        version: built.package.version.clone(),
        description: built
            .package
            .description
            .clone()
            .unwrap_or_else(|| format!("{} in a chroot jail", who.name)),
        triple: built
            .target_triple
            .clone()
            .unwrap_or_else(|| closure.target.rust_triple()),
        target: closure.target.clone(),
        exec: who.exec,
        args: settings.args.clone(),
        foreground: settings.foreground.unwrap_or(true),
        writable,
        needs_devices,
        services,
        templates,
        uid: who.uid,
        gid: who.gid,
        entries: jail.into_entries(),
        mtime,
        closure: closure.clone(),
        sysroot: root.sysroot().map(Path::to_path_buf),
        build_output: build_output(built),
        name: who.name,
        jail_root: who.jail_root,
        user: who.user,
        group: who.group,
        provenance: Provenance::default(),
        warnings,
    };
    // Reading the package databases and hashing every file are both most
    // of a plan's time, and independent: side by side.
    let files = index::manifest(&plan).files;
    let (found, hashes) = std::thread::scope(|scope| {
        let found = scope.spawn(|| provenance::find(&files, root, os, &built.crates));
        let hashes = index::hash_files(&plan.entries);
        (found.join(), hashes)
    });
    plan.provenance = found.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
    index::finish(&mut plan, hashes?)?;
    Ok(plan)
}

/// The daemon's host path and its path relative to the cargo workspace,
/// for a cargo build whose output lies in the workspace.
fn build_output(built: &Built) -> Option<(PathBuf, PathBuf)> {
    let root = std::fs::canonicalize(built.workspace_root.as_ref()?).ok()?;
    let executable = std::fs::canonicalize(&built.executable).ok()?;
    let relative = executable.strip_prefix(&root).ok()?.to_path_buf();
    Some((executable, relative))
}
