//! Hardening rules the plan enforces. Each refusal names the settings line
//! it comes from and says what to do; where a jail may legitimately need
//! the thing refused, the line itself carries an explicit opt-in.
//!
//! - The daemon user is not root (root leaves a chroot at will).
//! - No setuid or setgid source: the archive never carries those bits, so a
//!   program installed setuid would silently run without its privilege.
//!   `allow-setid = true` on a `files` line ships it without them.
//! - No world-writable directory, except a sticky one (a tmp, `"1777"`);
//!   no world-writable file.
//! - The jail root and every directory above a file, link or device node are
//!   root-owned and not writable by the daemon's user or group: a `writable`
//!   directory holds only what the daemon makes itself.
//! - No host secrets (private keys, shadow files, `.ssh`, `.git`, …) unless
//!   the `files` line names it and says `allow-secret = true`.
//! - Device nodes only from the allow-list (`devices`, see [`super::devices`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use super::{Entry, EntryKind};
use crate::error::{Error, Result};

/// The daemon's user may not be root.
pub fn check_user(user: &str) -> Result<()> {
    if user == "root" {
        return Err(Error::Hardening {
            setting: "user".into(),
            subject: "user = \"root\"".into(),
            problem: "a daemon running as root can leave its chroot and can write every directory of the jail".into(),
            help: "run it as a user of its own (the default is the jail's name, `_name` on OpenBSD)".into(),
        });
    }
    Ok(())
}

/// The daemon's group may not be root's (nor the BSDs' group 0, wheel):
/// every file of the jail that is group-readable or -writable would be its.
pub fn check_group(group: &str) -> Result<()> {
    if group == "root" || group == "wheel" {
        return Err(Error::Hardening {
            setting: "group".into(),
            subject: format!("group = {group:?}"),
            problem:
                "group 0 owns the jail's files and much of the host's; the daemon must not hold it"
                    .into(),
            help: "give the daemon a group of its own (the default is the user's name)".into(),
        });
    }
    Ok(())
}

/// A file about to be copied into the jail.
pub struct Source<'a> {
    /// The settings key it comes from: `files[2]`, `presets.resolver`, `the closure`.
    pub setting: &'a str,
    /// As written in the settings (or the in-root path a preset asked for).
    pub declared: &'a str,
    /// The real file on the build host, links followed.
    pub real: &'a Path,
    /// Where it goes inside the jail.
    pub dest: &'a Path,
    pub allow_secret: bool,
    pub allow_setid: bool,
}

/// Setuid/setgid bits and host secrets. `scan` also reads the file for a
/// private key (done for settings' and presets' files, not for the ELF
/// closure: libcrypto holds the PEM markers as strings).
pub fn check_source(source: &Source, scan: bool) -> Result<()> {
    let metadata = std::fs::metadata(source.real).map_err(|e| Error::Read {
        path: source.real.to_path_buf(),
        source: e,
    })?;
    let mode = metadata.permissions().mode();
    if mode & 0o6000 != 0 && !source.allow_setid {
        let bits = match mode & 0o6000 {
            0o4000 => "setuid",
            0o2000 => "setgid",
            _ => "setuid and setgid",
        };
        return Err(Error::Hardening {
            setting: source.setting.to_string(),
            subject: source.real.display().to_string(),
            problem: format!(
                "the host copy is {bits} ({:04o}); a jail never carries those bits, so the program would run without the privilege it was installed with",
                mode & 0o7777
            ),
            help: opt_in_help(source, "allow-setid", "if it works without them"),
        });
    }
    if source.allow_secret {
        return Ok(());
    }
    let why = secret_name(Path::new(source.declared))
        .or_else(|| secret_name(source.real))
        .or_else(|| secret_name(source.dest));
    let why = match why {
        Some(why) => Some(why),
        None if scan => secret_contents(source.real)?,
        None => None,
    };
    if let Some(why) = why {
        return Err(Error::Hardening {
            setting: source.setting.to_string(),
            subject: source.real.display().to_string(),
            problem: format!(
                "looks like a host secret ({why}); a jail must not carry the host's secrets"
            ),
            help: opt_in_help(source, "allow-secret", "if the daemon really needs it"),
        });
    }
    Ok(())
}

fn opt_in_help(source: &Source, key: &str, condition: &str) -> String {
    if source.setting.starts_with("files[") {
        format!(
            "{condition}, say so on that line: {{ source = {:?}, {key} = true }}",
            source.declared
        )
    } else {
        format!(
            "only a `files` line can opt in; {condition}, list it as {{ source = {:?}, {key} = true }}",
            source.real.display().to_string()
        )
    }
}

/// Why a path names a secret, by its components.
pub fn secret_name(path: &Path) -> Option<String> {
    let names: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    for dir in names.iter().take(names.len().saturating_sub(1)) {
        if [".ssh", ".gnupg", ".git", ".aws"].contains(&dir.as_str()) {
            return Some(format!("it is under a {dir} directory"));
        }
    }
    if names.windows(2).any(|w| w[0] == "ssl" && w[1] == "private") {
        return Some("it is under ssl/private".into());
    }
    let file = names.last()?.as_str();
    let shadow = [
        "shadow",
        "shadow-",
        "gshadow",
        "gshadow-",
        "master.passwd",
        "spwd.db",
        ".git",
    ];
    if shadow.contains(&file) {
        return Some(format!("{file} holds password hashes or a repository"));
    }
    let ssh_key = [
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "id_ecdsa_sk",
        "id_ed25519_sk",
    ];
    if ssh_key.contains(&file) || (file.starts_with("ssh_host_") && file.ends_with("_key")) {
        return Some(format!("{file} is an SSH private key"));
    }
    if file.ends_with(".key") || file.ends_with(".keytab") || file == ".netrc" {
        return Some(format!("{file} is named like a private key or credentials"));
    }
    None
}

/// Why a file's contents are a secret: a PEM, OpenSSH or PuTTY private key.
/// Read in chunks (with an overlap as long as a marker), never whole.
fn secret_contents(path: &Path) -> Result<Option<String>> {
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let markers: [&[u8]; 3] = [
        b"PRIVATE KEY-----",
        b"PRIVATE KEY BLOCK-----",
        b"PuTTY-User-Key-File-",
    ];
    let finders: Vec<memchr::memmem::Finder> =
        markers.iter().map(memchr::memmem::Finder::new).collect();
    let overlap = markers.iter().map(|m| m.len()).max().unwrap_or(0) - 1;
    // A key file is small; 16 MiB bounds what a huge data file costs.
    let mut file = std::fs::File::open(path)
        .map_err(read_error)?
        .take(16 << 20);
    let mut buffer = vec![0u8; 64 << 10];
    let mut kept = 0;
    let mut first = true;
    loop {
        let n = match file.read(&mut buffer[kept..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        if n == 0 {
            return Ok(None);
        }
        let filled = kept + n;
        if first && filled >= 4 && buffer.starts_with(b"\x7fELF") {
            return Ok(None);
        }
        first = first && filled < 4;
        if finders.iter().any(|f| f.find(&buffer[..filled]).is_some()) {
            return Ok(Some("it holds a private key".to_string()));
        }
        kept = overlap.min(filled);
        buffer.copy_within(filled - kept..filled, 0);
    }
}

/// A `writable` directory's mode: world-writable only with the sticky bit.
pub fn check_writable_mode(field: &str, path: &Path, mode: u32) -> Result<()> {
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        return Err(Error::Hardening {
            setting: format!("{field}.mode"),
            subject: path.display().to_string(),
            problem: format!(
                "mode {mode:04o} makes it world-writable: any process in the jail could delete or replace what the daemon keeps there"
            ),
            help: "give it to the daemon's user (the default owner) with \"0750\", or make it a sticky tmp with \"1777\"".into(),
        });
    }
    Ok(())
}

/// Directories the daemon may never own, even empty: what the loader, libc
/// or systemd read or mount there (a writable /etc lets it plant
/// /etc/ld.so.preload; /proc, /dev, /run are mounted over).
const NEVER_WRITABLE: [&str; 24] = [
    "/etc",
    "/dev",
    "/proc",
    "/sys",
    "/run",
    "/var/run",
    "/root",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/libexec",
    "/usr",
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/local/lib",
];

/// A `writable` directory may not be one of the system's own, nor a
/// multiarch library directory (`/usr/lib/x86_64-linux-gnu`).
pub fn check_writable_path(field: &str, path: &Path) -> Result<()> {
    let multiarch = ["/lib", "/usr/lib"].iter().any(|dir| {
        path.parent() == Some(Path::new(dir))
            && path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("-linux-"))
    });
    if NEVER_WRITABLE.iter().any(|dir| path == Path::new(dir)) || multiarch {
        return Err(Error::Hardening {
            setting: format!("{field}.path"),
            subject: path.display().to_string(),
            problem: "a system directory the loader, libc or systemd uses: a daemon that owns it can plant files they read (/etc/ld.so.preload) or break the mounts".into(),
            help: "give the daemon a directory of its own, e.g. /var/db/<name> or /var/run/<name>".into(),
        });
    }
    Ok(())
}

/// A file's mode from the settings: never world-writable.
pub fn check_file_mode(field: &str, path: &Path, mode: u32) -> Result<()> {
    if mode & 0o002 != 0 {
        return Err(Error::Hardening {
            setting: format!("{field}.mode"),
            subject: path.display().to_string(),
            problem: format!(
                "mode {mode:04o} makes the file writable by the daemon (and anyone in the jail)"
            ),
            help: "use \"0644\" (or \"0640\"); state the daemon writes belongs in a `writable` directory".into(),
        });
    }
    Ok(())
}

/// Every directory above a non-directory entry is root-owned and writable
/// neither by the daemon's user nor by its group; so is the jail root.
pub fn check_tree(entries: &BTreeMap<PathBuf, Entry>, user: &str, group: &str) -> Result<()> {
    let writable_by_daemon = |dir: &Entry| {
        dir.owner.user != "root"
            || dir.owner.user == user
            || dir.mode & 0o002 != 0
            || (dir.mode & 0o020 != 0 && dir.owner.group == group)
    };
    for (path, entry) in entries {
        // A file the daemon's user or group owns (`files[].owner`, only
        // allowed inside a `writable` directory) is the daemon's to rewrite.
        let daemons = entry.owner.user == user
            || (entry.owner.group == group && !["root", "wheel"].contains(&group));
        if entry.kind == EntryKind::Directory || daemons {
            continue;
        }
        let mut parent = path.parent();
        while let Some(dir) = parent.filter(|d| *d != Path::new("/")) {
            if let Some(above) = entries.get(dir).filter(|d| writable_by_daemon(d)) {
                return Err(Error::Hardening {
                    setting: above.origin.clone(),
                    subject: dir.display().to_string(),
                    problem: format!(
                        "the daemon's user or group can write this directory (owner {}:{}, mode {:04o}), yet it holds {} from {}: the daemon could replace it",
                        above.owner.user,
                        above.owner.group,
                        above.mode,
                        path.display(),
                        entry.origin
                    ),
                    help: format!(
                        "keep `writable` directories for what the daemon makes itself: put {} outside {}, or make that directory root's (drop it from `writable`)",
                        path.display(),
                        dir.display()
                    ),
                });
            }
            parent = dir.parent();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for secret in [
            "/home/u/.ssh/config",
            "/etc/shadow",
            "/etc/master.passwd",
            "/etc/spwd.db",
            "/etc/ssl/private/site.pem",
            "/etc/ssh/ssh_host_ed25519_key",
            "/srv/app/.git/config",
            "/root/id_rsa",
            "/etc/site.key",
        ] {
            assert!(secret_name(Path::new(secret)).is_some(), "{secret}");
        }
        for fine in [
            "/etc/hosts",
            "/etc/ssh/ssh_host_ed25519_key.pub",
            "/etc/ssl/certs/ca-certificates.crt",
            "/usr/share/zoneinfo/Europe/Paris",
            "/etc/passwd",
            "/etc/keyboard",
        ] {
            assert!(secret_name(Path::new(fine)).is_none(), "{fine}");
        }
    }

    #[test]
    fn sticky_world_writable_is_the_only_world_writable_directory() {
        let tmp = Path::new("/tmp");
        assert!(check_writable_mode("writable[0]", tmp, 0o1777).is_ok());
        assert!(check_writable_mode("writable[0]", tmp, 0o750).is_ok());
        let err = check_writable_mode("writable[0]", tmp, 0o777)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("writable[0].mode") && err.contains("1777"),
            "{err}"
        );
    }
}
