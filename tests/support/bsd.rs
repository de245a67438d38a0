//! The real rc.subr of OpenBSD and FreeBSD (`../shared/fixtures/rc.subr/`),
//! run on Linux as those systems run it: unchanged, with a clean
//! environment, rc.d scripts under their installed names, as root holding
//! the groups a BSD root holds. Commands those systems have and Debian
//! lacks are stand-ins (`standins/`, each behaving as its manual page
//! says); everything else is Debian's own.
//!
//! rc.subr and the scripts call some programs by absolute path
//! (`/usr/sbin/chroot`, `/usr/sbin/daemon`, `/bin/ps`, `/sbin/sysctl`) and
//! write host paths (`/var/run/rc.d/<name>`, `/var/run/<name>.pid`). Each
//! action runs in a private mount namespace (`unshare --mount`) where
//! read-only overlays put the stand-ins, rc.subr, the script and rc.conf
//! into `/usr/bin`, `/usr/sbin`, `/etc` and `/usr/local/etc`, and a scratch
//! folder is bind-mounted over `/run` (Debian's `/var/run`). The host's
//! files are never touched; the daemon lives on in its namespace.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{REPO, scratch};

/// Which BSD's rc.d framework.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bsd {
    OpenBsd,
    FreeBsd,
}

/// The groups root holds on the BSDs: wheel (0) and operator (5), which
/// FreeBSD's chroot(8) passes on unless told otherwise. Debian's root holds
/// none but its own, so the rc.d scripts run under `setpriv --groups`.
pub const BSD_ROOT_GROUPS: &str = "0,5";

/// One BSD "host": the layers and the /var/run of the scripts' runs.
pub struct BsdHost {
    dir: PathBuf,
    bsd: Bsd,
    /// The script's installed path, e.g. `/etc/rc.d/daytimed`.
    script: String,
    /// Folders bind-mounted onto themselves in each run (see
    /// [`BsdHost::mount_devfs_stand_in`]).
    devfs: Vec<PathBuf>,
}

/// Programs the BSD runs need on this host, with their Debian packages.
const NEEDED: [(&str, &str); 7] = [
    ("unshare", "util-linux"),
    ("setpriv", "util-linux"),
    ("mount", "mount"),
    ("python3", "python3"),
    ("mksh", "mksh"),
    ("dash", "dash"),
    ("bash", "bash"),
];

/// Why the BSD runs cannot happen here, if they cannot.
pub fn missing_tools() -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<String> = NEEDED
        .iter()
        .filter(|(tool, _)| !std::env::split_paths(&path).any(|d| d.join(tool).is_file()))
        .map(|(tool, package)| format!("{tool} (Debian package {package})"))
        .collect();
    (!missing.is_empty()).then(|| format!("not installed: {}", missing.join(", ")))
}

/// The stand-ins, by the name they are installed under and the layer
/// (`usr-bin` or `usr-sbin`) that puts them at their BSD path.
fn stand_ins(bsd: Bsd) -> Vec<(&'static str, &'static str, &'static str)> {
    match bsd {
        Bsd::OpenBsd => vec![
            ("usr-bin", "su", include_str!("standins/openbsd-su")),
            ("usr-bin", "pgrep", include_str!("standins/pgrep")),
            ("usr-bin", "pkill", include_str!("standins/pgrep")),
            ("usr-bin", "id", include_str!("standins/id")),
            ("usr-sbin", "getcap", include_str!("standins/getcap")),
            (
                "usr-sbin",
                "chroot",
                include_str!("standins/openbsd-chroot"),
            ),
        ],
        Bsd::FreeBsd => vec![
            ("usr-bin", "su", include_str!("standins/freebsd-su")),
            ("usr-bin", "ps", include_str!("standins/ps")),
            ("usr-bin", "limits", include_str!("standins/limits")),
            ("usr-bin", "kenv", include_str!("standins/kenv")),
            ("usr-bin", "pwait", include_str!("standins/pwait")),
            ("usr-sbin", "sysctl", include_str!("standins/sysctl")),
            ("usr-sbin", "daemon", include_str!("standins/daemon")),
            (
                "usr-sbin",
                "chroot",
                include_str!("standins/freebsd-chroot"),
            ),
        ],
    }
}

/// Debian programs the stand-ins call after hiding them.
const REAL: [&str; 3] = ["pgrep", "pkill", "id"];

impl BsdHost {
    /// Installs the rc.d script `name` (its text `script`) and, for
    /// FreeBSD, an /etc/rc.conf holding `rc_conf`.
    pub fn new(label: &str, bsd: Bsd, name: &str, script: &str, rc_conf: &str) -> BsdHost {
        let dir = scratch(label);
        for layer in ["usr-bin", "usr-sbin", "etc", "usr-local-etc", "real", "run"] {
            std::fs::create_dir_all(dir.join(layer)).unwrap();
        }
        let real = dir.join("real");
        for tool in REAL {
            std::fs::write(real.join(tool), "").unwrap();
        }
        let syslog = dir.join("syslog");
        for (layer, program, text) in stand_ins(bsd) {
            let text = text
                .replace("@REAL@", real.to_str().unwrap())
                .replace("@SYSLOG@", syslog.to_str().unwrap());
            write_mode(&dir.join(layer).join(program), &text, 0o755);
        }
        let (subr, subr_path, script_path) = match bsd {
            Bsd::OpenBsd => (
                "openbsd.rc.subr",
                "etc/rc.d/rc.subr",
                format!("etc/rc.d/{name}"),
            ),
            Bsd::FreeBsd => (
                "freebsd.rc.subr",
                "etc/rc.subr",
                format!("usr-local-etc/rc.d/{name}"),
            ),
        };
        let fixture = Path::new(REPO)
            .join("../shared/fixtures/rc.subr")
            .join(subr);
        let text = std::fs::read_to_string(&fixture).unwrap_or_else(|e| {
            panic!(
                "cannot read {} ({e}): the rc.subr fixtures live in ../shared beside the repository",
                fixture.display()
            )
        });
        write_mode(&dir.join(subr_path), &text, 0o444);
        write_mode(&dir.join(&script_path), script, 0o555);
        if bsd == Bsd::FreeBsd {
            write_mode(&dir.join("etc/rc.conf"), rc_conf, 0o644);
        }
        let script = match bsd {
            Bsd::OpenBsd => format!("/etc/rc.d/{name}"),
            Bsd::FreeBsd => format!("/usr/local/etc/rc.d/{name}"),
        };
        BsdHost {
            dir,
            bsd,
            script,
            devfs: Vec::new(),
        }
    }

    /// Makes `dev` (a jail's /dev holding device nodes) a mount point in
    /// every run, as a devfs mounted there would be, so that `umount` works
    /// on it there; the host's mounts stay as they are.
    pub fn mount_devfs_stand_in(&mut self, dev: &Path) {
        self.devfs.push(dev.to_path_buf());
    }

    /// The folder that is /var/run (and /run) during the runs.
    pub fn var_run(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// What the stand-ins sent to "syslog" (daemon(8)'s -S).
    pub fn syslog(&self) -> String {
        std::fs::read_to_string(self.dir.join("syslog")).unwrap_or_default()
    }

    /// Runs the script with `action` as the system would: OpenBSD's rc.d
    /// and rcctl(8) run it with /bin/ksh (mksh here), FreeBSD's service(8)
    /// with `env -i HOME=/ PATH=/sbin:/bin:/usr/sbin:/usr/bin` and /bin/sh
    /// (dash here); as root holding [`BSD_ROOT_GROUPS`].
    pub fn rc(&self, action: &str) -> Output {
        let d = self.dir.to_str().unwrap();
        let shell = match self.bsd {
            Bsd::OpenBsd => "/usr/bin/mksh",
            Bsd::FreeBsd => "/usr/bin/dash",
        };
        let mut mounts = format!("mount --bind '{d}/run' /run\n");
        for dev in &self.devfs {
            let dev = dev.to_str().unwrap();
            mounts += &format!("mount --bind '{dev}' '{dev}'\n");
        }
        for tool in REAL {
            mounts += &format!("mount --bind /usr/bin/{tool} '{d}/real/{tool}'\n");
        }
        for (layer, target) in [
            ("usr-bin", "/usr/bin"),
            ("usr-sbin", "/usr/sbin"),
            ("etc", "/etc"),
            ("usr-local-etc", "/usr/local/etc"),
        ] {
            mounts += &format!(
                "mount -t overlay jailpack-bsd -o 'lowerdir={d}/{layer}:{target}' {target}\n"
            );
        }
        let enter = format!(
            "set -e\n{mounts}exec /usr/bin/env -i HOME=/ PATH=/sbin:/bin:/usr/sbin:/usr/bin \
             /usr/bin/setpriv --groups={BSD_ROOT_GROUPS} -- {shell} {} \"$1\"\n",
            self.script
        );
        // Output goes to files, not pipes: a daemon started in the
        // background may hold them open for as long as it runs.
        let stdout = tempfile::NamedTempFile::new_in(&self.dir).unwrap();
        let stderr = tempfile::NamedTempFile::new_in(&self.dir).unwrap();
        let status = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(enter)
            .args(["enter", action])
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(stdout.reopen().unwrap())
            .stderr(stderr.reopen().unwrap())
            .status()
            .expect("cannot run unshare");
        Output {
            status,
            stdout: std::fs::read(stdout.path()).unwrap(),
            stderr: std::fs::read(stderr.path()).unwrap(),
        }
    }
}

impl Drop for BsdHost {
    /// Kills whatever still runs in the runs' mount namespaces (a test that
    /// failed half-way may leave daemon(8) or a daemon about to start): the
    /// namespaces are recognised by their bind mount of this host's /run.
    fn drop(&mut self) {
        let marker = format!(" {} /run ", self.var_run().display());
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if std::fs::read_to_string(entry.path().join("mountinfo"))
                .is_ok_and(|mounts| mounts.contains(&marker))
            {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

fn write_mode(path: &Path, text: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
