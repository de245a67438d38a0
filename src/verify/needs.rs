//! Every kind of runtime need a trace shows, each with the settings change
//! that meets it, as `doctor` prints it and `--learn` applies it: a file
//! the root has (`files`), a directory tree it lists (a directory source),
//! a failed creation (`writable`), a device node (`devices`), user and
//! group lookups (the `passwd` preset), a dlopen()ed library
//! (`libraries`), zoneinfo, CA and resolver files (their presets), a PAM
//! service (the `pam` preset). What jailpack must never add on its own (a
//! host secret, a device off the allow-list) comes back as a decision for
//! a person, with the line they would write.
//!
//! Needs are sorted fatal first: those the daemon met last before it
//! exited with a failure, every failed creation of a process that exited
//! so, and everything it met while serving a `--check` that failed. Nothing here knows a particular daemon: only paths, system
//! calls and error numbers.

use std::collections::BTreeSet;
use std::path::Path;

use super::check::Checked;
use super::doctor::{self, Diagnosis, Finding};
use super::trace::{EXIT, Event};
use crate::closure::root::FsRoot;
use crate::plan::{devices, hardening};

/// Where else libpam looks, in vain when /etc/pam.d is there: no need.
const PAM_ELSEWHERE: [&str; 2] = ["/usr/lib/pam.d", "/etc/pam.conf"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A directory it must create things in.
    Writable,
    /// A file of the jail it opens for writing (rewrites, or locks).
    Owned,
    /// A file of the root it reads.
    File,
    /// A directory of the root it lists (plugins, a web root).
    Tree,
    Device,
    /// User and group lookups.
    Accounts,
    /// A library it dlopen()s.
    Library,
    /// Resolver, zoneinfo or CA files.
    Preset,
    /// A PAM service's configuration.
    Pam,
    /// A program it executes.
    Executable,
}

/// A settings change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fix {
    File(String),
    Tree(String),
    /// A directory the daemon owns, with a mode (`None`: the default 0750).
    Writable(String, Option<u32>),
    /// A file of the jail the daemon opens for writing: `owner` on its
    /// `files` entry (the daemon's user), inside `dir`, made `writable`
    /// (the plan lets the daemon own only files in a writable directory).
    Owner {
        file: String,
        dir: String,
    },
    Device(String),
    Preset(String),
    /// The `pam` preset for this service.
    Pam(String),
    Library(String),
    Executable(String),
    /// Something jailpack does not add by itself: the line a person would
    /// write, and why it needs their decision.
    Decide {
        line: String,
        why: String,
    },
}

impl Fix {
    /// The settings line, as a person would write it.
    pub fn line(&self) -> String {
        match self {
            Fix::File(path) => format!("files = [{{ source = {path:?} }}]"),
            Fix::Tree(path) => format!("files = [{{ source = {path:?} }}]  # the whole directory"),
            Fix::Writable(path, None) => format!("writable = [{{ path = {path:?} }}]"),
            Fix::Writable(path, Some(mode)) => {
                format!("writable = [{{ path = {path:?}, mode = \"{mode:o}\" }}]")
            }
            Fix::Owner { file, dir } => format!(
                "writable = [{{ path = {dir:?} }}] and owner = \"<the daemon's user>\" on the files entry of {file:?}"
            ),
            Fix::Device(name) => format!("devices = [{name:?}]"),
            Fix::Preset(name) => format!("presets = [{name:?}]"),
            Fix::Pam(service) => format!("presets = [\"pam\"], pam-service = {service:?}"),
            Fix::Library(name) => format!("libraries = [{name:?}]"),
            Fix::Executable(path) => format!("executables = [{path:?}]"),
            Fix::Decide { line, .. } => line.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub kind: Kind,
    /// The path (or library) it was about.
    pub what: String,
    /// What failed: `mkdir: EACCES`, `openat: ENOENT`.
    pub failed: String,
    pub fix: Fix,
    /// It came last before the daemon exited with a failure.
    pub fatal: bool,
}

/// The needs of a traced run, fatal first. `host` is where the jail's
/// files come from; `failed_check` is when a `--check` that failed while
/// the daemon stayed up began (see [`failed_check`]): what the daemon met
/// from then on, serving it, is fatal too.
pub fn needs(
    events: &[Event],
    diagnosis: &Diagnosis,
    host: &FsRoot,
    failed_check: Option<u64>,
) -> Vec<Need> {
    let failed_pids: BTreeSet<u32> = events
        .iter()
        .filter(|e| e.syscall == EXIT && e.result != Ok(0))
        .map(|e| e.pid)
        .collect();
    let mut found: Vec<(usize, Need)> = Vec::new();
    let mut add = |at: usize, need: Need| {
        if let Some((first, _)) = found.iter_mut().find(|(_, n)| n.fix == need.fix) {
            *first = (*first).max(at);
        } else {
            found.push((at, need));
        }
    };
    for (at, event) in events.iter().enumerate() {
        if let Some(need) = creation(event).or_else(|| rewrite(event)) {
            add(at, need);
        }
    }
    // A file it was refused writing is the rewrite's need, not a read's.
    let rewritten: BTreeSet<&str> = events
        .iter()
        .filter(|e| rewrite(e).is_some())
        .map(|e| e.path.as_str())
        .collect();
    // A missing file libpam asks for after it read a service file is one
    // that service includes (`common-auth`), never a service of its own:
    // the `pam` preset brings it with the service.
    let read_pam = |at: usize, pid: u32| {
        events[..at].iter().any(|e| {
            e.pid == pid
                && e.result.is_ok()
                && e.syscall.starts_with("open")
                && e.path.starts_with("/etc/pam.d/")
        })
    };
    let pam: Vec<(usize, &Event)> = events
        .iter()
        .enumerate()
        .filter(|(at, e)| {
            e.path.starts_with("/etc/pam.d/") && e.result.is_err() && !read_pam(*at, e.pid)
        })
        .collect();
    // libpam falls back to `other` when the service has no file: that
    // is no service of the daemon's.
    let services = pam
        .iter()
        .filter(|(_, e)| e.path != "/etc/pam.d/other")
        .count();
    for (at, event) in &pam {
        let service = &event.path["/etc/pam.d/".len()..];
        let fallback = service == "other" && services > 0;
        if !service.is_empty() && !service.contains('/') && !fallback {
            add(
                *at,
                need(Kind::Pam, &event.path, event, Fix::Pam(service.to_string())),
            );
        }
    }
    // A service file libpam did read, while the modules it names are
    // missing: the service is known, the `pam` preset brings the rest.
    // The first file read is the service; those after it are what it
    // includes. When the daemon's own service had no file, what libpam
    // read is `other` in its place: the service is named already.
    let read_service = events.iter().enumerate().find(|(_, e)| {
        e.result.is_ok() && e.syscall.starts_with("open") && e.path.starts_with("/etc/pam.d/")
    });
    let read_service = read_service.filter(|_| services == 0);
    let module_missing = diagnosis.missing.iter().any(|f| f.what.starts_with("pam_"));
    let include_missing = events.iter().enumerate().any(|(at, e)| {
        e.path.starts_with("/etc/pam.d/") && e.result.is_err() && read_pam(at, e.pid)
    });
    if let (Some((at, event)), true) = (read_service, module_missing || include_missing) {
        let service = event.path["/etc/pam.d/".len()..].to_string();
        let mut found = need(Kind::Pam, &event.path, event, Fix::Pam(service));
        found.failed = "read, but what it names (modules, included files) is missing".into();
        add(at, found);
    }
    for finding in &diagnosis.missing {
        let what = finding.what.as_str();
        if what.starts_with("/etc/pam.d/")
            || PAM_ELSEWHERE.contains(&what)
            || rewritten.contains(what)
        {
            continue;
        }
        let last = events.iter().rposition(|e| {
            e.result.is_err() && (e.path == finding.what || file_of(&e.path) == finding.what)
        });
        let Some(at) = last else { continue };
        if let Some(need) = from_finding(finding, &events[at], host) {
            add(at, need);
        }
    }
    // Fatal: in a process that exited with a failure, its failed
    // creations and the last need it met before exiting.
    let mut last_of_pid: std::collections::BTreeMap<u32, usize> = Default::default();
    for (at, _) in &found {
        let pid = events[*at].pid;
        let slot = last_of_pid.entry(pid).or_insert(*at);
        *slot = (*slot).max(*at);
    }
    for (at, need) in &mut found {
        let pid = events[*at].pid;
        if failed_pids.contains(&pid) {
            let creates = matches!(need.kind, Kind::Writable | Kind::Owned);
            need.fatal = creates || last_of_pid.get(&pid) == Some(at);
        }
    }
    // Fatal: what it met while serving a check that then failed.
    if let Some(since) = failed_check {
        for (at, need) in &mut found {
            if events[*at].at.is_some_and(|t| t >= since) {
                need.fatal = true;
            }
        }
    }
    // Fatal first; among them the directories to create in, which stop a
    // daemon outright, then in the order the daemon met them.
    found.sort_by_key(|(at, n)| {
        let creates = matches!(n.kind, Kind::Writable | Kind::Owned);
        (!n.fatal, !creates, *at)
    });
    found.into_iter().map(|(_, n)| n).collect()
}

/// When a check that failed while the daemon stayed up began: the
/// daemon's exit says nothing then, the check's failure does.
pub fn failed_check(check: Option<&Checked>) -> Option<u64> {
    check
        .filter(|c| !c.passed && !c.daemon_ended)
        .and_then(|c| c.started)
}

pub(super) fn need(kind: Kind, what: &str, event: &Event, fix: Fix) -> Need {
    let errno = event.result.as_ref().err().map_or("", String::as_str);
    Need {
        kind,
        what: what.to_string(),
        failed: format!("{}: {errno}", event.syscall),
        fix,
        fatal: false,
    }
}

/// A file, directory, device, library or program the jail lacks.
fn from_finding(finding: &Finding, event: &Event, host: &FsRoot) -> Option<Need> {
    let what = finding.what.as_str();
    let make = |kind, fix| Some(need(kind, what, event, fix));
    // libpam with no configuration directory names no service: ship the
    // directory's files first (configuration, not secrets), so that the
    // next run shows which service the daemon opens.
    if what == "/etc/pam.d" {
        return make(Kind::Pam, Fix::Tree(what.to_string()));
    }
    if let Some(name) = what.strip_prefix("/dev/") {
        if devices::NAMES.contains(&name) {
            return make(Kind::Device, Fix::Device(name.to_string()));
        }
        let why = format!(
            "/dev/{name} is not on jailpack's device allow-list {:?}; the daemon has to do without it",
            devices::NAMES
        );
        return make(
            Kind::Device,
            Fix::Decide {
                line: String::new(),
                why,
            },
        );
    }
    if !what.starts_with('/') {
        // PAM modules come with their service's configuration (`pam`).
        if what.starts_with("pam_") {
            return None;
        }
        // An NSS module (libnss_systemd for passwd lookups, say) is a
        // library like any other: the `resolver` preset only brings the
        // modules of its own databases.
        return make(Kind::Library, Fix::Library(what.to_string()));
    }
    if finding.errno == "EACCES" {
        let why = "permission denied on a file the jail has: give it a mode the daemon's user may read (files[].mode)".to_string();
        return make(
            Kind::File,
            Fix::Decide {
                line: String::new(),
                why,
            },
        );
    }
    if let Some(why) = hardening::secret_name(Path::new(what)) {
        let line = format!("files = [{{ source = {what:?}, allow-secret = true }}]");
        let why = format!("it looks like a host secret ({why}); only a person may ship it");
        return make(Kind::File, Fix::Decide { line, why });
    }
    let fixes = doctor::fixes(what, &finding.errno, false, false);
    if let Some(preset) = fixes.first().and_then(|f| preset_of(f)) {
        let kind = if preset == "passwd" {
            Kind::Accounts
        } else {
            Kind::Preset
        };
        return make(kind, Fix::Preset(preset));
    }
    if event.syscall.starts_with("execve") {
        return make(Kind::Executable, Fix::Executable(what.to_string()));
    }
    let real = host.resolve(Path::new(what)).ok()??;
    let metadata = std::fs::metadata(host.host_path(&real.path)).ok()?;
    if metadata.is_dir() {
        return make(Kind::Tree, Fix::Tree(what.to_string()));
    }
    if std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o6000 != 0 {
        let line = format!("files = [{{ source = {what:?}, allow-setid = true }}]");
        let why = "it is setuid or setgid on the host; a jail ships it without those bits only if a person says it works so".to_string();
        return make(Kind::File, Fix::Decide { line, why });
    }
    make(Kind::File, Fix::File(what.to_string()))
}

/// `presets = ["x"]` → `x`.
fn preset_of(line: &str) -> Option<String> {
    let name = line.strip_prefix("presets = [\"")?;
    Some(name[..name.find('"')?].to_string())
}

fn file_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

mod writes;

use writes::{creation, rewrite};

#[cfg(test)]
mod tests;
