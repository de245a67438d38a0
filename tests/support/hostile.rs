//! Hostile archives for verify and doctor, written header by header (the
//! `tar` builder refuses `..` and absolute names: an attacker's tool does
//! not), manifests written as JSON, and a canary: host files outside any
//! scratch folder, with a random secret, that a jail must never reach.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flate2::write::GzEncoder;
use tar::EntryType;

use super::{both, host_triple, scratch, shared_scratch, xtask_binary};

/// A `.tar.gz` written entry by entry, names and links exactly as given.
pub struct HostileArchive {
    pub path: PathBuf,
    builder: tar::Builder<GzEncoder<File>>,
}

impl HostileArchive {
    pub fn new(path: PathBuf) -> HostileArchive {
        let file = File::create(&path).unwrap();
        let builder = tar::Builder::new(GzEncoder::new(file, flate2::Compression::fast()));
        HostileArchive { path, builder }
    }

    fn entry(
        mut self,
        name: &[u8],
        kind: EntryType,
        mode: u32,
        link: &[u8],
        data: &[u8],
        device: Option<(u32, u32)>,
    ) -> Self {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        header.set_username("root").unwrap();
        header.set_groupname("root").unwrap();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        if let Some((major, minor)) = device {
            header.set_device_major(major).unwrap();
            header.set_device_minor(minor).unwrap();
        }
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    pub fn dir(self, name: &str) -> Self {
        self.entry(name.as_bytes(), EntryType::Directory, 0o755, b"", b"", None)
    }

    pub fn file(self, name: &[u8], mode: u32, data: &[u8]) -> Self {
        self.entry(name, EntryType::Regular, mode, b"", data, None)
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(
            name.as_bytes(),
            EntryType::Symlink,
            0o777,
            target.as_bytes(),
            b"",
            None,
        )
    }

    pub fn hard_link(self, name: &str, target: &str) -> Self {
        self.entry(
            name.as_bytes(),
            EntryType::Link,
            0o644,
            target.as_bytes(),
            b"",
            None,
        )
    }

    pub fn device(self, name: &str, kind: EntryType, major: u32, minor: u32) -> Self {
        self.entry(name.as_bytes(), kind, 0o666, b"", b"", Some((major, minor)))
    }

    pub fn fifo(self, name: &str) -> Self {
        self.entry(name.as_bytes(), EntryType::Fifo, 0o644, b"", b"", None)
    }

    /// A raw record: a GNU long-name record of `size` zero bytes, say.
    pub fn record(mut self, kind: EntryType, size: usize) -> Self {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        header.set_size(size as u64);
        header.set_cksum();
        self.builder
            .append(&header, std::io::repeat(0).take(size as u64))
            .unwrap();
        self
    }

    pub fn finish(self) -> PathBuf {
        self.builder.into_inner().unwrap().finish().unwrap();
        self.path
    }
}

/// A Linux manifest for the host's architecture; `files` are (path, size).
pub fn manifest(
    jail_root: &str,
    exec: &str,
    args: &[&str],
    user: &str,
    group: &str,
    files: &[(&str, u64)],
) -> serde_json::Value {
    let files: Vec<_> = files
        .iter()
        .map(|(path, size)| {
            serde_json::json!({"path": path, "sha256": "0".repeat(64), "role": "file",
                "size": size, "mode": "0644"})
        })
        .collect();
    serde_json::json!({
        "name": "hostile", "version": "1", "target": host_triple(), "os": "linux",
        "loader": "glibc", "jail_root": jail_root, "exec": exec, "args": args,
        "user": user, "group": group, "files": files,
    })
}

/// A folder anyone may read, for one case's archive and manifest.
pub fn case_dir(name: &str) -> PathBuf {
    shared_scratch(&format!("hostile-{name}"))
}

/// Writes `manifest` beside `archive` under the name verify looks for.
pub fn write_manifest(archive: &Path, manifest: &serde_json::Value) {
    let name = archive.file_name().unwrap().to_str().unwrap();
    let json = archive.with_file_name(name.strip_suffix(".tar.gz").unwrap().to_string() + ".json");
    std::fs::write(json, serde_json::to_vec_pretty(manifest).unwrap()).unwrap();
}

/// Host files a jail must never reach: a secret file (mode 0600) owned by
/// the host's `daemon` account (uid 1), the one hostile manifests name, and
/// one owned by nobody (65534), the one verify runs as, each alone in a
/// folder of its owner's. A jail that escapes as either identity could
/// read or write them.
pub struct Canary {
    pub dir: PathBuf,
    pub secret: String,
}

pub const CANARY_OWNERS: [(&str, u32); 2] = [("daemon", 1), ("nobody", 65534)];

impl Canary {
    pub fn new(name: &str) -> Canary {
        let dir = shared_scratch(&format!("canary-{name}"));
        let mut random = [0u8; 16];
        File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut random)
            .unwrap();
        let secret: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let secret = format!("canary-{secret}");
        for (owner, id) in CANARY_OWNERS {
            let folder = dir.join(owner);
            std::fs::create_dir(&folder).unwrap();
            let file = folder.join("secret");
            std::fs::write(&file, &secret).unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
            std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).unwrap();
            std::os::unix::fs::chown(&file, Some(id), Some(id)).unwrap();
            std::os::unix::fs::chown(&folder, Some(id), Some(id)).unwrap();
        }
        Canary { dir, secret }
    }

    /// The secret files, as absolute host paths.
    pub fn files(&self) -> Vec<String> {
        CANARY_OWNERS
            .iter()
            .map(|(owner, _)| self.dir.join(owner).join("secret").display().to_string())
            .collect()
    }

    /// A new file's path in each owner's folder (where an escape would write).
    pub fn would_be_written(&self) -> Vec<String> {
        CANARY_OWNERS
            .iter()
            .map(|(owner, _)| self.dir.join(owner).join("pwned").display().to_string())
            .collect()
    }

    /// Asserts the files are as made, nothing was added beside them, and
    /// the secret is nowhere in `report`.
    pub fn assert_untouched(&self, report: &str) {
        assert!(
            !report.contains(&self.secret),
            "the canary's secret leaked:\n{report}"
        );
        for (owner, _) in CANARY_OWNERS {
            let folder = self.dir.join(owner);
            let names: Vec<String> = std::fs::read_dir(&folder)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names, ["secret"], "{} changed:\n{report}", folder.display());
            let mode = std::fs::metadata(folder.join("secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o7777, 0o600, "{report}");
            assert_eq!(
                std::fs::read_to_string(folder.join("secret")).unwrap(),
                self.secret
            );
        }
    }
}

/// A TMPDIR of the test's own, to see what a run leaves behind.
pub fn own_tmpdir(name: &str) -> PathBuf {
    scratch(&format!("tmpdir-{name}"))
}

/// Asserts that nothing is left in `tmpdir`.
pub fn assert_empty(tmpdir: &Path, report: &str) {
    let left: Vec<PathBuf> = std::fs::read_dir(tmpdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind in TMPDIR: {left:?}\n{report}");
}

/// `xtask jail ARGS...` with TMPDIR set to `tmpdir` and a clean
/// environment; with `peak_rss`, under `/usr/bin/time -v`, whose report
/// gives the peak resident set size, returned in KiB.
pub fn xtask_in(tmpdir: &Path, args: &[&str], peak_rss: bool) -> (Output, Option<u64>) {
    let report = tmpdir.with_extension("time");
    let mut command = if peak_rss {
        let time = Path::new("/usr/bin/time");
        assert!(
            time.is_file(),
            "install GNU time (apt-get install time) to measure peak memory"
        );
        let mut command = Command::new(time);
        command.arg("-v").arg("-o").arg(&report).arg(xtask_binary());
        command
    } else {
        Command::new(xtask_binary())
    };
    let output = command
        .arg("jail")
        .args(args)
        .current_dir("/")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("TMPDIR", tmpdir)
        .output()
        .expect("cannot run xtask");
    let rss = peak_rss.then(|| {
        let text = std::fs::read_to_string(&report).unwrap();
        text.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Maximum resident set size (kbytes): ")
            })
            .and_then(|kb| kb.trim().parse().ok())
            .unwrap_or_else(|| panic!("no peak RSS in:\n{text}\n{}", both(&output)))
    });
    (output, rss)
}

/// A `.tar.gz` holding the directory `j` and `j/zero`, `size` zero bytes,
/// written by streaming a zero buffer into the compressor: a few MiB that
/// unpack to `size`.
pub fn zero_bomb(path: &Path, size: u64) {
    let file = File::create(path).unwrap();
    let mut gz = GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(EntryType::Directory);
    dir.set_path("j").unwrap();
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_cksum();
    gz.write_all(dir.as_bytes()).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(EntryType::Regular);
    header.set_path("j/zero").unwrap();
    header.set_mode(0o644);
    header.set_size(size);
    header.set_cksum();
    gz.write_all(header.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        gz.write_all(&zeros[..n]).unwrap();
        left -= n as u64;
    }
    // Padding to a whole block, then the two empty blocks that end a tar.
    let padding = (512 - size % 512) % 512;
    gz.write_all(&zeros[..padding as usize + 1024]).unwrap();
    gz.finish().unwrap().flush().unwrap();
}
