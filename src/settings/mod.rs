//! The jail settings: `[package.metadata.jail]` in the packaged crate's
//! Cargo.toml (the cargo-deb convention). Every key is optional; the command
//! line overrides them; an unknown key is an error naming key and file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};

mod names;
pub use self::names::{DeviceName, Preset, ServiceKind};

/// `[package.metadata.jail]`, as written by the user (before defaults).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Settings {
    /// The jail's and the service's name (default: the binary's name).
    pub name: Option<String>,
    /// Which binary of the package to jail (default: the only one).
    pub bin: Option<String>,
    /// Where the jail lives on the target (default `/var/jail/<name>`).
    pub root: Option<String>,
    /// Where the daemon lives inside the jail (default `/usr/local/sbin/<bin>`).
    pub exec: Option<String>,
    /// The user the daemon runs as (default `_<name>` on OpenBSD, `<name>` elsewhere).
    pub user: Option<String>,
    /// The daemon's group (default: the user's name).
    pub group: Option<String>,
    /// The daemon's arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Whether the daemon stays in the foreground (default true).
    pub foreground: Option<bool>,
    /// More executables to jail, each with its own closure (host paths).
    #[serde(default)]
    pub executables: Vec<String>,
    /// Libraries the program dlopen()s, by soname or path.
    #[serde(default)]
    pub libraries: Vec<String>,
    /// Extra files copied into the jail.
    #[serde(default)]
    pub files: Vec<FileSetting>,
    /// Directories the daemon may write to, owned by its user.
    #[serde(default)]
    pub writable: Vec<WritableSetting>,
    /// Device nodes to create, by name (`null`, `zero`, `tty`, `urandom`, `random`).
    #[serde(default)]
    pub devices: Vec<DeviceName>,
    /// `"host"` for the build host's (or sysroot's) /etc/localtime, or a
    /// zone name such as `"Europe/Paris"`; the jail gets it as /etc/localtime.
    pub timezone: Option<String>,
    /// Which service scripts to write: `openbsd`, `freebsd`, `systemd`
    /// (default: the one for the target OS).
    #[serde(default)]
    pub services: Vec<ServiceKind>,
    /// Runtime presets, named bundles of files read at run time, resolved
    /// per target OS against the sysroot: `resolver`, `timezone`,
    /// `certificates`, `passwd` (see `plan::presets`).
    #[serde(default)]
    pub presets: Vec<Preset>,
    /// The `pam` preset: the PAM service the daemon uses (its file under
    /// /etc/pam.d).
    pub pam_service: Option<String>,
    /// The `pam` preset: a PAM configuration of the jail's own for that
    /// service, instead of the root's (relative to the package, or absolute
    /// in the root).
    pub pam_config: Option<String>,
    /// A project's own service templates, by flavour, instead of the
    /// embedded ones: `templates = { openbsd = "jail/daytimed.rc" }`.
    #[serde(default)]
    pub templates: TemplateSettings,
    /// The daemon user's numeric ID, for the OpenBSD ports PLIST fragment
    /// (`@newuser`) and the INSTALL notes' `useradd` (default: none; the
    /// fragment then holds a `<uid>` placeholder).
    pub uid: Option<u32>,
    /// The daemon group's numeric ID (default: `uid` when the group is
    /// named after the user, else none and a `<gid>` placeholder).
    pub gid: Option<u32>,
}

/// `templates`: paths relative to the package's directory (or absolute).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TemplateSettings {
    pub openbsd: Option<String>,
    pub freebsd: Option<String>,
    pub systemd: Option<String>,
}

/// One `files` entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileSetting {
    /// A path on the build host (inside the sysroot when it is absolute and
    /// one is given), or relative to the package's directory.
    pub source: String,
    /// Where it goes inside the jail (default: the same absolute path as `source`).
    pub dest: Option<String>,
    /// Permission bits as octal text, e.g. `"0644"` (default 0644; for a
    /// directory source, every file's mode on the host).
    #[serde(default, deserialize_with = "deserialize_mode")]
    pub mode: Option<u32>,
    /// A directory source: its directories' permission bits (default: each
    /// one's mode on the host, never writable beyond its owner).
    #[serde(default, deserialize_with = "deserialize_mode")]
    pub dir_mode: Option<u32>,
    /// A directory source: globs of what to leave out, matched against the
    /// path relative to the source (`*.a`, `doc/**`); a glob without `/`
    /// matches a name at any depth.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// The daemon's user or group, for a file it rewrites (a config it
    /// saves); the file must land inside a `writable` directory.
    pub owner: Option<String>,
    /// Hardening opt-in: the source is a host secret (a private key, a
    /// shadow file, something under `.ssh`…) and the jail really needs it.
    #[serde(default)]
    pub allow_secret: bool,
    /// Hardening opt-in: the source is setuid or setgid on the host and is
    /// fine without those bits (a jail never carries them).
    #[serde(default)]
    pub allow_setid: bool,
}

/// One `writable` entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WritableSetting {
    /// The directory inside the jail.
    pub path: String,
    /// Permission bits (default 0750); the sticky bit is allowed here, for
    /// a world-writable tmp (`"1777"`).
    #[serde(default, deserialize_with = "deserialize_dir_mode")]
    pub mode: Option<u32>,
    /// Owner (default: the daemon's user).
    pub owner: Option<String>,
    /// Group (default: the daemon's group).
    pub group: Option<String>,
}

impl Settings {
    /// Reads the `jail` table of a package's `metadata` as cargo metadata
    /// reports it. A package without the table gets the defaults.
    pub fn from_package_metadata(metadata: &serde_json::Value, manifest: &Path) -> Result<Self> {
        match metadata.get("jail") {
            None | Some(serde_json::Value::Null) => Ok(Settings::default()),
            Some(table) => Settings::deserialize(table).map_err(|e| Error::Settings {
                manifest: manifest.to_path_buf(),
                message: format!("[package.metadata.jail]: {e}"),
            }),
        }
    }
}

impl Settings {
    /// Reads a TOML file holding the same keys at its top level (for
    /// `--binary`, where there is no Cargo.toml).
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let read_error = |source| Error::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut crate::regular::open_regular(path).map_err(read_error)?,
            &mut text,
        )
        .map_err(read_error)?;
        toml::from_str(&text).map_err(|e| Error::Settings {
            manifest: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

/// Accepts octal text: `"0644"`, `"644"` or `"0o644"`. A number is refused:
/// TOML gives `0o644` and `420` alike as the integer 420, so `mode = 444`
/// (meant as octal, read as 0o674) could not be told from a real octal.
fn deserialize_mode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let mode = deserialize_octal(deserializer)?;
    if mode > 0o777 {
        return Err(serde::de::Error::custom(format!(
            "mode {mode:#o} has bits beyond 0777 (setuid, setgid or sticky, or a decimal number); write it as \"0644\" or 0o644"
        )));
    }
    Ok(Some(mode))
}

/// A directory's mode: as [`deserialize_mode`], plus the sticky bit (a tmp
/// directory is `"1777"`); never setuid or setgid.
fn deserialize_dir_mode<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u32>, D::Error> {
    let mode = deserialize_octal(deserializer)?;
    if mode > 0o1777 {
        return Err(serde::de::Error::custom(format!(
            "mode {mode:#o} has bits beyond 01777 (setuid or setgid, or a decimal number); write it as \"0750\", or \"1777\" for a sticky tmp"
        )));
    }
    Ok(Some(mode))
}

fn deserialize_octal<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(i64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Number(n) => Err(serde::de::Error::custom(format!(
            "mode {n} is a number, which TOML cannot tell from an octal one (0o644 and 420 are the same integer); write the mode as text: \"0644\""
        ))),
        Raw::Text(text) => {
            let digits = text.strip_prefix("0o").unwrap_or(&text);
            let octal = !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
            octal
                .then(|| u32::from_str_radix(digits, 8).ok())
                .flatten()
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "mode {text:?} is not an octal number such as \"0644\""
                    ))
                })
        }
    }
}

/// Settings given on the command line; each one, when present, wins.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub name: Option<String>,
    pub bin: Option<String>,
    pub root: Option<String>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub timezone: Option<String>,
    pub services: Vec<ServiceKind>,
    /// `--arg` values replace the settings' `args` as a whole.
    pub args: Option<Vec<String>>,
}

impl Settings {
    /// The jail's name: `name`, else the binary's name with `-` made `_`
    /// (rc.d uses it as a shell variable prefix).
    pub fn jail_name(&self, bin: &str) -> String {
        self.name.clone().unwrap_or_else(|| bin.replace('-', "_"))
    }

    /// Where the daemon lives inside the jail.
    pub fn exec_path(&self, bin: &str) -> String {
        self.exec
            .clone()
            .unwrap_or_else(|| format!("/usr/local/sbin/{bin}"))
    }

    pub fn apply(mut self, overrides: &Overrides) -> Self {
        let pick = |flag: &Option<String>, setting: Option<String>| flag.clone().or(setting);
        self.name = pick(&overrides.name, self.name);
        self.bin = pick(&overrides.bin, self.bin);
        self.root = pick(&overrides.root, self.root);
        self.user = pick(&overrides.user, self.user);
        self.group = pick(&overrides.group, self.group);
        self.timezone = pick(&overrides.timezone, self.timezone);
        if !overrides.services.is_empty() {
            self.services = overrides.services.clone();
        }
        if let Some(args) = &overrides.args {
            self.args = args.clone();
        }
        self
    }
}

/// Where a `files` source is read on the build host.
pub fn source_path(source: &str, package_dir: &Path, sysroot: Option<&Path>) -> PathBuf {
    let path = Path::new(source);
    match (path.is_absolute(), sysroot) {
        (true, Some(root)) => root.join(path.strip_prefix("/").unwrap_or(path)),
        (true, None) => path.to_path_buf(),
        (false, _) => package_dir.join(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> Result<Settings> {
        Settings::from_package_metadata(&json!({ "jail": value }), Path::new("demo/Cargo.toml"))
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let err = parse(json!({ "nmae": "x" })).unwrap_err().to_string();
        assert!(err.contains("nmae"), "{err}");
        assert!(err.contains("demo/Cargo.toml"), "{err}");
    }

    #[test]
    fn unknown_key_in_a_files_entry_is_refused() {
        let err = parse(json!({ "files": [{ "source": "a", "dset": "/a" }] }))
            .unwrap_err()
            .to_string();
        assert!(err.contains("dset"), "{err}");
    }

    #[test]
    fn modes_are_octal_text_and_never_special_bits() {
        let s = parse(json!({ "files": [
            { "source": "a", "mode": "0640" },
            { "source": "b", "mode": "600" },
            { "source": "c", "mode": "0o755" },
        ] }))
        .unwrap();
        let modes: Vec<_> = s.files.iter().map(|f| f.mode).collect();
        assert_eq!(modes, [Some(0o640), Some(0o600), Some(0o755)]);
        for bad in [json!("4755"), json!(644), json!("rw-r--r--"), json!("+644")] {
            let err = parse(json!({ "files": [{ "source": "a", "mode": bad }] }));
            assert!(err.is_err(), "mode {bad} was accepted");
        }
    }

    #[test]
    fn a_decimal_mode_is_refused_not_read_as_octal_digits() {
        // Regression: `mode = 444` gave 0o674 (group-writable, executable).
        let err = parse(json!({ "files": [{ "source": "a", "mode": 444 }] }))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"0644\""), "{err}");
        let toml = "files = [{ source = \"a\", mode = 0o644 }]";
        assert!(toml::from_str::<Settings>(toml).is_err());
    }

    #[test]
    fn unknown_services_devices_and_presets_are_parse_errors() {
        for (key, bad) in [
            ("services", "netbsd"),
            ("devices", "sda"),
            ("presets", "dns"),
        ] {
            let err = parse(json!({ key: [bad] })).unwrap_err().to_string();
            assert!(
                err.contains(bad) && err.contains("demo/Cargo.toml"),
                "{err}"
            );
        }
        let s = parse(json!({
            "services": ["linux", "openbsd"],
            "devices": ["null", "urandom"],
            "presets": ["passwd"],
        }))
        .unwrap();
        assert_eq!(s.services, [ServiceKind::Systemd, ServiceKind::OpenBsd]);
        assert_eq!(s.devices, [DeviceName::Null, DeviceName::Urandom]);
        assert_eq!(s.presets, [Preset::Passwd]);
    }

    #[test]
    fn no_table_means_defaults() {
        let s = Settings::from_package_metadata(&json!(null), Path::new("Cargo.toml")).unwrap();
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn command_line_wins() {
        let s = parse(json!({ "name": "a", "user": "u", "args": ["x"] }))
            .unwrap()
            .apply(&Overrides {
                name: Some("b".into()),
                args: Some(vec!["y".into()]),
                ..Overrides::default()
            });
        assert_eq!(s.name.as_deref(), Some("b"));
        assert_eq!(s.user.as_deref(), Some("u"));
        assert_eq!(s.args, ["y"]);
    }

    #[test]
    fn templates_are_keyed_by_flavour_and_ids_are_numbers() {
        let s = parse(json!({ "templates": { "openbsd": "jail/d.rc" }, "uid": 539 })).unwrap();
        assert_eq!(s.templates.openbsd.as_deref(), Some("jail/d.rc"));
        assert_eq!((s.uid, s.gid), (Some(539), None));
        let err = parse(json!({ "templates": { "netbsd": "x" } }))
            .unwrap_err()
            .to_string();
        assert!(err.contains("netbsd"), "{err}");
        assert!(parse(json!({ "uid": "539" })).is_err());
        assert!(parse(json!({ "gid": -1 })).is_err());
    }

    #[test]
    fn presets_opt_ins_and_a_sticky_writable_directory() {
        let s = parse(json!({
            "presets": ["resolver"],
            "files": [{ "source": "k", "allow-secret": true, "allow-setid": true }],
            "writable": [{ "path": "/tmp", "mode": "1777" }],
        }))
        .unwrap();
        assert_eq!(s.presets, [Preset::Resolver]);
        assert!(s.files[0].allow_secret && s.files[0].allow_setid);
        assert_eq!(s.writable[0].mode, Some(0o1777));
        for bad in ["4750", "2750", "11777"] {
            let err = parse(json!({ "writable": [{ "path": "/d", "mode": bad }] }));
            assert!(err.is_err(), "writable mode {bad} was accepted");
        }
        let err = parse(json!({ "files": [{ "source": "a", "mode": "1644" }] }));
        assert!(err.is_err(), "a sticky file mode was accepted");
    }

    #[test]
    fn absolute_sources_stay_in_the_sysroot() {
        let dir = Path::new("/src/pkg");
        assert_eq!(
            source_path("/etc/hosts", dir, Some(Path::new("/sys/root"))),
            Path::new("/sys/root/etc/hosts")
        );
        assert_eq!(
            source_path("conf/a", dir, None),
            Path::new("/src/pkg/conf/a")
        );
    }
}
