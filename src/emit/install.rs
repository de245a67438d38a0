//! What an admin or a porter needs next to a service script: per-flavour
//! install notes (`<flavour>/INSTALL`: create the user and group, extract
//! the jail, install the script, enable and start it) and, for OpenBSD
//! ports, a PLIST fragment (`openbsd/PLIST`: `@newgroup`, `@newuser`,
//! `@rcscript`).
//!
//! Both are rendered from `templates/` with the same context as the service
//! scripts ([`ServiceContext`]) plus where the script goes, so the user,
//! group, jail root, archive name and script name always agree with the
//! scripts and the tarball. They use the embedded templates only (a
//! project's `templates` setting replaces the service scripts, not these).
//!
//! Numeric IDs: ports register a fixed ID per daemon user in
//! `/usr/ports/infrastructure/db/user.list`, which jailpack cannot know. The
//! `uid` and `gid` settings give them; without them the INSTALL notes let
//! `useradd` pick one and the PLIST fragment holds `<uid>` / `<gid>`
//! placeholders (with an `@comment` saying so): not numbers, so the
//! fragment cannot be used by mistake before a porter fills them in.

use std::path::Path;

use serde::Serialize;

use super::service::{ServiceContext, ServiceKind, render_template};
use crate::error::Result;

/// The install notes' file name, in each flavour's folder.
pub const INSTALL_FILE: &str = "INSTALL";
/// The ports fragment's file name, in the `openbsd` folder.
pub const PLIST_FILE: &str = "PLIST";

/// The service context plus where the script is and where it goes.
#[derive(Debug, Clone, Serialize)]
pub struct InstallContext<'a> {
    #[serde(flatten)]
    pub service: &'a ServiceContext,
    /// The script relative to the output directory, e.g. `openbsd/daytimed`.
    pub script: String,
    /// Where it is installed, e.g. `/etc/rc.d/daytimed`.
    pub install_path: String,
    /// Its mode there, in octal, e.g. `0555`.
    pub install_mode: String,
    /// Owners and groups of writable directories other than the daemon's
    /// own user and group, sorted, each once.
    pub other_accounts: Vec<String>,
}

impl<'a> InstallContext<'a> {
    pub fn new(kind: ServiceKind, service: &'a ServiceContext) -> Self {
        let script = Path::new(kind.as_str()).join(kind.file_name(&service.name));
        let mut other_accounts: Vec<String> = service
            .writable
            .iter()
            .flat_map(|dir| [&dir.owner, &dir.group])
            .filter(|account| **account != service.user && **account != service.group)
            .cloned()
            .collect();
        other_accounts.sort();
        other_accounts.dedup();
        InstallContext {
            service,
            script: script.display().to_string(),
            install_path: kind.install_path(&service.name),
            install_mode: format!("{:04o}", kind.mode()),
            other_accounts,
        }
    }
}

/// Renders `<flavour>/INSTALL` for `kind`.
pub fn install_notes(kind: ServiceKind, service: &ServiceContext) -> Result<String> {
    let (name, source) = match kind {
        ServiceKind::OpenBsd => (
            "templates/openbsd.install",
            include_str!("../../templates/openbsd.install"),
        ),
        ServiceKind::FreeBsd => (
            "templates/freebsd.install",
            include_str!("../../templates/freebsd.install"),
        ),
        ServiceKind::Systemd => (
            "templates/systemd.install",
            include_str!("../../templates/systemd.install"),
        ),
    };
    render_template(name, source, &InstallContext::new(kind, service))
}

/// Renders `openbsd/PLIST`, the ports packing-list fragment.
pub fn plist_fragment(service: &ServiceContext) -> Result<String> {
    render_template(
        "templates/openbsd.plist",
        include_str!("../../templates/openbsd.plist"),
        &InstallContext::new(ServiceKind::OpenBsd, service),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::service::WritableDir;
    use crate::error::Error;

    /// The service tests' demo, without writable directories.
    fn demo() -> ServiceContext {
        let mut ctx = crate::emit::service::tests::demo();
        ctx.writable.clear();
        ctx
    }

    /// Every setting used: IDs, a separate group, writable directories
    /// owned by others, devices, a forking daemon, a path with a space.
    fn everything() -> ServiceContext {
        let mut ctx = demo();
        ctx.uid = Some(812);
        ctx.gid = Some(813);
        ctx.group = "_timekeepers".into();
        ctx.jail_root = "/var/jail/day timed".into();
        ctx.foreground = false;
        ctx.needs_devices = true;
        ctx.writable = vec![
            WritableDir {
                path: "/var/db/daytimed".into(),
                owner: "_daytimed".into(),
                group: "_timekeepers".into(),
                mode: "0750".into(),
                runtime_directory: None,
            },
            WritableDir {
                path: "/var/log/daytimed".into(),
                owner: "_log".into(),
                group: "_timekeepers".into(),
                mode: "0750".into(),
                runtime_directory: None,
            },
        ];
        ctx
    }

    /// The install commands: the lines indented by four spaces.
    fn commands(notes: &str) -> Vec<&str> {
        notes
            .lines()
            .filter_map(|l| l.strip_prefix("    "))
            .filter(|l| !l.starts_with(' '))
            .collect()
    }

    fn notes(kind: ServiceKind, ctx: &ServiceContext) -> String {
        match install_notes(kind, ctx) {
            Ok(text) => text,
            Err(e) => panic!(
                "{kind} INSTALL failed: {e}: {:?}",
                std::error::Error::source(&e)
            ),
        }
    }

    #[test]
    fn openbsd_install_notes_for_the_demo() {
        let text = notes(ServiceKind::OpenBsd, &demo());
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("Installing daytimed 0.1.0 on OpenBSD"));
        assert_eq!(lines.next(), Some("=".repeat(36).as_str()));
        assert_eq!(
            commands(&text),
            [
                "groupadd _daytimed",
                "useradd -g _daytimed -c 'daytimed daemon' -d /var/empty -s /sbin/nologin _daytimed",
                "tar -xzpf daytimed-0.1.0-x86_64-unknown-openbsd.tar.gz -C /",
                "install -o root -g wheel -m 0555 openbsd/daytimed /etc/rc.d/daytimed",
                "rcctl enable daytimed",
                "rcctl start daytimed",
            ]
        );
        assert!(
            text.contains("restores owners by user and group name"),
            "{text}"
        );
        assert!(!text.contains("Skip groupadd"), "{text}");
        assert!(text.ends_with("after every OpenBSD upgrade.\n"), "{text}");
    }

    #[test]
    fn freebsd_install_notes_for_the_demo() {
        let text = notes(ServiceKind::FreeBsd, &demo());
        assert_eq!(
            commands(&text),
            [
                "pw groupadd -n _daytimed",
                "pw useradd -n _daytimed -g _daytimed -c 'daytimed daemon' -d /nonexistent -s /usr/sbin/nologin",
                "tar -xzpf daytimed-0.1.0-x86_64-unknown-openbsd.tar.gz -C /",
                "install -o root -g wheel -m 0555 freebsd/daytimed /usr/local/etc/rc.d/daytimed",
                "sysrc daytimed_enable=YES",
                "service daytimed start",
            ]
        );
        assert!(text.contains("/var/run/daytimed.pid"), "{text}");
        assert!(!text.contains("devfs"), "{text}");
    }

    #[test]
    fn systemd_install_notes_for_the_demo() {
        let text = notes(ServiceKind::Systemd, &demo());
        assert_eq!(
            commands(&text),
            [
                "sha256sum -c daytimed-0.1.0-x86_64-unknown-openbsd.tar.gz.sha256",
                "groupadd --system _daytimed",
                "useradd --system --gid _daytimed --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --comment 'daytimed daemon' _daytimed",
                "tar -xzpf daytimed-0.1.0-x86_64-unknown-openbsd.tar.gz -C /",
                "install -o root -g root -m 0644 systemd/daytimed.service /etc/systemd/system/daytimed.service",
                "systemctl daemon-reload",
                "systemctl enable --now daytimed.service",
            ]
        );
    }

    #[test]
    fn install_notes_with_every_setting() {
        let ctx = everything();
        let openbsd = notes(ServiceKind::OpenBsd, &ctx);
        let cmds = commands(&openbsd);
        assert_eq!(cmds[0], "groupadd -g 813 _timekeepers");
        assert_eq!(
            cmds[1],
            "useradd -u 812 -g _timekeepers -c 'daytimed daemon' -d /var/empty -s /sbin/nologin _daytimed"
        );
        assert!(openbsd.contains("Skip groupadd if the group _timekeepers exists already."));
        assert!(openbsd.contains("also belong to _log:"), "{openbsd}");
        assert!(
            openbsd.contains("missing: /var/db/daytimed, /var/log/daytimed.\n"),
            "{openbsd}"
        );
        let freebsd = notes(ServiceKind::FreeBsd, &ctx);
        let cmds = commands(&freebsd);
        assert_eq!(cmds[0], "pw groupadd -n _timekeepers -g 813");
        assert!(cmds[1].starts_with("pw useradd -n _daytimed -u 812 -g _timekeepers "));
        assert!(freebsd.contains("mounts devfs(8)"), "{freebsd}");
        assert!(freebsd.contains("looks for the daemon's path"), "{freebsd}");
        let systemd = notes(ServiceKind::Systemd, &ctx);
        let cmds = commands(&systemd);
        assert_eq!(cmds[1], "groupadd --system --gid 813 _timekeepers");
        assert!(cmds[2].starts_with("useradd --system --uid 812 --gid _timekeepers "));
    }

    #[test]
    fn install_commands_pass_shellcheck() {
        let dir = tempfile::tempdir().unwrap();
        for (label, ctx) in [("demo", demo()), ("everything", everything())] {
            for kind in ServiceKind::ALL {
                let text = notes(kind, &ctx);
                let script = format!("#!/bin/sh\nset -e\n{}\n", commands(&text).join("\n"));
                let path = dir.path().join(format!("{label}.{kind}.sh"));
                std::fs::write(&path, &script).unwrap();
                let out = match std::process::Command::new("shellcheck")
                    .args(["-s", "sh"])
                    .arg(&path)
                    .output()
                {
                    Ok(out) => out,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        println!(
                            "SKIPPED: shellcheck is not installed (Debian package: shellcheck)"
                        );
                        return;
                    }
                    Err(e) => panic!("cannot run shellcheck: {e}"),
                };
                assert!(
                    out.status.success(),
                    "shellcheck on the {kind} INSTALL commands ({label}):\n{}\n{script}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
        }
    }

    #[test]
    fn plist_fragment_with_ids() {
        let mut ctx = demo();
        ctx.uid = Some(812);
        ctx.gid = Some(812);
        let text = plist_fragment(&ctx).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("@comment"))
            .collect();
        assert_eq!(
            lines,
            [
                "@newgroup _daytimed:812",
                "@newuser _daytimed:812:_daytimed::daytimed daemon:/var/empty:/sbin/nologin",
                "@rcscript ${RCDIR}/daytimed",
            ]
        );
        assert!(!text.contains("placeholder"), "{text}");
        assert!(text.lines().all(|l| l.starts_with('@')), "{text}");
    }

    #[test]
    fn plist_fragment_without_ids_holds_placeholders_and_says_so() {
        let text = plist_fragment(&demo()).unwrap();
        assert!(text.contains("\n@newgroup _daytimed:<gid>\n"), "{text}");
        assert!(
            text.contains(
                "\n@newuser _daytimed:<uid>:_daytimed::daytimed daemon:/var/empty:/sbin/nologin\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("@comment <uid> and <gid> are placeholders"),
            "{text}"
        );
        assert!(text.contains("user.list"), "{text}");
        assert!(text.lines().all(|l| l.starts_with('@')), "{text}");
        // A gid alone still leaves the uid to fill in.
        let mut ctx = demo();
        ctx.gid = Some(812);
        let text = plist_fragment(&ctx).unwrap();
        assert!(text.contains("\n@newgroup _daytimed:812\n"), "{text}");
        assert!(text.contains(":<uid>:"), "{text}");
    }

    #[test]
    fn a_field_that_would_break_the_plist_fails_the_render() {
        let mut ctx = demo();
        ctx.user = "_day:timed".into();
        match plist_fragment(&ctx) {
            Err(Error::Template { template, .. }) => {
                assert_eq!(template, "templates/openbsd.plist")
            }
            other => panic!("expected a template error, got {other:?}"),
        }
    }
}
