//! Service scripts rendered from `templates/`: an OpenBSD rc.d script, a
//! FreeBSD rc.d script and a systemd unit, each named exactly as installed.
//!
//! The templates are minijinja templates rendered with
//! [`UndefinedBehavior::Strict`], so a misspelt variable is an error rather
//! than an empty string. Every value that lands in a shell script or a unit
//! file goes through one of the filters registered here, which quote it for
//! the place it is used in (see [`render`] for the list, and the `quoting`
//! module for what each filter does and refuses).

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::quoting::{
    oneline, plist_field, sh_dq, sh_ident, sh_quote, sh_word, systemd_path, systemd_quote,
    systemd_text,
};
use crate::error::{Error, Result};
pub use crate::settings::ServiceKind;

/// Everything a service template may refer to. Paths are as seen on the
/// target: `jail_root` on the host, `exec` and `writable[].path` inside the jail.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceContext {
    /// The service name: rc.d script name, unit name, rcvar prefix.
    pub name: String,
    /// One line saying what the daemon is (from the package description).
    pub description: String,
    /// Where the jail lives on the target, e.g. `/var/jail/daytimed`.
    pub jail_root: String,
    /// The daemon's path inside the jail, e.g. `/usr/local/sbin/daytimed`.
    pub exec: String,
    /// The daemon's arguments, one element each (may hold spaces, quotes, `$`).
    pub args: Vec<String>,
    /// The user and group the daemon runs as.
    pub user: String,
    pub group: String,
    /// The daemon stays in the foreground (does not fork itself away).
    pub foreground: bool,
    /// Directories inside the jail the daemon may write to.
    pub writable: Vec<WritableDir>,
    /// The jail needs device nodes (FreeBSD: mount devfs before start).
    pub needs_devices: bool,
    /// systemd: the jail holds nothing below /tmp or /var/tmp, so the unit
    /// may mount private, empty ones there (`PrivateTmp=`), which would
    /// hide what it holds.
    pub private_tmp: bool,
    /// systemd: the one mode of the writable directories under /run, which
    /// are the unit's `RuntimeDirectory=` (`RuntimeDirectoryMode=`).
    pub runtime_directory_mode: Option<String>,
    /// The package version.
    pub version: String,
    /// The jail archive's file name, beside the `<flavour>/` folders, e.g.
    /// `daytimed-0.1.0-x86_64-unknown-linux-gnu.tar.gz`.
    pub archive: String,
    /// The daemon user's and group's numeric IDs, when the settings give
    /// them (`uid`, `gid`); `none` in a template otherwise.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// A directory inside the jail owned by the daemon's user.
#[derive(Debug, Clone, Serialize)]
pub struct WritableDir {
    /// In-jail absolute path, e.g. `/var/run/daytimed`.
    pub path: String,
    pub owner: String,
    pub group: String,
    /// Octal, e.g. `0750`.
    pub mode: String,
    /// Under /run: its path below /run (`nsd` of `/run/nsd`). systemd's
    /// unit mounts an empty /run in the jail, so there the directory is
    /// the unit's `RuntimeDirectory=`, made by systemd at each start.
    pub runtime_directory: Option<String>,
}

impl ServiceKind {
    /// The file name the script is written under, which is the name it is
    /// installed as: `<name>` for rc.d scripts, `<name>.service` for the unit.
    pub fn file_name(&self, name: &str) -> String {
        match self {
            ServiceKind::OpenBsd | ServiceKind::FreeBsd => name.to_string(),
            ServiceKind::Systemd => format!("{name}.service"),
        }
    }

    /// Where the script is installed on the target.
    pub fn install_path(&self, name: &str) -> String {
        match self {
            ServiceKind::OpenBsd => format!("/etc/rc.d/{name}"),
            ServiceKind::FreeBsd => format!("/usr/local/etc/rc.d/{name}"),
            ServiceKind::Systemd => format!("/etc/systemd/system/{name}.service"),
        }
    }

    /// The file mode to install the script with: rc.d scripts are
    /// executable, the unit is not.
    pub fn mode(&self) -> u32 {
        match self {
            ServiceKind::OpenBsd | ServiceKind::FreeBsd => 0o555,
            ServiceKind::Systemd => 0o644,
        }
    }
}

/// Renders the service script of `kind` for `ctx`, from the embedded
/// template or, when given, from a project's own template
/// (`(name for errors, template source)`).
///
/// The template sees the fields of [`ServiceContext`] as variables. Blocks
/// trim the newline after them (`trim_blocks`, `lstrip_blocks`), the final
/// newline is kept, nothing is HTML-escaped, and an undefined variable is an
/// error. These filters are registered, each quoting a value for the place
/// it lands in and failing the render (rather than emit something that
/// would misbehave) when a value cannot be represented there: `sh_quote`,
/// `sh_dq`, `sh_word`, `sh_ident`, `oneline`, `systemd_quote`,
/// `systemd_path`, `systemd_text` and `plist_field`. Their contracts are
/// documented in `src/emit/quoting.rs`.
pub fn render(
    kind: ServiceKind,
    ctx: &ServiceContext,
    custom_template: Option<(&str, &str)>,
) -> Result<String> {
    let (name, source) =
        custom_template.unwrap_or((crate::templates::name(kind), crate::templates::source(kind)));
    render_template(name, source, ctx)
}

/// Renders `source` (called `name` in errors) with the environment, filters
/// and strictness of [`render`], for any serializable context.
pub(crate) fn render_template<C: Serialize>(name: &str, source: &str, ctx: &C) -> Result<String> {
    let template_error = |source: minijinja::Error| Error::Template {
        template: name.to_string(),
        source,
    };
    let env = environment().map_err(template_error)?;
    env.render_named_str(name, source, Value::from(Serde(ctx)))
        .map_err(template_error)
}

/// The template environment: strict about undefined values, no escaping,
/// block-friendly whitespace, and the quoting filters.
fn environment() -> std::result::Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()?,
    );
    env.add_filter("sh_quote", sh_quote);
    env.add_filter("sh_dq", sh_dq);
    env.add_filter("sh_word", sh_word);
    env.add_filter("sh_ident", sh_ident);
    env.add_filter("oneline", oneline);
    env.add_filter("systemd_quote", systemd_quote);
    env.add_filter("systemd_path", systemd_path);
    env.add_filter("systemd_text", systemd_text);
    env.add_filter("plist_field", plist_field);
    Ok(env)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use minijinja::ErrorKind;

    /// The demo daemon's context, with one writable directory.
    pub(in crate::emit) fn demo() -> ServiceContext {
        ServiceContext {
            name: "daytimed".into(),
            description: "Tells the time of day (RFC 867)".into(),
            jail_root: "/var/jail/daytimed".into(),
            exec: "/usr/local/sbin/daytimed".into(),
            args: vec!["--listen".into(), "localhost:8013".into()],
            user: "_daytimed".into(),
            group: "_daytimed".into(),
            foreground: true,
            writable: vec![WritableDir {
                path: "/var/run/daytimed".into(),
                owner: "_daytimed".into(),
                group: "_daytimed".into(),
                mode: "0750".into(),
                runtime_directory: None,
            }],
            needs_devices: false,
            private_tmp: true,
            runtime_directory_mode: None,
            version: "0.1.0".into(),
            archive: "daytimed-0.1.0-x86_64-unknown-openbsd.tar.gz".into(),
            uid: None,
            gid: None,
        }
    }

    fn render_ok(kind: ServiceKind, ctx: &ServiceContext) -> String {
        match render(kind, ctx, None) {
            Ok(text) => text,
            Err(e) => panic!(
                "{kind} template failed: {e}: {:?}",
                std::error::Error::source(&e)
            ),
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    fn has_line(text: &str, line: &str) -> bool {
        text.lines().any(|l| l == line)
    }

    fn assert_line(text: &str, line: &str) {
        assert!(has_line(text, line), "missing line {line:?} in:\n{text}");
    }

    // ---- ServiceKind ----

    #[test]
    fn kind_names_paths_and_modes() {
        assert_eq!(ServiceKind::parse("openbsd"), Some(ServiceKind::OpenBsd));
        assert_eq!(ServiceKind::parse("freebsd"), Some(ServiceKind::FreeBsd));
        assert_eq!(ServiceKind::parse("systemd"), Some(ServiceKind::Systemd));
        assert_eq!(ServiceKind::parse("linux"), Some(ServiceKind::Systemd));
        assert_eq!(ServiceKind::parse("OpenBSD"), Some(ServiceKind::OpenBsd));
        assert_eq!(ServiceKind::parse("netbsd"), None);
        assert_eq!(ServiceKind::parse(""), None);
        for kind in ServiceKind::ALL {
            assert_eq!(ServiceKind::parse(kind.as_str()), Some(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(ServiceKind::OpenBsd.file_name("daytimed"), "daytimed");
        assert_eq!(ServiceKind::FreeBsd.file_name("daytimed"), "daytimed");
        assert_eq!(
            ServiceKind::Systemd.file_name("daytimed"),
            "daytimed.service"
        );
        assert_eq!(
            ServiceKind::OpenBsd.install_path("daytimed"),
            "/etc/rc.d/daytimed"
        );
        assert_eq!(
            ServiceKind::FreeBsd.install_path("daytimed"),
            "/usr/local/etc/rc.d/daytimed"
        );
        assert_eq!(
            ServiceKind::Systemd.install_path("daytimed"),
            "/etc/systemd/system/daytimed.service"
        );
        assert_eq!(ServiceKind::OpenBsd.mode(), 0o555);
        assert_eq!(ServiceKind::FreeBsd.mode(), 0o555);
        assert_eq!(ServiceKind::Systemd.mode(), 0o644);
    }

    // ---- the demo daemon ----

    #[test]
    fn openbsd_script_for_the_demo() {
        let ctx = demo();
        let text = render_ok(ServiceKind::OpenBsd, &ctx);
        let all = lines(&text);
        assert_eq!(all[0], "#!/bin/ksh");
        assert!(
            text.contains("generated by jailpack for daytimed"),
            "{text}"
        );
        assert!(text.contains("/var/jail/daytimed"), "{text}");
        assert_line(&text, "daemon=\"/usr/local/sbin/daytimed\"");
        assert_line(&text, "daemon_flags=\"--listen localhost:8013\"");
        assert_line(&text, ". /etc/rc.d/rc.subr");
        assert_line(&text, "rc_bg=YES");
        assert_line(&text, "rc_reload=NO");
        assert_line(
            &text,
            "\trc_exec \"/usr/sbin/chroot -u _daytimed -g _daytimed /var/jail/daytimed ${daemon} ${daemon_flags}\"",
        );
        assert_line(&text, "rc_pre() {");
        assert_line(&text, "\t[ -d /var/jail/daytimed/var/run/daytimed ] ||");
        assert_line(
            &text,
            "\t\tinstall -d -o _daytimed -g _daytimed -m 0750 /var/jail/daytimed/var/run/daytimed ||",
        );
        assert_eq!(all.last().copied(), Some("rc_cmd $1"));
        assert!(text.ends_with("rc_cmd $1\n"));
        // chroot(8) needs root: the jail user must not become daemon_user,
        // and pexp is left to rc.subr.
        for l in &all {
            let code = l.trim_start();
            assert!(!code.starts_with("daemon_user="), "daemon_user set: {l}");
            assert!(!code.starts_with("pexp="), "pexp set: {l}");
            assert!(
                !code.starts_with("daemon_timeout="),
                "daemon_timeout set: {l}"
            );
        }
        // rcctl(8) sources the script: nothing but assignments, function
        // definitions and the final rc_cmd may run at top level.
        assert_top_level_has_no_side_effects(&text);
    }

    /// Top-level lines of a generated OpenBSD script are comments,
    /// assignments, `. rc.subr`, function bodies or the final `rc_cmd $1`.
    fn assert_top_level_has_no_side_effects(text: &str) {
        let mut in_function = false;
        for l in text.lines() {
            if in_function {
                in_function = l != "}";
                continue;
            }
            if l.ends_with("() {") {
                in_function = true;
                continue;
            }
            let ok = l.is_empty()
                || l.starts_with('#')
                || l == ". /etc/rc.d/rc.subr"
                || l == "rc_cmd $1"
                || l.split_once('=').is_some_and(|(var, _)| {
                    !var.is_empty() && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            assert!(ok, "top-level line with possible side effects: {l:?}");
        }
    }

    #[test]
    fn openbsd_script_for_a_forking_daemon_without_writable_dirs() {
        let mut ctx = demo();
        ctx.foreground = false;
        ctx.writable.clear();
        let text = render_ok(ServiceKind::OpenBsd, &ctx);
        assert!(!has_line(&text, "rc_bg=YES"), "{text}");
        assert!(!text.contains("rc_pre()"), "{text}");
        assert!(text.ends_with("rc_cmd $1\n"));
    }

    #[test]
    fn freebsd_script_for_the_demo() {
        let ctx = demo();
        let text = render_ok(ServiceKind::FreeBsd, &ctx);
        let all = lines(&text);
        assert_eq!(all[0], "#!/bin/sh");
        assert!(
            text.contains("generated by jailpack for daytimed"),
            "{text}"
        );
        assert_line(&text, "# PROVIDE: daytimed");
        assert_line(&text, "# REQUIRE: LOGIN NETWORKING");
        assert_line(&text, "# KEYWORD: shutdown");
        assert_line(&text, ". /etc/rc.subr");
        assert_line(&text, "name=daytimed");
        assert_line(&text, "rcvar=daytimed_enable");
        assert_line(&text, "load_rc_config \"$name\"");
        assert_line(&text, ": \"${daytimed_enable:=NO}\"");
        assert_line(&text, ": \"${daytimed_chroot:=/var/jail/daytimed}\"");
        assert_line(&text, ": \"${daytimed_user:=_daytimed}\"");
        assert_line(&text, ": \"${daytimed_group:=_daytimed}\"");
        assert_line(&text, ": \"${daytimed_flags:=}\"");
        assert_line(&text, "command=/usr/local/sbin/daytimed");
        assert_line(&text, "command_args=\"--listen localhost:8013\"");
        // Foreground: daemon(8) detaches it and keeps a pidfile on the host.
        assert_line(&text, "pidfile=\"/var/run/${name}.pid\"");
        assert_line(&text, "start_cmd=\"${name}_start\"");
        assert_line(&text, "supervisor_pidfile=\"/var/run/${name}.daemon.pid\"");
        assert_line(
            &text,
            "\t    /usr/sbin/daemon -f -S -T \"${name}\" -t \"${name}\" \\",
        );
        assert_line(
            &text,
            "\t    -p \"${pidfile}\" -P \"${supervisor_pidfile}\" \\",
        );
        // chroot(8) sets supplementary groups only with -G: without it the
        // daemon would keep root's (wheel, operator).
        assert_line(&text, ": \"${daytimed_groups:=_daytimed}\"");
        assert_line(
            &text,
            "\t    -G \"${daytimed_groups}\" \"${daytimed_chroot}\" \"${command}\" \"$@\" ||",
        );
        // start waits for the pidfile, stop for daemon(8) to let go of it.
        assert_line(
            &text,
            "\twhile [ -z \"$(check_pidfile \"${pidfile}\" \"${command}\")\" ]; do",
        );
        assert_line(&text, "stop_postcmd=\"${name}_poststop\"");
        assert_line(
            &text,
            "\twhile [ -n \"$(check_pidfile \"${supervisor_pidfile}\" /usr/sbin/daemon)\" ]; do",
        );
        assert_line(&text, "\t[ -d \"${daytimed_chroot}\"/var/run/daytimed ] ||");
        assert_line(
            &text,
            "\t    install -d -o _daytimed -g _daytimed -m 0750 \"${daytimed_chroot}\"/var/run/daytimed ||",
        );
        assert!(!text.contains("devfs"), "no devices asked for:\n{text}");
        assert_eq!(all.last().copied(), Some("run_rc_command \"$1\""));
    }

    #[test]
    fn freebsd_script_for_a_forking_daemon_with_devices() {
        let mut ctx = demo();
        ctx.foreground = false;
        ctx.needs_devices = true;
        let text = render_ok(ServiceKind::FreeBsd, &ctx);
        // rc.subr's own chroot start runs it; no daemon(8), no pidfile.
        assert!(!text.contains("start_cmd="), "{text}");
        assert!(!text.contains("/usr/sbin/daemon"), "{text}");
        assert!(!text.contains("pidfile="), "{text}");
        assert!(!text.contains("check_pidfile"), "{text}");
        // rc.subr's own chroot start passes -G from daytimed_groups.
        assert_line(&text, ": \"${daytimed_groups:=_daytimed}\"");
        assert_line(&text, ": \"${daytimed_devfs_ruleset:=devfsrules_jail}\"");
        assert_line(
            &text,
            "\t\tdevfs_domount \"${daytimed_chroot}/dev\" \"${daytimed_devfs_ruleset}\" || return 1",
        );
        assert_line(&text, "stop_postcmd=\"${name}_poststop\"");
        assert_line(&text, "\t\tumount \"${daytimed_chroot}/dev\"");
    }

    #[test]
    fn systemd_unit_for_the_demo() {
        let ctx = demo();
        let text = render_ok(ServiceKind::Systemd, &ctx);
        assert!(text.starts_with('#'));
        assert!(
            text.contains("generated by jailpack for daytimed"),
            "{text}"
        );
        for line in [
            "[Unit]",
            "Description=Tells the time of day (RFC 867)",
            "After=network.target",
            "[Service]",
            "Type=simple",
            "RootDirectory=/var/jail/daytimed",
            "ExecStart=/usr/local/sbin/daytimed --listen localhost:8013",
            "User=_daytimed",
            "Group=_daytimed",
            "ReadWritePaths=/var/jail/daytimed/var/run/daytimed",
            "NoNewPrivileges=yes",
            "CapabilityBoundingSet=",
            "SystemCallFilter=@system-service",
            "SystemCallErrorNumber=EPERM",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "PrivateDevices=yes",
            "RestrictNamespaces=yes",
            "LockPersonality=yes",
            "MemoryDenyWriteExecute=yes",
            "RestrictRealtime=yes",
            "RestrictSUIDSGID=yes",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectKernelLogs=yes",
            "ProtectControlGroups=yes",
            "ProtectClock=yes",
            "ProtectHostname=yes",
            "Restart=on-failure",
            "[Install]",
            "WantedBy=multi-user.target",
        ] {
            assert_line(&text, line);
        }
        let mut forking = demo();
        forking.foreground = false;
        let text = render_ok(ServiceKind::Systemd, &forking);
        assert_line(&text, "Type=forking");
    }

    #[test]
    fn undefined_variable_in_a_custom_template_names_the_template() {
        let source = "#!/bin/sh\necho {{ name }} {{ no_such_setting }}\n";
        let err = render(
            ServiceKind::FreeBsd,
            &demo(),
            Some(("jail/my-service.rc", source)),
        )
        .expect_err("undefined variable must fail");
        match &err {
            Error::Template { template, source } => {
                assert_eq!(template, "jail/my-service.rc");
                assert_eq!(source.kind(), ErrorKind::UndefinedError);
            }
            other => panic!("wrong error: {other:?}"),
        }
        assert!(err.to_string().contains("jail/my-service.rc"), "{err}");
    }

    #[test]
    fn custom_template_renders_with_the_filters() {
        let source = "{{ name }}: {{ args | map('sh_quote') | join(' ') }}\n";
        let mut ctx = demo();
        ctx.args.push("a b".into());
        let text = render(ServiceKind::OpenBsd, &ctx, Some(("custom", source))).unwrap();
        assert_eq!(text, "daytimed: --listen localhost:8013 'a b'\n");
    }

    #[test]
    fn values_that_rc_subr_cannot_take_fail_the_render() {
        let mut ctx = demo();
        ctx.name = "day-timed".into();
        let err = render(ServiceKind::FreeBsd, &ctx, None).expect_err("bad rc.d name");
        assert!(
            matches!(&err, Error::Template { template, .. } if template == "templates/freebsd.rc")
        );
        let err = render(ServiceKind::OpenBsd, &ctx, None).expect_err("bad rc.d name");
        assert!(
            matches!(&err, Error::Template { template, .. } if template == "templates/openbsd.rc")
        );
        let mut ctx = demo();
        ctx.jail_root = "/var/jail/day timed".into();
        assert!(render(ServiceKind::FreeBsd, &ctx, None).is_err());
        let mut ctx = demo();
        ctx.description = "ends in a backslash \\".into();
        assert!(render(ServiceKind::Systemd, &ctx, None).is_err());
    }
}
