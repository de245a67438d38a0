//! `mount points`: the empty, root-owned directories systemd needs inside
//! the jail to start the unit there, so that it never has to create them.
//!
//! systemd 252 (as the systemd-pid1 test sees it when it starts the unit):
//! - `RootDirectory=` first lays its "base file system" into the new root
//!   (`root` 0750, `usr`, `var`, `etc`, `proc`, `sys`, `dev`, and `bin`,
//!   `sbin`, `lib` as links into `usr/` where that directory exists),
//!   ignoring failures; then, as `MountAPIVFS=` defaults to yes with
//!   `RootDirectory=`, mounts /proc, /sys, /dev and /run there, and a
//!   missing mount point on a read-only jail fails every start
//!   (`226/NAMESPACE`, "Failed to set up mount namespacing: …/proc: No such
//!   file or directory").
//! - `PrivateTmp=` mounts on /tmp and /var/tmp; `PrivateDevices=` on /dev.
//!
//! Shipping them all keeps a read-only jail startable and a writable one
//! unchanged (so `audit` finds nothing it does not know: they are in the
//! jail's file list like any directory). The settings are read from the
//! unit template itself (the project's own, or the embedded one), so the
//! list follows the template. (`lib64` is not added: on x86-64 the jail
//! always holds the loader's path, `/lib64/ld-linux-x86-64.so.2`.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::accounts::Who;
use super::jail::Jail;
use super::{CustomTemplate, EntryKind, Owner, Writable};
use crate::closure::target::Os;
use crate::error::{Error, Result};
use crate::settings::ServiceKind;

/// Adds the mount points the systemd unit needs, when the jail is for
/// Linux and a unit is among its services. Nothing already in the jail is
/// replaced (a writable /tmp keeps its owner and mode).
pub(super) fn add(
    jail: &mut Jail,
    os: Os,
    services: &[ServiceKind],
    templates: &[CustomTemplate],
    writable: &[Writable],
    who: &Who,
    manifest: &Path,
) -> Result<()> {
    if os != Os::Linux || !services.contains(&ServiceKind::Systemd) {
        return Ok(());
    }
    let source = match templates.iter().find(|t| t.kind == ServiceKind::Systemd) {
        Some(custom) => std::fs::read_to_string(&custom.path).map_err(|e| Error::Input {
            path: custom.path.clone(),
            message: format!(
                "{}: cannot read the unit template ({e}); check the path",
                custom.setting
            ),
        })?,
        None => crate::templates::source(ServiceKind::Systemd).to_string(),
    };
    let settings = unit_settings(&source);
    check_hidden(jail, &settings, writable, who, manifest)?;
    for (path, kind, mode, why) in needed(&settings) {
        let present = |p: &Path| jail.entries().contains_key(p);
        if present(&path) {
            continue;
        }
        if let EntryKind::Symlink { target } = &kind {
            // Only where systemd would make it: its target is a directory.
            if !present(&Path::new("/").join(target)) {
                continue;
            }
        }
        jail.add(&path, kind, mode, Some(Owner::root(os)), why)?;
    }
    Ok(())
}

/// Refuses what the unit's own mounts would hide from the daemon: a file
/// under /run (an empty tmpfs with `MountAPIVFS=`), /proc or /sys, or
/// under /dev but a device node (`PrivateDevices=` brings its own), and a
/// writable directory under /proc or /sys (its `ReadWritePaths=` would fail
/// every start). Files under /tmp and /var/tmp turn `PrivateTmp=` off
/// (see the unit). A writable directory under /run becomes the unit's
/// `RuntimeDirectory=`, which systemd makes in the host's own /run, shared
/// by every unit and removed at stop: only the unit's own name there,
/// `/run/<name>` and below, is ever the jail's (never `/run/systemd` or
/// `/run/lock`), in plain characters (systemd reads `:` and quotes in
/// that setting its own way), owned as systemd makes it (the daemon's
/// user and group) and with one mode for all.
fn check_hidden(
    jail: &Jail,
    settings: &BTreeMap<String, String>,
    writable: &[Writable],
    who: &Who,
    manifest: &Path,
) -> Result<()> {
    let refuse = |message: String| Error::Settings {
        manifest: manifest.to_path_buf(),
        message,
    };
    let off = |key: &str| settings.get(key).is_some_and(|v| is_off(v));
    let on = |key: &str| {
        settings
            .get(key)
            .is_some_and(|v| !v.is_empty() && !is_off(v))
    };
    let api_vfs = on("RootDirectory") && !off("MountAPIVFS");
    let private_devices = on("PrivateDevices");
    for (path, entry) in jail.entries() {
        let under = |dir: &str| path.starts_with(dir);
        let is_writable = writable.iter().any(|w| w.path == *path);
        // Empty directories hide nothing; device nodes under /dev are
        // the allow-list's, which the unit's private /dev also holds.
        let hidden_by = match entry.kind {
            EntryKind::Directory if !is_writable => None,
            EntryKind::Directory if api_vfs && (under("/proc") || under("/sys")) => {
                Some("its own /proc and /sys (MountAPIVFS=)")
            }
            EntryKind::Directory | EntryKind::CharDevice { .. } => None,
            _ if api_vfs && (under("/proc") || under("/sys")) => {
                Some("its own /proc and /sys (MountAPIVFS=)")
            }
            _ if api_vfs && under("/run") => Some("an empty /run (MountAPIVFS=)"),
            _ if (api_vfs || private_devices) && under("/dev") => {
                Some("its own /dev (MountAPIVFS=, PrivateDevices=)")
            }
            _ => None,
        };
        if let Some(mount) = hidden_by {
            return Err(refuse(format!(
                "{} ({}) would be hidden from the daemon: the systemd unit mounts {mount} over it; ship it elsewhere in the jail, or leave `systemd` out of `services`",
                path.display(),
                entry.origin
            )));
        }
    }
    if !api_vfs {
        return Ok(());
    }
    let own = Path::new("/run").join(&who.name);
    let runtime: Vec<&Writable> = writable
        .iter()
        .filter(|w| w.path.starts_with("/run"))
        .collect();
    for w in &runtime {
        let shown = w.path.display();
        if !w.path.starts_with(&own) {
            return Err(refuse(format!(
                "writable {shown}: under systemd a directory in /run is the unit's RuntimeDirectory=, made in the host's own /run, which every unit shares, and removed at stop; only {} and below belong to this unit: have the daemon use that (or name the jail after the directory), or leave `systemd` out of `services`",
                own.display()
            )));
        }
        let plain = |c: char| c.is_ascii_alphanumeric() || "._-/".contains(c);
        if !w.path.to_string_lossy().chars().all(plain) {
            return Err(refuse(format!(
                "writable {shown}: the systemd unit's RuntimeDirectory= takes letters, digits, `.`, `_` and `-` only (it reads `:` and quotes its own way)"
            )));
        }
        if (w.owner.as_str(), w.group.as_str()) != (who.user.as_str(), who.group.as_str()) {
            return Err(refuse(format!(
                "writable {shown} owned by {}:{}: systemd makes a RuntimeDirectory= owned by the unit's User= and Group= ({}:{}); leave its owner out",
                w.owner, w.group, who.user, who.group
            )));
        }
    }
    if let Some(other) = runtime.iter().find(|w| w.mode != runtime[0].mode) {
        return Err(refuse(format!(
            "writable {} ({:04o}) and {} ({:04o}): each becomes a RuntimeDirectory= of the systemd unit, which all get one mode; give them the same mode",
            runtime[0].path.display(),
            runtime[0].mode,
            other.path.display(),
            other.mode
        )));
    }
    Ok(())
}

/// A boolean setting's false spellings, as systemd reads them.
fn is_off(value: &str) -> bool {
    ["0", "no", "n", "false", "f", "off"].contains(&value)
}

/// What the unit's settings need: (in-jail path, kind, mode, origin).
fn needed(settings: &BTreeMap<String, String>) -> Vec<(PathBuf, EntryKind, u32, &'static str)> {
    let mut out = Vec::new();
    let dir = |path: &str, mode: u32, why| (PathBuf::from(path), EntryKind::Directory, mode, why);
    let set = |key: &str| settings.get(key).is_some_and(|v| !v.is_empty());
    // A templated value ("{{ … }}") may render either way: keep the mount point.
    let yes = |key: &str| {
        settings.get(key).is_some_and(|v| {
            v.contains("{{") || ["1", "yes", "y", "true", "t", "on"].contains(&v.as_str())
        })
    };
    let no = |key: &str| settings.get(key).is_some_and(|v| is_off(v));
    if set("RootDirectory") {
        let why = "mount points (systemd RootDirectory=)";
        out.push(dir("/root", 0o750, why));
        for path in ["/usr", "/var", "/etc", "/proc", "/sys", "/dev"] {
            out.push(dir(path, 0o755, why));
        }
        for (link, target) in [
            ("/bin", "usr/bin"),
            ("/sbin", "usr/sbin"),
            ("/lib", "usr/lib"),
        ] {
            let kind = EntryKind::Symlink {
                target: target.into(),
            };
            out.push((PathBuf::from(link), kind, 0o777, why));
        }
        if !no("MountAPIVFS") {
            out.push(dir("/run", 0o755, "mount points (systemd MountAPIVFS=)"));
        }
    }
    if yes("PrivateTmp") {
        out.push(dir("/tmp", 0o755, "mount points (systemd PrivateTmp=)"));
        out.push(dir("/var/tmp", 0o755, "mount points (systemd PrivateTmp=)"));
    }
    if yes("PrivateDevices") {
        out.push(dir("/dev", 0o755, "mount points (systemd PrivateDevices=)"));
    }
    out
}

/// The `Key=value` lines of a unit template, the last one for each key (as
/// systemd reads these settings); comments and template tags are skipped.
fn unit_settings(source: &str) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    for line in source.lines().map(str::trim) {
        if line.starts_with(['#', ';', '[']) || line.starts_with("{%") || line.starts_with("{#") {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric()) {
            settings.insert(key.to_string(), value.trim().to_ascii_lowercase());
        }
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(source: &str) -> Vec<String> {
        let mut paths: Vec<String> = needed(&unit_settings(source))
            .into_iter()
            .map(|(p, ..)| p.display().to_string())
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    #[test]
    fn the_embedded_unit_needs_the_api_file_systems_and_private_tmp() {
        let source = crate::templates::source(ServiceKind::Systemd);
        assert_eq!(
            paths(source),
            [
                "/bin", "/dev", "/etc", "/lib", "/proc", "/root", "/run", "/sbin", "/sys", "/tmp",
                "/usr", "/var", "/var/tmp"
            ]
        );
    }

    #[test]
    fn each_setting_brings_its_own() {
        assert!(paths("[Service]\nExecStart=/x\n").is_empty());
        assert_eq!(paths("PrivateTmp=yes\n"), ["/tmp", "/var/tmp"]);
        assert!(paths("PrivateTmp=no\n").is_empty());
        // The last assignment wins, as in systemd.
        assert!(paths("PrivateTmp=yes\nPrivateTmp=off\n").is_empty());
        assert_eq!(paths("PrivateDevices=true\n"), ["/dev"]);
        let no_api = paths("RootDirectory={{ jail_root }}\nMountAPIVFS=no\n");
        assert!(!no_api.contains(&"/run".to_string()), "{no_api:?}");
        assert!(no_api.contains(&"/proc".to_string()), "{no_api:?}");
        // Commented out or inside a template tag: not a setting.
        assert!(paths("# PrivateTmp=yes\n{# PrivateTmp=yes #}\n").is_empty());
    }

    fn writable(path: &str, mode: u32) -> Writable {
        Writable {
            path: path.into(),
            owner: "_d".into(),
            group: "_d".into(),
            mode,
        }
    }

    /// The embedded unit's settings over the jail `d` holding `file`.
    fn hidden(file: Option<&str>, writable: &[Writable]) -> Result<()> {
        let who = Who {
            name: "d".into(),
            jail_root: "/var/jail/d".into(),
            exec: "/usr/sbin/d".into(),
            user: "_d".into(),
            group: "_d".into(),
            uid: None,
            gid: None,
        };
        let mut jail = Jail::new(&who.jail_root, Os::Linux);
        if let Some(file) = file {
            let source = PathBuf::from("/etc/hostname");
            jail.add(
                Path::new(file),
                EntryKind::File { source },
                0o644,
                None,
                "files",
            )
            .unwrap();
        }
        for w in writable {
            jail.add(&w.path, EntryKind::Directory, w.mode, None, "writable")
                .unwrap();
        }
        let settings = unit_settings(crate::templates::source(ServiceKind::Systemd));
        check_hidden(&jail, &settings, writable, &who, Path::new("/x/Cargo.toml"))
    }

    #[test]
    fn what_the_units_own_mounts_would_hide_is_refused() {
        for file in ["/run/d/d.conf", "/proc/x", "/sys/x", "/dev/log"] {
            let err = hidden(Some(file), &[]).unwrap_err().to_string();
            assert!(err.contains(file) && err.contains("hidden"), "{err}");
        }
        // A writable directory systemd mounts over: every start would fail.
        for dir in ["/proc/x", "/sys/fs/x"] {
            let err = hidden(None, &[writable(dir, 0o750)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(dir) && err.contains("hidden"), "{err}");
        }
        // Below /tmp is allowed: the unit turns PrivateTmp= off then.
        hidden(Some("/tmp/d/seed"), &[]).unwrap();
    }

    #[test]
    fn only_the_units_own_run_directory_may_be_writable() {
        hidden(
            Some("/etc/d.conf"),
            &[writable("/run/d", 0o750), writable("/run/d/e", 0o750)],
        )
        .unwrap();
        // The host's /run is every unit's: never another's directory.
        for dir in ["/run", "/run/systemd", "/run/lock", "/run/dd", "/run/e/d"] {
            let err = hidden(None, &[writable(dir, 0o755)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("/run/d and below"), "{dir}: {err}");
        }
        let err = hidden(None, &[writable("/run/d/a:b", 0o750)]).unwrap_err();
        assert!(err.to_string().contains("letters, digits"), "{err}");
        let root_owned = Writable {
            owner: "root".into(),
            ..writable("/run/d", 0o750)
        };
        let err = hidden(None, &[root_owned]).unwrap_err();
        assert!(err.to_string().contains("User= and Group="), "{err}");
        let err = hidden(
            None,
            &[writable("/run/d", 0o750), writable("/run/d/e", 0o700)],
        )
        .unwrap_err();
        assert!(err.to_string().contains("one mode"), "{err}");
    }
}
