//! From a trace to advice: which paths the program could not find (or was
//! refused) inside its jail, deduplicated, with the settings line or preset
//! that adds each; and, for `--probe`, which runtime files it opened.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::trace::Event;
use crate::closure::root::FsRoot;
use crate::plan::devices;

/// The name resolver's files, which the `resolver` preset ships.
const RESOLVER_FILES: [&str; 8] = [
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/networks",
];

/// Paths the loader and libc try in every jail, by design absent there.
const EXPECTED_ABSENT: [&str; 4] = [
    "/etc/ld.so.preload",
    "/etc/ld.so.cache",
    "/etc/ld.so.nohwcap",
    "/etc/suid-debug",
];

/// One path (or one library, wherever the loader looked for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The path, or the library's file name.
    pub what: String,
    /// `ENOENT` or `EACCES`.
    pub errno: String,
    /// The system calls that failed on it.
    pub syscalls: Vec<String>,
    /// Every path tried, for a library.
    pub tried: Vec<String>,
    /// Settings lines that would add it, best first.
    pub fixes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnosis {
    /// Never found, and the build host (or sysroot) has it: the jail lacks it.
    pub missing: Vec<Finding>,
    /// Never found, but the build host lacks it too: probably optional.
    pub optional: Vec<Finding>,
    /// Under /proc or /sys, which a jail does not have (Rust's runtime and
    /// glibc look there and do without).
    pub kernel: Vec<Finding>,
}

/// Subdirectories the loader probes in each library directory: the
/// glibc-hwcaps tree, and the legacy hwcap and platform names.
const HWCAP_DIRS: [&str; 14] = [
    "glibc-hwcaps",
    "tls",
    "haswell",
    "xeon_phi",
    "avx512_1",
    "x86_64",
    "i686",
    "sse2",
    "x86-64-v2",
    "x86-64-v3",
    "x86-64-v4",
    "power9",
    "power10",
    "atomics",
];

/// Turns a jailed run's events into findings. `host` is where the jail's
/// files come from (the build host or the sysroot).
pub fn diagnose(events: &[Event], host: &FsRoot) -> Diagnosis {
    let found: BTreeSet<&str> = events
        .iter()
        .filter(|e| e.result.is_ok())
        .map(|e| e.path.as_str())
        .collect();
    // The names found, apart for programs run and files opened: a program
    // tries each PATH directory for a command, a library or configuration
    // file is looked for in several places; but the daemon's own program
    // (`/usr/sbin/d`) is no other place of its plugin directory
    // (`/usr/lib/d`).
    let found_names = |execs: bool| -> BTreeSet<&str> {
        events
            .iter()
            .filter(|e| e.result.is_ok() && e.syscall.starts_with("execve") == execs)
            .map(|e| file_name(&e.path))
            .collect()
    };
    let (found_names, found_programs) = (found_names(false), found_names(true));
    let library_dirs: BTreeSet<&Path> = found
        .iter()
        .filter(|p| is_library(file_name(p)))
        .filter_map(|p| Path::new(p).parent())
        .collect();
    // key → (errno, syscalls, paths tried)
    let mut failed: BTreeMap<String, (String, BTreeSet<String>, Vec<String>)> = BTreeMap::new();
    for event in events {
        let Err(errno) = &event.result else { continue };
        // A failed creation is a need of its own (see `needs`).
        if event.creates.is_some() || event.path.is_empty() {
            continue;
        }
        if errno != "ENOENT" && errno != "EACCES" {
            continue;
        }
        let path = event.path.as_str();
        if found.contains(path) || EXPECTED_ABSENT.contains(&path) {
            continue;
        }
        // Probing: the loader tries glibc-hwcaps and each search directory,
        // programs try several config paths; what was then found is fine.
        let names = if event.syscall.starts_with("execve") {
            &found_programs
        } else {
            &found_names
        };
        if errno == "ENOENT" && names.contains(file_name(path)) {
            continue;
        }
        if errno == "ENOENT" && hwcap_probe(Path::new(path), &library_dirs) {
            continue;
        }
        let key = if is_library(file_name(path)) {
            file_name(path).to_string()
        } else {
            path.to_string()
        };
        let slot = failed
            .entry(key)
            .or_insert_with(|| (errno.clone(), BTreeSet::new(), Vec::new()));
        if errno == "EACCES" {
            slot.0 = errno.clone();
        }
        slot.1.insert(event.syscall.clone());
        if !slot.2.iter().any(|p| p == path) {
            slot.2.push(path.to_string());
        }
    }
    let mut diagnosis = Diagnosis::default();
    for (what, (errno, syscalls, tried)) in failed {
        let library = is_library(&what);
        let on_host = if library {
            host_has_library(host, &what, &tried)
        } else {
            exists(host, &what)
        };
        let execs = syscalls.iter().any(|s| s.starts_with("execve"));
        let finding = Finding {
            fixes: fixes(&what, &errno, execs, library),
            what: what.clone(),
            errno: errno.clone(),
            syscalls: syscalls.into_iter().collect(),
            tried: if library { tried } else { Vec::new() },
        };
        let device = what.starts_with("/dev/");
        if what.starts_with("/proc/") || what.starts_with("/sys/") {
            diagnosis.kernel.push(finding);
        } else if on_host || errno == "EACCES" || device {
            diagnosis.missing.push(finding);
        } else {
            diagnosis.optional.push(finding);
        }
    }
    diagnosis
}

/// A runtime file `--probe` saw the program open outside any jail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub path: String,
    /// Settings lines that would put it in the jail; empty when the ELF
    /// closure already holds it.
    pub fixes: Vec<String>,
}

/// What `--probe` learnt: files opened beyond the ELF closure (`opened`),
/// files the closure already covers (`in_closure`), and paths tried but
/// absent on this host as well (`absent`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    pub opened: Vec<Opened>,
    pub in_closure: Vec<String>,
    pub absent: Vec<String>,
}

/// Sorts a probe run's events. `closure` holds the host paths of the
/// files the ELF closure already puts in the jail (links followed).
pub fn probe(events: &[Event], executable: &Path, closure: &BTreeSet<PathBuf>) -> Probe {
    let mut probe = Probe::default();
    let mut seen = BTreeSet::new();
    let executable = std::fs::canonicalize(executable).unwrap_or(executable.to_path_buf());
    let opened: BTreeSet<&str> = events
        .iter()
        .filter(|e| e.result.is_ok())
        .map(|e| e.path.as_str())
        .collect();
    let opened_names: BTreeSet<&str> = opened.iter().map(|p| file_name(p)).collect();
    for event in events {
        let path = event.path.as_str();
        let ignored = path.is_empty()
            || EXPECTED_ABSENT.contains(&path)
            || path.starts_with("/proc/")
            || path.starts_with("/sys/")
            || path == "/proc"
            || path == "/sys";
        if ignored || !seen.insert((path.to_string(), event.result.is_ok())) {
            continue;
        }
        if let Err(errno) = &event.result {
            if errno == "ENOENT"
                && !opened.contains(path)
                && !opened_names.contains(file_name(path))
                && !probe.absent.iter().any(|p| p == path)
            {
                probe.absent.push(path.to_string());
            }
            continue;
        }
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
        if real == executable || real.is_dir() {
            continue;
        }
        if closure.contains(&real) {
            if !probe.in_closure.iter().any(|p| p == path) {
                probe.in_closure.push(path.to_string());
            }
            continue;
        }
        if probe.opened.iter().any(|o| o.path == path) {
            continue;
        }
        let execs = event.syscall.starts_with("execve");
        probe.opened.push(Opened {
            path: path.to_string(),
            fixes: fixes(path, "ENOENT", execs, is_library(file_name(path))),
        });
    }
    probe
}

/// Settings lines that put `what` (a path, or a library's name) in the jail.
pub fn fixes(what: &str, errno: &str, execs: bool, library: bool) -> Vec<String> {
    let files_line = format!("files = [{{ source = {what:?} }}]");
    let mut fixes = Vec::new();
    if errno == "EACCES" {
        let dir = Path::new(what)
            .parent()
            .map_or("/".to_string(), |p| p.display().to_string());
        fixes.push(format!(
            "permission denied in the jail: if the daemon reads it, give it a mode its user may read (files[].mode); if it writes there: writable = [{{ path = {dir:?} }}]"
        ));
        return fixes;
    }
    if library {
        if what.starts_with("libnss_") {
            fixes.push(r#"presets = ["resolver"]"#.to_string());
        }
        fixes.push(format!("libraries = [{what:?}]"));
        return fixes;
    }
    if let Some(name) = what.strip_prefix("/dev/") {
        if devices::NAMES.contains(&name) {
            fixes.push(format!("devices = [{name:?}]"));
        } else {
            fixes.push(format!(
                "/dev/{name} is not on jailpack's device allow-list {:?}; the daemon has to do without it",
                devices::NAMES
            ));
        }
        return fixes;
    }
    if what.starts_with("/proc/") || what.starts_with("/sys/") {
        fixes.push("a kernel file system the jail does not have: mount it for the service (systemd: MountAPIVFS=yes) or let the daemon do without".to_string());
        return fixes;
    }
    if RESOLVER_FILES.contains(&what) {
        fixes.push(r#"presets = ["resolver"]"#.to_string());
        fixes.push(files_line);
        return fixes;
    }
    if what == "/etc/localtime" {
        fixes.push(r#"presets = ["timezone"]"#.to_string());
        fixes.push(r#"timezone = "host""#.to_string());
        return fixes;
    }
    if let Some(zone) = what.strip_prefix("/usr/share/zoneinfo/") {
        fixes.push(format!(
            r#"presets = ["timezone"] with timezone = {zone:?}"#
        ));
        return fixes;
    }
    if what == "/etc/passwd" || what == "/etc/group" {
        fixes.push(r#"presets = ["passwd"]"#.to_string());
        return fixes;
    }
    // OpenSSL's own places (/usr/lib/ssl/cert.pem, certs/) and the OS's.
    let certificates = what.starts_with("/etc/ssl/")
        || what.starts_with("/usr/lib/ssl/cert")
        || what.starts_with("/etc/pki/")
        || what == "/usr/local/share/certs/ca-root-nss.crt";
    if certificates {
        fixes.push(r#"presets = ["certificates"]"#.to_string());
        fixes.push(files_line);
        return fixes;
    }
    if execs {
        fixes.push(format!(
            "executables = [{what:?}] (if the jail has it, its ELF interpreter is what is missing)"
        ));
        return fixes;
    }
    fixes.push(files_line);
    fixes
}

/// A loader probe: a directory under one where libraries were then found,
/// named only with hwcap subdirectory names (`tls/haswell/x86_64`, …).
fn hwcap_probe(path: &Path, library_dirs: &BTreeSet<&Path>) -> bool {
    library_dirs.iter().any(|dir| {
        path.strip_prefix(dir).is_ok_and(|rest| {
            let mut names = rest.iter().map(|c| c.to_string_lossy());
            let first = names.next();
            first.as_deref() == Some("glibc-hwcaps")
                || (first.is_some_and(|n| HWCAP_DIRS.contains(&n.as_ref()))
                    && names.all(|n| HWCAP_DIRS.contains(&n.as_ref())))
        })
    })
}

/// `libfoo.so`, `libfoo.so.1`, `libfoo.so.1.2`, `ld-linux-x86-64.so.2`.
fn is_library(name: &str) -> bool {
    match name.find(".so") {
        Some(at) => {
            let rest = &name[at + 3..];
            at > 0
                && (rest.is_empty()
                    || (rest.starts_with('.')
                        && rest[1..].chars().all(|c| c.is_ascii_digit() || c == '.')))
        }
        None => false,
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn exists(host: &FsRoot, path: &str) -> bool {
    host.resolve(Path::new(path)).is_ok_and(|r| r.is_some())
}

/// Whether the host has the library where the jail's loader looked, or in
/// one of the usual library directories.
fn host_has_library(host: &FsRoot, name: &str, tried: &[String]) -> bool {
    if tried.iter().any(|p| exists(host, p)) {
        return true;
    }
    let mut dirs: Vec<PathBuf> = ["/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib"]
        .iter()
        .map(PathBuf::from)
        .collect();
    for base in ["/lib", "/usr/lib"] {
        if let Ok(entries) = std::fs::read_dir(host.host_path(Path::new(base))) {
            for entry in entries.flatten() {
                let sub = entry.file_name().to_string_lossy().into_owned();
                if sub.contains("-linux-") {
                    dirs.push(Path::new(base).join(sub));
                }
            }
        }
    }
    dirs.iter()
        .any(|d| exists(host, &d.join(name).to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(syscall: &str, path: &str, errno: Option<&str>) -> Event {
        Event {
            pid: 1,
            syscall: syscall.into(),
            path: path.into(),
            result: errno.map_or(Ok(3), |e| Err(e.to_string())),
            creates: None,
            writes: false,
            at: None,
        }
    }

    #[test]
    fn probing_noise_is_dropped_and_misses_get_their_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::create_dir_all(dir.path().join("usr/lib")).unwrap();
        std::fs::write(dir.path().join("etc/hosts"), "").unwrap();
        std::fs::write(dir.path().join("usr/lib/libfoo.so.1"), "").unwrap();
        let host = FsRoot::new(dir.path());
        let events = [
            event("access", "/etc/ld.so.preload", Some("ENOENT")),
            event("openat", "/etc/ld.so.cache", Some("ENOENT")),
            event(
                "openat",
                "/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libc.so.6",
                Some("ENOENT"),
            ),
            event("openat", "/lib/x86_64-linux-gnu/libc.so.6", None),
            event(
                "newfstatat",
                "/lib/x86_64-linux-gnu/tls/haswell/x86_64",
                Some("ENOENT"),
            ),
            event("openat", "/proc/self/maps", Some("ENOENT")),
            event(
                "openat",
                "/lib/x86_64-linux-gnu/libfoo.so.1",
                Some("ENOENT"),
            ),
            event("openat", "/usr/lib/libfoo.so.1", Some("ENOENT")),
            event("openat", "/etc/hosts", Some("ENOENT")),
            event("openat", "/etc/hosts", Some("ENOENT")),
            event("openat", "/etc/gai.conf", Some("ENOENT")),
            event("openat", "/dev/urandom", Some("ENOENT")),
            event("openat", "/etc/app.conf", Some("ENOENT")),
            event("openat", "/usr/local/etc/app.conf", None),
        ];
        let diagnosis = diagnose(&events, &host);
        let missing: Vec<&str> = diagnosis.missing.iter().map(|f| f.what.as_str()).collect();
        assert_eq!(missing, ["/dev/urandom", "/etc/hosts", "libfoo.so.1"]);
        let optional: Vec<&str> = diagnosis.optional.iter().map(|f| f.what.as_str()).collect();
        assert_eq!(optional, ["/etc/gai.conf"]);
        assert_eq!(diagnosis.kernel[0].what, "/proc/self/maps");
        let hosts = &diagnosis.missing[1];
        assert_eq!(
            hosts.fixes,
            [
                r#"presets = ["resolver"]"#,
                r#"files = [{ source = "/etc/hosts" }]"#
            ]
        );
        assert_eq!(diagnosis.missing[0].fixes, [r#"devices = ["urandom"]"#]);
        assert_eq!(
            diagnosis.missing[2].fixes,
            [r#"libraries = ["libfoo.so.1"]"#]
        );
        assert_eq!(diagnosis.missing[2].tried.len(), 2);
    }

    #[test]
    fn library_names() {
        for yes in [
            "libc.so.6",
            "libfoo.so",
            "ld-linux-x86-64.so.2",
            "libssl.so.3.0",
        ] {
            assert!(is_library(yes), "{yes}");
        }
        for no in ["hosts", ".so", "libfoo.sock", "a.so.x"] {
            assert!(!is_library(no), "{no}");
        }
    }
}
