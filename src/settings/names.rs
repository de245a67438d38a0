//! The names a setting may hold, as enums: an unknown service flavour,
//! device node or preset is an error when the settings are read, naming
//! the key and the file, like every other key.

use serde::Deserialize;

/// Which service manager a script is for (`services`, `--service`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// An rc.d(8) script for OpenBSD's rc.subr(8) (ksh).
    OpenBsd,
    /// An rc.d(8) script for FreeBSD's rc.subr(8) (sh).
    FreeBsd,
    /// A systemd service unit (Linux); `linux` is an alias.
    #[serde(alias = "linux")]
    Systemd,
}

impl ServiceKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ServiceKind; 3] = [
        ServiceKind::OpenBsd,
        ServiceKind::FreeBsd,
        ServiceKind::Systemd,
    ];

    /// Parses a kind as written on the command line: `openbsd`, `freebsd`,
    /// `systemd`, or `linux` (an alias for `systemd`), in any letter case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "openbsd" => Some(ServiceKind::OpenBsd),
            "freebsd" => Some(ServiceKind::FreeBsd),
            "systemd" | "linux" => Some(ServiceKind::Systemd),
            _ => None,
        }
    }

    /// The canonical name: `openbsd`, `freebsd` or `systemd`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ServiceKind::OpenBsd => "openbsd",
            ServiceKind::FreeBsd => "freebsd",
            ServiceKind::Systemd => "systemd",
        }
    }
}

impl std::fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device node a jail may hold (`devices`): the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceName {
    Null,
    Zero,
    Tty,
    Urandom,
    Random,
}

impl DeviceName {
    /// Its name under /dev.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeviceName::Null => "null",
            DeviceName::Zero => "zero",
            DeviceName::Tty => "tty",
            DeviceName::Urandom => "urandom",
            DeviceName::Random => "random",
        }
    }
}

/// A runtime preset (`presets`): a named bundle of files read at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// hosts, resolv.conf, services, protocols; on glibc also nsswitch.conf
    /// and the NSS modules it names.
    Resolver,
    /// The zone of `timezone`, and /etc/localtime linking to it.
    Timezone,
    /// The OS's CA bundle.
    Certificates,
    /// A generated /etc/passwd and /etc/group with the daemon's accounts.
    Passwd,
    /// The PAM service `pam-service`: its configuration (or `pam-config`),
    /// what it includes, and its modules with their closures.
    Pam,
}

impl Preset {
    /// As written in the settings.
    pub fn as_str(&self) -> &'static str {
        match self {
            Preset::Resolver => "resolver",
            Preset::Timezone => "timezone",
            Preset::Certificates => "certificates",
            Preset::Passwd => "passwd",
            Preset::Pam => "pam",
        }
    }
}
