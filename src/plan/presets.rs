//! Runtime presets: named bundles of the files a program reads at run time
//! (and that no ELF header names), so a user switches on `resolver` instead
//! of listing /etc/hosts, /etc/resolv.conf and the rest by hand. Each preset
//! is per target OS and resolves against the sysroot like everything else.
//!
//! | preset | files |
//! |---|---|
//! | `resolver` | /etc/hosts, resolv.conf, services, protocols, networks; on glibc also nsswitch.conf, host.conf, gai.conf and the NSS modules nsswitch.conf names that glibc dlopen()s; on FreeBSD nsswitch.conf and services.db |
//! | `timezone` | /etc/localtime (the `timezone` key, default `host`) and the zone's file under /usr/share/zoneinfo, for `TZ` |
//! | `certificates` | the OS's CA bundle (Debian, Fedora, SUSE, Alpine paths; OpenBSD /etc/ssl/cert.pem; FreeBSD ca-root-nss.crt and /etc/ssl/cert.pem) |
//! | `passwd` | a generated /etc/passwd and /etc/group holding only the daemon's user and group (Linux) |
//! | `pam` | /etc/pam.d/`pam-service` (or `pam-config`), the files it includes, and its modules with their closures (see [`super::pam`]) |
//!
//! Presets that need libraries (glibc's NSS modules) must be known before the
//! closure runs: [`dlopen`] gives the closure its `dlopen` lists.

use std::collections::BTreeSet;
use std::path::Path;

use super::jail::Jail;
use super::timezone::add_localtime;
use super::{EntryKind, pam};
use crate::build::Built;
use crate::closure::elf::ElfObject;
use crate::closure::root::FsRoot;
use crate::closure::target::{Loader, Os, Target};
use crate::error::{Error, Result};
use crate::settings::{Preset, Settings};

/// nsswitch.conf databases each preset looks up.
const RESOLVER_DATABASES: [&str; 4] = ["hosts", "networks", "services", "protocols"];

/// What the main executable dlopen()s, for the closure to resolve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dlopen {
    /// The settings' `libraries`: an error when the loader would not find one.
    pub required: Vec<String>,
    /// The NSS modules (`libnss_<service>.so.2`) nsswitch.conf names for the
    /// `resolver` preset's databases, on glibc: jailed when the loader would
    /// find them. Since glibc 2.34 `files` and `dns` are built into libc.so.6
    /// and their modules, where a system still ships them, are harmless stubs.
    pub optional: Vec<String>,
}

/// The front end passes these to the closure stage as `Options::dlopen`
/// and `Options::optional_dlopen`: presets that need libraries must be
/// known before the closure runs.
pub fn dlopen(built: &Built, root: &FsRoot) -> Result<Dlopen> {
    let settings = &built.settings;
    let mut required = settings.libraries.clone();
    if settings.presets.contains(&Preset::Pam) {
        let service = pam::read(settings, &built.package.manifest_path, root)?;
        required.extend(service.modules.iter().map(|m| m.display().to_string()));
    }
    Ok(Dlopen {
        required,
        optional: nss_modules(settings, &built.executable, root)?,
    })
}

/// The NSS modules the `resolver` preset may need for `executable`.
fn nss_modules(settings: &Settings, executable: &Path, root: &FsRoot) -> Result<Vec<String>> {
    if !settings.presets.contains(&Preset::Resolver) {
        return Ok(Vec::new());
    }
    let object = ElfObject::read(executable)?;
    if Target::detect(executable, &object)?.loader != Loader::Glibc {
        return Ok(Vec::new());
    }
    let services = nsswitch_services(root, &RESOLVER_DATABASES)?;
    Ok(services
        .iter()
        .map(|service| format!("libnss_{service}.so.2"))
        .collect())
}

/// The services nsswitch.conf lists for `databases`, in order, without
/// `[STATUS=action]` items. No nsswitch.conf: glibc's defaults.
pub fn nsswitch_services(root: &FsRoot, databases: &[&str]) -> Result<Vec<String>> {
    let Some(text) = read_in_root(root, Path::new("/etc/nsswitch.conf"))? else {
        return Ok(vec!["files".to_string(), "dns".to_string()]);
    };
    let text = String::from_utf8_lossy(&text);
    let mut services: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let Some((database, list)) = line.split_once(':') else {
            continue;
        };
        if !databases.contains(&database.trim()) {
            continue;
        }
        // `[NOTFOUND=return]` items may hold spaces inside the brackets.
        let mut depth = 0usize;
        let mut word = String::new();
        for c in list.chars().chain(std::iter::once(' ')) {
            match c {
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                c if c.is_whitespace() && depth == 0 => {
                    let service = std::mem::take(&mut word);
                    let valid = !service.is_empty()
                        && service
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if valid && !services.contains(&service) {
                        services.push(service);
                    }
                }
                c if depth == 0 => word.push(c),
                _ => {}
            }
        }
    }
    Ok(services)
}

/// The bytes of an in-root path, following links inside the root; `None`
/// when it does not exist or is not a regular file.
fn read_in_root(root: &FsRoot, path: &Path) -> Result<Option<Vec<u8>>> {
    let Some(resolved) = root.resolve(path)? else {
        return Ok(None);
    };
    let host = root.host_path(&resolved.path);
    if !host.is_file() {
        return Ok(None);
    }
    std::fs::read(&host)
        .map(Some)
        .map_err(|source| Error::Read { path: host, source })
}

/// Everything a preset adds needs these facts of the jail being planned.
pub(super) struct Context<'a> {
    pub settings: &'a Settings,
    pub manifest: &'a Path,
    pub target: &'a Target,
    pub root: &'a FsRoot,
    pub user: &'a str,
    pub group: &'a str,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// Adds every preset the settings switch on to the jail.
pub(super) fn add(jail: &mut Jail, cx: &Context) -> Result<()> {
    let mut seen = BTreeSet::new();
    for preset in &cx.settings.presets {
        if !seen.insert(preset) {
            continue;
        }
        let origin = format!("presets.{}", preset.as_str());
        match preset {
            Preset::Resolver => resolver(jail, cx, &origin)?,
            Preset::Timezone => timezone(jail, cx, &origin)?,
            Preset::Certificates => certificates(jail, cx, &origin)?,
            Preset::Passwd => passwd(jail, cx, &origin)?,
            Preset::Pam => pam::add(jail, cx.settings, cx.manifest, cx.root, &origin)?,
        }
    }
    Ok(())
}

/// Copies `path` from the root into the same place in the jail. `Ok(false)`
/// when the root has no such file.
fn copy_same_path(jail: &mut Jail, cx: &Context, path: &str, origin: &str) -> Result<bool> {
    let root = cx.root;
    let wanted = Path::new(path);
    let Some(resolved) = root.resolve(wanted)? else {
        return Ok(false);
    };
    let source = root.host_path(&resolved.path);
    if !source.is_file() {
        return Ok(false);
    }
    super::hardening::check_source(
        &super::hardening::Source {
            setting: origin,
            declared: path,
            real: &source,
            dest: wanted,
            allow_secret: false,
            allow_setid: false,
        },
        true,
    )?;
    jail.add(wanted, EntryKind::File { source }, 0o644, None, origin)?;
    Ok(true)
}

fn resolver(jail: &mut Jail, cx: &Context, origin: &str) -> Result<()> {
    let (required, optional): (&[&str], &[&str]) = match (cx.target.os, cx.target.loader) {
        (Os::Linux, Loader::Glibc) => (
            &["/etc/hosts"],
            &[
                "/etc/nsswitch.conf",
                "/etc/resolv.conf",
                "/etc/host.conf",
                "/etc/gai.conf",
                "/etc/services",
                "/etc/protocols",
                "/etc/networks",
            ],
        ),
        (Os::Linux, _) => (
            &["/etc/hosts"],
            &["/etc/resolv.conf", "/etc/services", "/etc/protocols"],
        ),
        (Os::OpenBsd, _) => (
            &["/etc/hosts"],
            &[
                "/etc/resolv.conf",
                "/etc/services",
                "/etc/protocols",
                "/etc/networks",
            ],
        ),
        (Os::FreeBsd, _) => (
            &["/etc/hosts"],
            &[
                "/etc/nsswitch.conf",
                "/etc/resolv.conf",
                "/etc/host.conf",
                "/etc/services",
                "/var/db/services.db",
                "/etc/protocols",
                "/etc/networks",
            ],
        ),
    };
    for path in required {
        if !copy_same_path(jail, cx, path, origin)? {
            return Err(missing(cx, origin, path, "every system has one"));
        }
    }
    for path in optional {
        copy_same_path(jail, cx, path, origin)?;
    }
    Ok(())
}

fn timezone(jail: &mut Jail, cx: &Context, origin: &str) -> Result<()> {
    let zone = cx.settings.timezone.as_deref().unwrap_or("host");
    add_localtime(jail, zone, cx.root, origin)
}

fn certificates(jail: &mut Jail, cx: &Context, origin: &str) -> Result<()> {
    let candidates: &[&str] = match cx.target.os {
        Os::Linux => &[
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/pki/tls/certs/ca-bundle.crt",
            "/etc/ssl/ca-bundle.pem",
            "/etc/ssl/cert.pem",
        ],
        Os::OpenBsd => &["/etc/ssl/cert.pem"],
        Os::FreeBsd => &[
            "/usr/local/share/certs/ca-root-nss.crt",
            "/etc/ssl/cert.pem",
        ],
    };
    let mut any = false;
    for path in candidates {
        any |= copy_same_path(jail, cx, path, origin)?;
    }
    if !any {
        return Err(missing(
            cx,
            origin,
            &candidates.join(" or "),
            "install the CA bundle (Debian: ca-certificates; FreeBSD: ca_root_nss)",
        ));
    }
    Ok(())
}

fn passwd(jail: &mut Jail, cx: &Context, origin: &str) -> Result<()> {
    if cx.target.os != Os::Linux {
        return Err(Error::NotSupported {
            path: cx.manifest.to_path_buf(),
            what: format!(
                "{origin} for {}: its C library reads the pwd.db databases that pwd_mkdb(8) makes, not a flat /etc/passwd; chroot(8) looks the user up on the host instead",
                cx.target.os
            ),
        });
    }
    let root = cx.root;
    let passwd = read_in_root(root, Path::new("/etc/passwd"))?.unwrap_or_default();
    let groups = read_in_root(root, Path::new("/etc/group"))?.unwrap_or_default();
    let account = find_account(&passwd, cx.user);
    let uid = cx.uid.or(account.map(|a| a.0)).ok_or_else(|| Error::Settings {
        manifest: cx.manifest.to_path_buf(),
        message: format!(
            "{origin}: the user {} is not in {} and `uid` is not set; set `uid` (and `gid`) in the settings, or create the user there",
            cx.user,
            root.host_path(Path::new("/etc/passwd")).display()
        ),
    })?;
    let gid = cx
        .gid
        .or(find_account(&groups, cx.group).map(|g| g.0))
        .or(account.map(|a| a.1))
        .ok_or_else(|| Error::Settings {
            manifest: cx.manifest.to_path_buf(),
            message: format!(
                "{origin}: the group {} is not in {} and `gid` is not set; set `gid` in the settings",
                cx.group,
                root.host_path(Path::new("/etc/group")).display()
            ),
        })?;
    let (user, group) = (cx.user, cx.group);
    let passwd = format!("{user}:*:{uid}:{gid}:{user}:/:/usr/sbin/nologin\n");
    let group = format!("{group}:*:{gid}:\n");
    for (path, contents) in [("/etc/passwd", passwd), ("/etc/group", group)] {
        jail.add(
            Path::new(path),
            EntryKind::Generated {
                contents: contents.into_bytes(),
            },
            0o644,
            None,
            origin,
        )?;
    }
    Ok(())
}

/// The 3rd and 4th fields of the `name` line of a passwd (or the 3rd of a
/// group) file: `(uid, gid)` or `(gid, 0)`.
fn find_account(file: &[u8], name: &str) -> Option<(u32, u32)> {
    String::from_utf8_lossy(file).lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() != Some(&name) || fields.len() < 3 {
            return None;
        }
        let id = fields[2].parse().ok()?;
        let second = fields.get(3).and_then(|g| g.parse().ok()).unwrap_or(0);
        Some((id, second))
    })
}

fn missing(cx: &Context, origin: &str, path: &str, help: &str) -> Error {
    let root = cx.root.describe();
    Error::Settings {
        manifest: cx.manifest.to_path_buf(),
        message: format!("{origin}: no {path} in {root}; {help}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsswitch_services_skip_actions_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/nsswitch.conf"),
            "# comment\npasswd: files systemd\nhosts: files mdns4_minimal [NOTFOUND=return] dns myhostname # x\nservices: db files\n",
        )
        .unwrap();
        let root = FsRoot::new(dir.path());
        assert_eq!(
            nsswitch_services(&root, &RESOLVER_DATABASES).unwrap(),
            ["files", "mdns4_minimal", "dns", "myhostname", "db"]
        );
        assert_eq!(
            nsswitch_services(&FsRoot::new(dir.path().join("none")), &["hosts"]).unwrap(),
            ["files", "dns"]
        );
    }

    #[test]
    fn accounts_are_read_by_name() {
        let passwd = b"root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n";
        assert_eq!(find_account(passwd, "nobody"), Some((65534, 65534)));
        assert_eq!(find_account(passwd, "nobod"), None);
        assert_eq!(find_account(b"wheel:*:0:root\n", "wheel"), Some((0, 0)));
    }
}
