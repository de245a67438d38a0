//! Each kind of need, from strace lines as recorded from real daemons
//! (paths shortened), through the trace reader, doctor and `needs`.

use super::*;
use crate::verify::trace::{self, Start};

const ENOENT: &str = "-1 ENOENT (No such file or directory)";
const EACCES: &str = "-1 EACCES (Permission denied)";

/// The needs of one process's trace, with a build host holding `files`
/// (and `dirs`) under a scratch root.
fn needs_of(lines: &[String], files: &[&str], dirs: &[&str]) -> Vec<Need> {
    needs_checked(lines, files, dirs, None)
}

/// [`needs_of`] for a run whose check failed, having begun at `since`.
fn needs_checked(
    lines: &[String],
    files: &[&str],
    dirs: &[&str],
    failed_check: Option<u64>,
) -> Vec<Need> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for file in files {
        let path = root.join(file.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x").unwrap();
    }
    for sub in dirs {
        std::fs::create_dir_all(root.join(sub.trim_start_matches('/'))).unwrap();
    }
    let traces = dir.path().join("trace");
    std::fs::create_dir(&traces).unwrap();
    let mut text =
        "execve(\"/usr/sbin/d\", [\"/usr/sbin/d\"], 0x7ffd /* 1 var */) = 0\n".to_string();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(traces.join("t.7"), text).unwrap();
    let events = trace::read(&traces.join("t"), Start::Exec("/usr/sbin/d")).unwrap();
    let host = FsRoot::new(&root);
    let diagnosis = doctor::diagnose(&events, &host);
    needs(&events, &diagnosis, &host, failed_check)
}

fn fixes(needs: &[Need]) -> Vec<String> {
    needs.iter().map(|n| n.fix.line()).collect()
}

#[test]
fn failed_creations_want_writable_directories_fatal_first() {
    let lines = [
        format!("openat(AT_FDCWD, \"/etc/ssl/openssl.cnf\", O_RDONLY) = {ENOENT}"),
        format!("mkdir(\"/tmp/d-xfr-7\", 0700) = {ENOENT}"),
        format!(
            "openat(AT_FDCWD, \"/var/lib/d/zones/zone.list\", O_RDWR|O_CREAT|O_APPEND, 0644) = {ENOENT}"
        ),
        format!("bind(3, {{sa_family=AF_UNIX, sun_path=\"/run/d/d.ctl\"}}, 110) = {EACCES}"),
        format!("rename(\"/var/db/d/new\", \"/var/db/d/state\") = {ENOENT}"),
        format!("openat(AT_FDCWD, \"/run/d/d.pid\", O_WRONLY|O_CREAT|O_TRUNC, 0644) = {EACCES}"),
        "+++ exited with 1 +++".to_string(),
    ];
    let needs = needs_of(&lines, &["/etc/ssl/openssl.cnf"], &[]);
    assert_eq!(
        fixes(&needs),
        [
            r#"writable = [{ path = "/tmp", mode = "1777" }]"#,
            r#"writable = [{ path = "/var/lib/d/zones" }]"#,
            r#"writable = [{ path = "/var/db/d" }]"#,
            // The socket and the pidfile: one need, met last at the pidfile.
            r#"writable = [{ path = "/run/d" }]"#,
            r#"presets = ["certificates"]"#,
        ],
        "{needs:#?}"
    );
    assert!(
        needs[..4]
            .iter()
            .all(|n| n.fatal && n.kind == Kind::Writable)
    );
    assert!(!needs[4].fatal);
}

#[test]
fn the_last_miss_before_a_failed_exit_is_fatal() {
    let lines = [
        format!("openat(AT_FDCWD, \"/etc/d/extra.conf\", O_RDONLY) = {ENOENT}"),
        format!("openat(AT_FDCWD, \"/dev/urandom\", O_RDONLY) = {ENOENT}"),
        "exit_group(1) = ?".to_string(),
        "+++ exited with 1 +++".to_string(),
    ];
    let needs = needs_of(&lines, &["/etc/d/extra.conf"], &[]);
    assert_eq!(
        fixes(&needs),
        [
            r#"devices = ["urandom"]"#,
            r#"files = [{ source = "/etc/d/extra.conf" }]"#
        ]
    );
    assert!(needs[0].fatal && !needs[1].fatal);
    assert_eq!(needs[0].kind, Kind::Device);
}

#[test]
fn lookups_plugins_presets_and_pam() {
    let lines = [
        format!("openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC) = {ENOENT}"),
        format!("openat(AT_FDCWD, \"/etc/group\", O_RDONLY|O_CLOEXEC) = {ENOENT}"),
        format!(
            "openat(AT_FDCWD, \"/usr/lib/d/modules\", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = {ENOENT}"
        ),
        format!(
            "openat(AT_FDCWD, \"/lib/x86_64-linux-gnu/libsasl2.so.2\", O_RDONLY|O_CLOEXEC) = {ENOENT}"
        ),
        format!(
            "openat(AT_FDCWD, \"/usr/share/zoneinfo/Europe/Paris\", O_RDONLY|O_CLOEXEC) = {ENOENT}"
        ),
        format!("openat(AT_FDCWD, \"/etc/resolv.conf\", O_RDONLY|O_CLOEXEC) = {ENOENT}"),
        format!("openat(AT_FDCWD, \"/etc/pam.d/ircd\", O_RDONLY) = {ENOENT}"),
        format!("openat(AT_FDCWD, \"/etc/pam.d/other\", O_RDONLY) = {ENOENT}"),
        format!("openat(AT_FDCWD, \"/etc/ssl/private/d.key\", O_RDONLY) = {ENOENT}"),
    ];
    let needs = needs_of(
        &lines,
        &[
            "/etc/passwd",
            "/etc/group",
            "/lib/x86_64-linux-gnu/libsasl2.so.2",
            "/usr/share/zoneinfo/Europe/Paris",
            "/etc/resolv.conf",
            "/etc/pam.d/ircd",
            "/etc/ssl/private/d.key",
        ],
        &["/usr/lib/d/modules"],
    );
    let got = fixes(&needs);
    for want in [
        r#"presets = ["passwd"]"#,
        r#"files = [{ source = "/usr/lib/d/modules" }]  # the whole directory"#,
        r#"libraries = ["libsasl2.so.2"]"#,
        r#"presets = ["timezone"]"#,
        r#"presets = ["resolver"]"#,
        r#"presets = ["pam"], pam-service = "ircd""#,
        r#"files = [{ source = "/etc/ssl/private/d.key", allow-secret = true }]"#,
    ] {
        assert!(got.iter().any(|g| g == want), "no {want} in {got:#?}");
    }
    // One passwd need for both lookups; `other` is libpam's fallback, no need.
    assert_eq!(got.iter().filter(|g| g.contains("passwd")).count(), 1);
    assert!(!got.iter().any(|g| g.contains("\"other\"")), "{got:#?}");
    let kinds: BTreeSet<Kind> = needs.iter().map(|n| n.kind).collect();
    for kind in [
        Kind::Accounts,
        Kind::Tree,
        Kind::Library,
        Kind::Preset,
        Kind::Pam,
        Kind::File,
    ] {
        assert!(kinds.contains(&kind), "{kind:?}: {needs:#?}");
    }
    let secret = needs.iter().find(|n| n.what.ends_with("d.key")).unwrap();
    assert!(matches!(&secret.fix, Fix::Decide { why, .. } if why.contains("secret")));
}

#[test]
fn a_device_probed_with_access_in_strace_padding_is_fatal() {
    // As recorded from a bouncer whose TLS library gives up at start:
    // strace pads these short calls to its result column.
    let lines = [
        "access(\"/dev/urandom\", R_OK)            = -1 ENOENT (No such file or directory)"
            .to_string(),
        "access(\"/dev/random\", R_OK)             = -1 ENOENT (No such file or directory)"
            .to_string(),
        "exit_group(-1)                          = ?".to_string(),
    ];
    let needs = needs_of(&lines, &[], &[]);
    assert_eq!(
        fixes(&needs),
        [r#"devices = ["random"]"#, r#"devices = ["urandom"]"#],
        "{needs:#?}"
    );
    assert!(needs[0].fatal && needs[0].kind == Kind::Device);
}

#[test]
fn a_plugin_directory_opened_with_a_slash_is_a_directory_source() {
    // As recorded from a bouncer listing its module directory: the path
    // ends in a slash, and something else it opened (chdir("/")) did too.
    let lines = [
        "chdir(\"/\")                              = 0".to_string(),
        format!(
            "openat(AT_FDCWD, \"/var/lib/d/modules/\", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = {ENOENT}"
        ),
        format!(
            "openat(AT_FDCWD, \"/usr/lib/d/\", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = {ENOENT}"
        ),
        "exit_group(-1)                          = ?".to_string(),
    ];
    let needs = needs_of(&lines, &[], &["/usr/lib/d"]);
    assert_eq!(
        fixes(&needs),
        [r#"files = [{ source = "/usr/lib/d" }]  # the whole directory"#],
        "{needs:#?}"
    );
    assert!(needs[0].fatal && needs[0].kind == Kind::Tree);
}

#[test]
fn a_state_file_opened_for_writing_wants_an_owner_in_the_daemons_directory() {
    // As recorded from a bouncer that locks its configuration (O_RDWR) in
    // its data directory, then makes its state directories there.
    let lines = [
        "newfstatat(AT_FDCWD, \"/var/lib/d/configs/d.conf\", {st_mode=S_IFREG|0644, st_size=325, ...}, 0) = 0".to_string(),
        format!("openat(AT_FDCWD, \"/var/lib/d/configs/d.conf\", O_RDWR|O_NOCTTY) = {EACCES}"),
        format!("mkdir(\"/var/lib/d/moddata\", 0700)      = {EACCES}"),
        format!("mkdir(\"/run/e\", 0755)                  = {EACCES}"),
        "exit_group(1)                           = ?".to_string(),
    ];
    let needs = needs_of(&lines, &[], &[]);
    assert_eq!(
        fixes(&needs),
        [
            r#"writable = [{ path = "/var/lib/d" }] and owner = "<the daemon's user>" on the files entry of "/var/lib/d/configs/d.conf""#,
            // The daemon's own directory, not each one it makes there.
            r#"writable = [{ path = "/var/lib/d" }]"#,
            // Under /run the directory it makes is its own.
            r#"writable = [{ path = "/run/e" }]"#,
        ],
        "{needs:#?}"
    );
    assert_eq!(needs[0].kind, Kind::Owned);
    assert!(needs.iter().all(|n| n.fatal));
}

#[test]
fn a_service_read_through_libpams_fallback_is_the_daemons_own() {
    // As recorded from an IRC server whose package ships no PAM file:
    // libpam reads `other` instead, whose modules the jail lacks.
    let lines = [
        format!("openat(AT_FDCWD, \"/etc/pam.d/ircd\", O_RDONLY) = {ENOENT}"),
        format!("openat(AT_FDCWD, \"/usr/lib/pam.d/ircd\", O_RDONLY) = {ENOENT}"),
        "openat(AT_FDCWD, \"/etc/pam.d/other\", O_RDONLY) = 4".to_string(),
        "openat(AT_FDCWD, \"/etc/pam.d/common-auth\", O_RDONLY) = 5".to_string(),
        format!(
            "openat(AT_FDCWD, \"/lib/x86_64-linux-gnu/security/pam_unix.so\", O_RDONLY|O_CLOEXEC) = {ENOENT}"
        ),
    ];
    let needs = needs_of(
        &lines,
        &[
            "/etc/pam.d/other",
            "/etc/pam.d/common-auth",
            "/lib/x86_64-linux-gnu/security/pam_unix.so",
        ],
        &[],
    );
    assert_eq!(
        fixes(&needs),
        [r#"presets = ["pam"], pam-service = "ircd""#],
        "{needs:#?}"
    );
}

#[test]
fn what_it_met_while_serving_a_failed_check_is_fatal_and_first() {
    // As recorded (strace -ttt) from an IRC server that stays up: a soft
    // miss at start, then, once the check's client came, the PAM service
    // it asked for. The daemon never exits: the check's failure tells.
    let lines = [
        format!("1764637200.100000 openat(AT_FDCWD, \"/etc/d/motd\", O_RDONLY) = {ENOENT}"),
        format!("1764637201.200000 openat(AT_FDCWD, \"/etc/pam.d/ircd\", O_RDONLY) = {ENOENT}"),
    ];
    let files = ["/etc/d/motd", "/etc/pam.d/ircd"];
    let since = Some(1_764_637_201_000_000);
    let needs = needs_checked(&lines, &files, &[], since);
    assert_eq!(
        fixes(&needs),
        [
            r#"presets = ["pam"], pam-service = "ircd""#,
            r#"files = [{ source = "/etc/d/motd" }]"#,
        ],
        "{needs:#?}"
    );
    assert!(needs[0].fatal && !needs[1].fatal, "{needs:#?}");
    // Without the failed check, nothing is fatal, in the order met.
    let needs = needs_checked(&lines, &files, &[], None);
    assert!(needs.iter().all(|n| !n.fatal), "{needs:#?}");
    assert_eq!(needs[0].what, "/etc/d/motd");
}

#[test]
fn a_file_refused_for_writing_in_a_shared_directory_is_no_owner_fix() {
    // Owning /var/lib or /etc would hand the daemon everyone's files.
    let lines = [
        format!("openat(AT_FDCWD, \"/var/lib/d.state\", O_RDWR) = {EACCES}"),
        format!("openat(AT_FDCWD, \"/etc/d.conf\", O_WRONLY|O_TRUNC) = {EACCES}"),
    ];
    let needs = needs_of(&lines, &["/var/lib/d.state", "/etc/d.conf"], &[]);
    assert!(
        needs
            .iter()
            .all(|n| !matches!(n.fix, Fix::Owner { .. } | Fix::Writable(..))),
        "{needs:#?}"
    );
}

#[test]
fn a_creation_outside_the_daemons_own_directories_is_a_persons_decision() {
    // Learn must never make the system's or everyone's directories
    // writable, nor one whose files the daemon runs (its plugins).
    let places = [
        (
            "openat(AT_FDCWD, \"/var/log/d.log\", O_WRONLY|O_CREAT|O_APPEND, 0640)",
            "/var/log",
        ),
        (
            "openat(AT_FDCWD, \"/var/d.lock\", O_RDWR|O_CREAT, 0600)",
            "/var",
        ),
        (
            "openat(AT_FDCWD, \"/srv/d.db\", O_RDWR|O_CREAT, 0600)",
            "/srv",
        ),
        (
            "openat(AT_FDCWD, \"/etc/ssl/d.new\", O_WRONLY|O_CREAT, 0600)",
            "/etc/ssl",
        ),
        (
            "openat(AT_FDCWD, \"/root/.ssh/known_hosts\", O_WRONLY|O_CREAT, 0600)",
            "/root/.ssh",
        ),
        (
            "openat(AT_FDCWD, \"/usr/lib/d/plugin.cache\", O_WRONLY|O_CREAT, 0644)",
            "/usr/lib/d",
        ),
        ("mkdir(\"/var/lib\", 0755)", "/var/lib"),
    ];
    for (call, dir) in places {
        let needs = needs_of(&[format!("{call} = {EACCES}")], &[], &[]);
        assert_eq!(needs.len(), 1, "{call}: {needs:#?}");
        let Fix::Decide { line, why } = &needs[0].fix else {
            panic!("{call}: proposed {:?}", needs[0].fix);
        };
        assert_eq!(
            line,
            &format!("writable = [{{ path = {dir:?} }}]"),
            "{call}"
        );
        assert!(why.contains("person's decision"), "{why}");
    }
    // A file opened for writing in a shared or code directory: no owner.
    for file in [
        "/usr/share/d.dat",
        "/usr/local/etc/d.conf",
        "/etc/ssl/private/d.key",
    ] {
        let line = format!("openat(AT_FDCWD, \"{file}\", O_RDWR) = {EACCES}");
        let needs = needs_of(&[line], &[file], &[]);
        assert!(
            needs
                .iter()
                .all(|n| !matches!(n.fix, Fix::Owner { .. } | Fix::Writable(..))),
            "{file}: {needs:#?}"
        );
    }
}

#[test]
fn a_missing_file_a_service_includes_is_no_service_of_its_own() {
    // The jail has /etc/pam.d/login but not the file it includes.
    let lines = [
        "openat(AT_FDCWD, \"/etc/pam.d/login\", O_RDONLY) = 4".to_string(),
        format!("openat(AT_FDCWD, \"/etc/pam.d/common-auth\", O_RDONLY) = {ENOENT}"),
    ];
    let needs = needs_of(&lines, &["/etc/pam.d/login", "/etc/pam.d/common-auth"], &[]);
    assert_eq!(
        fixes(&needs),
        [r#"presets = ["pam"], pam-service = "login""#],
        "{needs:#?}"
    );
}
