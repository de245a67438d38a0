//! The `pam` preset: a PAM service's configuration and its modules. The
//! service file comes from the root's /etc/pam.d (or `pam-config`), with
//! every file it includes (`@include`, `include`, `substack`); each module
//! it names is dlopen()ed by libpam, so the closure resolves it like
//! `libraries`. A module that reads the host's password hashes (pam_unix
//! reads /etc/shadow) is refused: a jail never carries the host's secrets,
//! and the two ways out are a PAM configuration of the jail's own, or the
//! daemon's own option to go without PAM.

use std::path::{Path, PathBuf};

use super::EntryKind;
use super::jail::Jail;
use crate::closure::root::FsRoot;
use crate::error::{Error, Result};
use crate::settings::Settings;

/// Modules that read the host's password or shadow databases.
const SECRET_READERS: [&str; 3] = ["pam_unix.so", "pam_unix2.so", "pam_pwdb.so"];

/// The file libpam reads for a service that has none of its own.
const FALLBACK: &str = "/etc/pam.d/other";

/// How deep `include`s may nest (libpam's own limit is similar).
const MAX_DEPTH: usize = 8;

/// One service, read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Service {
    /// (in-jail path, source on the build host)
    pub files: Vec<(PathBuf, PathBuf)>,
    /// In-root paths of the modules.
    pub modules: Vec<PathBuf>,
}

/// Reads the service the settings name.
pub(super) fn read(settings: &Settings, manifest: &Path, root: &FsRoot) -> Result<Service> {
    let service = settings.pam_service.as_deref().ok_or_else(|| Error::Settings {
        manifest: manifest.to_path_buf(),
        message: "presets = [\"pam\"] needs pam-service = \"NAME\": the service the daemon passes to pam_start (its file under /etc/pam.d)".into(),
    })?;
    if !simple_name(service) {
        return Err(Error::Settings {
            manifest: manifest.to_path_buf(),
            message: format!("pam-service {service:?} is not a plain file name"),
        });
    }
    let mut dest = Path::new("/etc/pam.d").join(service);
    let first = match &settings.pam_config {
        Some(config) if !Path::new(config).is_absolute() => {
            let dir = manifest.parent().unwrap_or(Path::new("."));
            dir.join(config)
        }
        Some(config) => in_root(root, Path::new(config))?.ok_or_else(|| missing(config))?,
        None => match in_root(root, &dest)? {
            Some(source) => source,
            // libpam reads `other` for a service with no file of its own
            // (a daemon whose package ships none): so does the jail.
            None => {
                let other = Path::new(FALLBACK);
                let source = in_root(root, other)?.ok_or_else(|| Error::Settings {
                    manifest: manifest.to_path_buf(),
                    message: format!(
                        "pam-service {service:?}: the root has neither {} nor {FALLBACK}; give the jail its own with pam-config = \"FILE\"",
                        dest.display()
                    ),
                })?;
                dest = other.to_path_buf();
                source
            }
        },
    };
    let mut read = Service::default();
    walk(root, &dest, &first, 0, &mut read)?;
    Ok(read)
}

/// Adds the service's configuration files; its modules come with the closure.
pub(super) fn add(
    jail: &mut Jail,
    settings: &Settings,
    manifest: &Path,
    root: &FsRoot,
    origin: &str,
) -> Result<()> {
    for (dest, source) in read(settings, manifest, root)?.files {
        jail.add(&dest, EntryKind::File { source }, 0o644, None, origin)?;
    }
    Ok(())
}

fn walk(root: &FsRoot, dest: &Path, source: &Path, depth: usize, out: &mut Service) -> Result<()> {
    if depth > MAX_DEPTH || out.files.iter().any(|(d, _)| d == dest) {
        return Ok(());
    }
    let text = std::fs::read_to_string(source).map_err(|e| Error::Read {
        path: source.to_path_buf(),
        source: e,
    })?;
    out.files.push((dest.to_path_buf(), source.to_path_buf()));
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        let (include, module) = match words.as_slice() {
            [] => continue,
            ["@include", name, ..] => (Some(*name), None),
            [_kind, rest @ ..] => {
                let (control, after) = control(rest);
                match (control, after.first()) {
                    ("include" | "substack", Some(name)) => (Some(*name), None),
                    (_, Some(module)) => (None, Some(*module)),
                    _ => continue,
                }
            }
        };
        if let Some(name) = include {
            if !simple_name(name) {
                continue;
            }
            let dest = Path::new("/etc/pam.d").join(name);
            if let Some(source) = in_root(root, &dest)? {
                walk(root, &dest, &source, depth + 1, out)?;
            }
        }
        if let Some(module) = module {
            add_module(root, source, module, out)?;
        }
    }
    Ok(())
}

/// The control field, bracketed (`[success=1 default=ignore]`) or a word,
/// and the words after it.
fn control<'a>(words: &'a [&'a str]) -> (&'a str, &'a [&'a str]) {
    match words.first() {
        Some(first) if first.starts_with('[') => {
            let end = words
                .iter()
                .position(|w| w.ends_with(']'))
                .unwrap_or(words.len() - 1);
            ("[...]", &words[end + 1..])
        }
        Some(first) => (first, &words[1..]),
        None => ("", words),
    }
}

fn add_module(root: &FsRoot, config: &Path, module: &str, out: &mut Service) -> Result<()> {
    let name = Path::new(module)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    if SECRET_READERS.contains(&name.as_str()) {
        return Err(Error::Hardening {
            setting: "presets.pam".into(),
            subject: config.display().to_string(),
            problem: format!(
                "it uses {name}, which reads the host's password hashes (/etc/shadow); a jail never carries the host's secrets"
            ),
            help: "either give the jail a PAM configuration of its own without it (pam-config = \"jail/pam.conf\": pam_permit.so, or a module that asks a service over the network), or turn PAM off in the daemon's own configuration and drop the pam preset".into(),
        });
    }
    let path = if Path::new(module).is_absolute() {
        PathBuf::from(module)
    } else {
        let found = module_dirs(root)
            .into_iter()
            .map(|d| d.join(&name))
            .find(|p| root.resolve(p).ok().flatten().is_some());
        found.ok_or_else(|| Error::Input {
            path: config.to_path_buf(),
            message: format!("PAM module {name} is in none of the root's security directories; install it, or leave it out of the jail's pam-config"),
        })?
    };
    if !out.modules.contains(&path) {
        out.modules.push(path);
    }
    Ok(())
}

/// Where libpam looks for modules: its multiarch directory, then the rest.
fn module_dirs(root: &FsRoot) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for base in ["/lib", "/usr/lib"] {
        if let Ok(entries) = std::fs::read_dir(root.host_path(Path::new(base))) {
            let mut subs: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("-linux-"))
                .collect();
            subs.sort();
            dirs.extend(
                subs.iter()
                    .map(|s| Path::new(base).join(s).join("security")),
            );
        }
    }
    dirs.extend(["/lib/security", "/lib64/security", "/usr/lib/security"].map(PathBuf::from));
    dirs
}

fn in_root(root: &FsRoot, path: &Path) -> Result<Option<PathBuf>> {
    let Some(resolved) = root.resolve(path)? else {
        return Ok(None);
    };
    let host = root.host_path(&resolved.path);
    Ok(host.is_file().then_some(host))
}

fn missing(path: &str) -> Error {
    Error::Read {
        path: path.into(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such PAM configuration"),
    }
}

fn simple_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(files: &[(&str, &str)]) -> (tempfile::TempDir, FsRoot) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let at = dir.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::fs::write(at, text).unwrap();
        }
        let root = FsRoot::new(dir.path());
        (dir, root)
    }

    fn settings(service: &str) -> Settings {
        Settings {
            pam_service: Some(service.into()),
            ..Settings::default()
        }
    }

    #[test]
    fn a_service_brings_its_includes_and_modules() {
        let (_dir, root) = root_with(&[
            (
                "/etc/pam.d/ircd",
                "auth [success=1 default=ignore] pam_permit.so\n@include common\n",
            ),
            (
                "/etc/pam.d/common",
                "# comment\naccount required pam_deny.so\nsession include other\n",
            ),
            ("/etc/pam.d/other", "auth required pam_permit.so\n"),
            ("/lib/x86_64-linux-gnu/security/pam_permit.so", ""),
            ("/lib/x86_64-linux-gnu/security/pam_deny.so", ""),
        ]);
        let service = read(&settings("ircd"), Path::new("Cargo.toml"), &root).unwrap();
        let dests: Vec<String> = service
            .files
            .iter()
            .map(|(d, _)| d.display().to_string())
            .collect();
        assert_eq!(
            dests,
            ["/etc/pam.d/ircd", "/etc/pam.d/common", "/etc/pam.d/other"]
        );
        assert_eq!(
            service.modules,
            [
                PathBuf::from("/lib/x86_64-linux-gnu/security/pam_permit.so"),
                PathBuf::from("/lib/x86_64-linux-gnu/security/pam_deny.so")
            ]
        );
    }

    #[test]
    fn a_service_without_a_file_of_its_own_gets_other_as_libpam_does() {
        let (_dir, root) = root_with(&[
            ("/etc/pam.d/other", "auth required pam_permit.so\n"),
            ("/lib/x86_64-linux-gnu/security/pam_permit.so", ""),
        ]);
        let service = read(&settings("ircd"), Path::new("Cargo.toml"), &root).unwrap();
        assert_eq!(service.files[0].0, PathBuf::from("/etc/pam.d/other"));
        assert_eq!(service.modules.len(), 1);
        // Neither: the settings must give one.
        let (_dir, root) = root_with(&[]);
        let err = read(&settings("ircd"), Path::new("Cargo.toml"), &root)
            .unwrap_err()
            .to_string();
        assert!(err.contains("pam-config"), "{err}");
    }

    #[test]
    fn pam_unix_is_refused_with_both_ways_out() {
        let (_dir, root) = root_with(&[
            ("/etc/pam.d/ircd", "@include common-auth\n"),
            (
                "/etc/pam.d/common-auth",
                "auth [success=1 default=ignore] pam_unix.so nullok\n",
            ),
        ]);
        let err = read(&settings("ircd"), Path::new("Cargo.toml"), &root)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pam_unix.so") && err.contains("/etc/shadow"),
            "{err}"
        );
        assert!(
            err.contains("pam-config") && err.contains("turn PAM off"),
            "{err}"
        );
    }
}
