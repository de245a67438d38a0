//! Service scripts rendered from `templates/`: an OpenBSD rc.d script, a
//! FreeBSD rc.d script and a systemd unit, each named exactly as installed.
//!
//! The templates are minijinja templates rendered with
//! [`UndefinedBehavior::Strict`], so a misspelt variable is an error rather
//! than an empty string. Every value that lands in a shell script or a unit
//! file goes through one of the filters registered here, which quote it for
//! the place it is used in (see [`render`] for the list).

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use serde::Serialize;

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

    /// The name of the embedded template, used in error messages.
    fn template_name(&self) -> &'static str {
        match self {
            ServiceKind::OpenBsd => "templates/openbsd.rc",
            ServiceKind::FreeBsd => "templates/freebsd.rc",
            ServiceKind::Systemd => "templates/systemd.service",
        }
    }

    /// The embedded template's source.
    fn template_source(&self) -> &'static str {
        match self {
            ServiceKind::OpenBsd => include_str!("../../templates/openbsd.rc"),
            ServiceKind::FreeBsd => include_str!("../../templates/freebsd.rc"),
            ServiceKind::Systemd => include_str!("../../templates/systemd.service"),
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
/// error. These filters are registered; each fails the render (rather than
/// emit something that would misbehave) when a value cannot be represented:
///
/// - `sh_quote`: one shell word for POSIX sh and ksh: unchanged when made of
///   `A-Za-z0-9_./:@%+=,-` only, else in single quotes with `'` as `'\''`.
/// - `sh_dq`: escapes `\`, `"`, `$` and `` ` `` for use inside a
///   double-quoted shell string (e.g. `daemon_flags="{{ ... | sh_dq }}"`).
/// - `sh_word`: the value unchanged, or an error unless it is a plain word
///   (as above): for values that rc.subr expands unquoted.
/// - `sh_ident`: the value unchanged, or an error unless it is a shell
///   variable name (`[A-Za-z_][A-Za-z0-9_]*`): for rc.d names.
/// - `oneline`: whitespace runs (newlines too) and control characters become
///   one space, trimmed: for comments and descriptions.
/// - `systemd_quote`: one `ExecStart=` word: unchanged when plain (as above
///   without `%`), else in double quotes with `\` and `"` backslash-escaped,
///   control characters C-escaped, `$` as `$$` and `%` as `%%`.
/// - `systemd_path`: one path in a space-separated list such as
///   `ReadWritePaths=`: like `systemd_quote` but `$` stays as is (no
///   environment expansion there) and control characters are refused.
/// - `systemd_text`: a whole single-valued setting (`Description=`,
///   `RootDirectory=`, `User=`): `%` as `%%`; control characters and a
///   trailing backslash (a line continuation) are refused.
/// - `plist_field`: one `:`-separated field of an OpenBSD packing-list
///   annotation (`@newuser`): unchanged, or an error if it holds a `:`, a
///   control character or leading or trailing blanks.
pub fn render(
    kind: ServiceKind,
    ctx: &ServiceContext,
    custom_template: Option<(&str, &str)>,
) -> Result<String> {
    let (name, source) = custom_template.unwrap_or((kind.template_name(), kind.template_source()));
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

/// A filter's refusal, naming the filter and the value.
fn refuse(filter: &str, value: &str, why: &str) -> minijinja::Error {
    minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("{filter}: cannot use {value:?}: {why}"),
    )
}

/// Characters that no POSIX shell or ksh treats specially inside a word
/// (not first in a command). `~`, globs, braces, quotes, `$`, `` ` ``,
/// `\`, `;`, `&`, `|`, `<`, `>`, `(`, `)`, `#`, `!` and blanks are not among them.
fn is_sh_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_./:@%+=,-".contains(c)
}

fn is_sh_plain_word(value: &str) -> bool {
    !value.is_empty() && value.chars().all(is_sh_plain)
}

/// POSIX single-quote quoting, safe for /bin/sh and OpenBSD ksh alike.
fn sh_quote(value: &str) -> std::result::Result<String, minijinja::Error> {
    if value.contains('\0') {
        return Err(refuse(
            "sh_quote",
            value,
            "a shell word cannot hold a NUL byte",
        ));
    }
    if is_sh_plain_word(value) {
        return Ok(value.to_string());
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Ok(out)
}

/// Escapes the characters that stay special inside shell double quotes.
fn sh_dq(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A value rc.subr will expand unquoted (and so split and glob): it must be
/// one plain word.
fn sh_word(value: &str) -> std::result::Result<String, minijinja::Error> {
    if is_sh_plain_word(value) {
        Ok(value.to_string())
    } else {
        Err(refuse(
            "sh_word",
            value,
            "rc.subr expands it unquoted, so it must be a non-empty word of letters, digits and _ . / : @ % + = , -",
        ))
    }
}

/// A name used to build shell variable names (`<name>_enable`, `<name>_flags`).
fn sh_ident(value: &str) -> std::result::Result<String, minijinja::Error> {
    let mut chars = value.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(value.to_string())
    } else {
        Err(refuse(
            "sh_ident",
            value,
            "rc.d service names become shell variable names: use letters, digits and _, not starting with a digit",
        ))
    }
}

/// One line of text: safe inside a comment or a single-line setting.
fn oneline(value: &str) -> String {
    let spaced: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Characters that need no quoting in a systemd command line or path list.
fn is_systemd_plain(c: char) -> bool {
    c != '%' && is_sh_plain(c)
}

/// One word of an `ExecStart=` command line, following systemd.syntax(7)
/// quoting and systemd.service(5) `$`/`%` expansion rules.
fn systemd_quote(value: &str) -> std::result::Result<String, minijinja::Error> {
    if !value.is_empty() && value.chars().all(is_systemd_plain) {
        return Ok(value.to_string());
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\0' => {
                return Err(refuse(
                    "systemd_quote",
                    value,
                    "a command-line argument cannot hold a NUL byte",
                ));
            }
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("$$"),
            '%' => out.push_str("%%"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let code = u32::from(c);
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02x}"));
                } else {
                    out.push_str(&format!("\\u{code:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// One path in a space-separated path list (`ReadWritePaths=`).
fn systemd_path(value: &str) -> std::result::Result<String, minijinja::Error> {
    if value.chars().any(char::is_control) {
        return Err(refuse(
            "systemd_path",
            value,
            "a path in a unit file cannot hold control characters",
        ));
    }
    if !value.is_empty() && value.chars().all(is_systemd_plain) {
        return Ok(value.to_string());
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// A whole single-valued unit setting, taken literally apart from `%` specifiers.
fn systemd_text(value: &str) -> std::result::Result<String, minijinja::Error> {
    if value.chars().any(char::is_control) {
        return Err(refuse(
            "systemd_text",
            value,
            "a unit file setting cannot hold control characters",
        ));
    }
    if value.ends_with('\\') {
        return Err(refuse(
            "systemd_text",
            value,
            "a unit file setting cannot end with a backslash (it would continue onto the next line)",
        ));
    }
    Ok(value.replace('%', "%%"))
}

/// One field of a `:`-separated packing-list annotation.
fn plist_field(value: &str) -> std::result::Result<String, minijinja::Error> {
    if value.contains(':') || value.chars().any(char::is_control) || value.trim() != value {
        return Err(refuse(
            "plist_field",
            value,
            "a packing-list field cannot hold ':', control characters or surrounding blanks",
        ));
    }
    Ok(value.to_string())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

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
            }],
            needs_devices: false,
            version: "0.1.0".into(),
            archive: "daytimed-0.1.0-x86_64-unknown-openbsd.tar.gz".into(),
            uid: None,
            gid: None,
        }
    }

    /// Arguments that a careless template would split, expand or execute.
    fn hostile_args() -> Vec<String> {
        [
            "--listen",
            "localhost:8013",
            "two words",
            "it's",
            "say \"hi\"",
            "$HOME",
            "${HOME}",
            "`id`",
            "$(id)",
            "a;b",
            "&",
            "| cat",
            "*",
            "~",
            "{a,b}",
            "100%",
            "%h",
            "back\\slash",
            "#hash",
            "tab\there",
            "-n",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
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

    /// Runs a program if it is installed; `None` (after saying so) if not.
    fn run(program: &str, args: &[&str]) -> Option<std::process::Output> {
        match Command::new(program).args(args).output() {
            Ok(out) => Some(out),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                println!(
                    "SKIPPED: {program} is not installed (Debian package: {})",
                    debian_package(program)
                );
                None
            }
            Err(e) => panic!("cannot run {program}: {e}"),
        }
    }

    fn debian_package(program: &str) -> &'static str {
        match program {
            "shellcheck" => "shellcheck",
            "mksh" => "mksh",
            "systemd-analyze" => "systemd",
            _ => "dash",
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write test file");
        path
    }

    fn stdout_lines(out: &std::process::Output, what: &str) -> Vec<String> {
        assert!(
            out.status.success(),
            "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
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

    // ---- filters ----

    #[test]
    fn sh_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(sh_quote("localhost:8013").unwrap(), "localhost:8013");
        assert_eq!(
            sh_quote("--listen=a,b@c%d+e").unwrap(),
            "--listen=a,b@c%d+e"
        );
        assert_eq!(sh_quote("").unwrap(), "''");
        assert_eq!(sh_quote("two words").unwrap(), "'two words'");
        assert_eq!(sh_quote("it's").unwrap(), "'it'\\''s'");
        assert_eq!(sh_quote("$HOME").unwrap(), "'$HOME'");
        assert_eq!(sh_quote("~").unwrap(), "'~'");
        assert_eq!(sh_quote("{a,b}").unwrap(), "'{a,b}'");
        assert!(sh_quote("nul\0byte").is_err());
        assert_eq!(sh_dq("'$x' \"`y`\" \\"), "'\\$x' \\\"\\`y\\`\\\" \\\\");
    }

    #[test]
    fn sh_word_and_sh_ident_refuse_what_rc_subr_would_mangle() {
        assert_eq!(sh_word("/var/jail/daytimed").unwrap(), "/var/jail/daytimed");
        assert!(sh_word("/var/jail/day timed").is_err());
        assert!(sh_word("").is_err());
        assert!(sh_word("$x").is_err());
        assert_eq!(sh_ident("daytimed_2").unwrap(), "daytimed_2");
        assert!(sh_ident("day-timed").is_err());
        assert!(sh_ident("2daytimed").is_err());
        assert!(sh_ident("").is_err());
    }

    #[test]
    fn oneline_flattens_whitespace_and_control_characters() {
        assert_eq!(oneline("  Tells\nthe\ttime\r\n\x07 "), "Tells the time");
        assert_eq!(oneline(""), "");
    }

    #[test]
    fn systemd_quote_follows_systemd_rules() {
        assert_eq!(systemd_quote("localhost:8013").unwrap(), "localhost:8013");
        assert_eq!(systemd_quote("").unwrap(), "\"\"");
        assert_eq!(systemd_quote("two words").unwrap(), "\"two words\"");
        assert_eq!(systemd_quote("say \"hi\"").unwrap(), "\"say \\\"hi\\\"\"");
        assert_eq!(systemd_quote("it's").unwrap(), "\"it's\"");
        assert_eq!(systemd_quote("$HOME").unwrap(), "\"$$HOME\"");
        assert_eq!(systemd_quote("${HOME}").unwrap(), "\"$${HOME}\"");
        assert_eq!(systemd_quote("100%").unwrap(), "\"100%%\"");
        assert_eq!(systemd_quote("%h").unwrap(), "\"%%h\"");
        assert_eq!(systemd_quote("back\\slash").unwrap(), "\"back\\\\slash\"");
        assert_eq!(systemd_quote(";").unwrap(), "\";\"");
        assert_eq!(systemd_quote("a\nb\tc\x01").unwrap(), "\"a\\nb\\tc\\x01\"");
        assert!(systemd_quote("nul\0").is_err());
        assert_eq!(systemd_path("/var/jail/x/run").unwrap(), "/var/jail/x/run");
        assert_eq!(
            systemd_path("/var/jail/a b/$x%").unwrap(),
            "\"/var/jail/a b/$x%%\""
        );
        assert!(systemd_path("/a\nb").is_err());
        assert_eq!(systemd_text("50% of %n").unwrap(), "50%% of %%n");
        assert!(systemd_text("line\nbreak").is_err());
        assert!(systemd_text("trailing\\").is_err());
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
        assert_line(
            &text,
            "\t    /usr/sbin/daemon -f -S -T \"${name}\" -p \"${pidfile}\" \\",
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
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
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

    // ---- quoting through real shells ----

    /// The shells to run the BSD scripts' quoting through: dash as /bin/sh,
    /// and mksh for OpenBSD's ksh when installed.
    fn shells() -> Vec<&'static str> {
        let mut found = vec![];
        for shell in ["sh", "mksh"] {
            if run(shell, &["-c", ":"]).is_some() {
                found.push(shell);
            }
        }
        found
    }

    /// The command line the OpenBSD script gives su(1) (which hands it to
    /// `/bin/sh -c`) and rc.subr's default pexp, printed word by word by a
    /// stand-in rc.subr, with dash and mksh (for OpenBSD's ksh) on both sides.
    #[test]
    fn openbsd_quoting_survives_a_real_shell() {
        let dir = tempfile::tempdir().unwrap();
        // A stand-in rc.subr: rc_exec hands its command string to a shell,
        // as su -c does, and prints the words that shell sees; rc_cmd runs
        // rc_start, then prints rc.subr's default pexp, built as rc.subr
        // builds it (daemon and daemon_flags through `eval echo`).
        let mock = write(
            dir.path(),
            "rc.subr",
            "rc_exec() {\n\
             \t\"$INNER_SH\" -c \"_words() { for _w; do printf '%s\\n' \\\"\\$_w\\\"; done; }; _words $1\"\n\
             }\n\
             rc_cmd() {\n\
             \trc_start\n\
             \tprintf 'pexp=%s\\n' \"$(eval echo ${daemon}${daemon_flags:+ ${daemon_flags}})\"\n\
             }\n",
        );
        // pgrep -xf compares pexp with the jailed process's argv joined by
        // spaces. rc.subr's unquoted `eval echo` loses empty arguments,
        // turns tabs and runs of blanks into one space, brace-expands in
        // ksh, and some shells' echo rewrites backslashes, so pexp is
        // checked on arguments without those (an rc.subr limitation, not
        // the script's: the daemon itself gets every argument intact).
        let representable: Vec<String> = hostile_args()
            .into_iter()
            .filter(|a| !a.is_empty() && !a.contains(['\\', '\t', '\n', '{']) && !a.contains("  "))
            .collect();
        for (args, check_pexp) in [(hostile_args(), false), (representable, true)] {
            let mut ctx = demo();
            ctx.args = args;
            let script = render_ok(ServiceKind::OpenBsd, &ctx);
            let harness = script.replace(". /etc/rc.d/rc.subr", &format!(". {}", mock.display()));
            assert_ne!(harness, script, "the script must source /etc/rc.d/rc.subr");
            let harness = write(dir.path(), "daytimed", &harness);

            let mut expected: Vec<String> = [
                "/usr/sbin/chroot",
                "-u",
                "_daytimed",
                "-g",
                "_daytimed",
                "/var/jail/daytimed",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            expected.push(ctx.exec.clone());
            expected.extend(ctx.args.iter().cloned());
            let expected_pexp = format!("pexp={}", expected[6..].join(" "));

            for outer in shells() {
                for inner in shells() {
                    let inner_path = if inner == "sh" { "/bin/sh" } else { inner };
                    let out = Command::new(outer)
                        .arg(&harness)
                        .arg("start")
                        .env("INNER_SH", inner_path)
                        .output()
                        .unwrap();
                    let what = format!("{outer} running the OpenBSD script, {inner} as su's shell");
                    let mut words = stdout_lines(&out, &what);
                    let pexp = words.pop().expect("pexp line");
                    assert_eq!(words, expected, "argv seen by chroot(8): {what}");
                    if check_pexp {
                        assert_eq!(pexp, expected_pexp, "{what}");
                    }
                }
            }
        }
    }

    /// The FreeBSD script's arguments as rc.subr evaluates them: through the
    /// script's own daemon(8) start for a foreground daemon, through
    /// rc.subr's built-in `chroot -u -g` command line for a forking one.
    #[test]
    fn freebsd_quoting_survives_a_real_shell() {
        let dir = tempfile::tempdir().unwrap();
        // A jail on this machine, so the script's `-x ${chroot}${command}` check passes.
        let jail = dir.path().join("jail");
        let sbin = jail.join("usr/local/sbin");
        std::fs::create_dir_all(&sbin).unwrap();
        let daemon = write(&sbin, "daytimed", "#!/bin/sh\n");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&daemon, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let jail = jail.to_str().unwrap().to_string();
        // A stand-in rc.subr: limits(1) prints the command line it was
        // given; run_rc_command runs start_cmd, or else evaluates rc.subr's
        // own chroot command line (`chroot -u -g $_chroot $command $rc_flags
        // $command_args`, all expanded inside one eval).
        let mock = write(
            dir.path(),
            "rc.subr",
            "load_rc_config() { :; }\n\
             warn() { echo \"warning: $*\" >&2; }\n\
             startmsg() { :; }\n\
             limits() { for _w; do printf '%s\\n' \"$_w\"; done; }\n\
             run_rc_command() {\n\
             \teval \"rc_flags=\\${${name}_flags}\"\n\
             \tif [ -n \"${start_cmd}\" ]; then\n\
             \t\teval \"${start_cmd}\"\n\
             \telse\n\
             \t\teval \"_chroot=\\${${name}_chroot} _user=\\${${name}_user} _group=\\${${name}_group}\"\n\
             \t\teval \"limits -C daemon chroot -u $_user -g $_group $_chroot $command $rc_flags $command_args\"\n\
             \tfi\n\
             }\n",
        );
        for foreground in [true, false] {
            let mut ctx = demo();
            ctx.args = hostile_args();
            ctx.jail_root = jail.clone();
            ctx.foreground = foreground;
            let script = render_ok(ServiceKind::FreeBsd, &ctx);
            let harness = script.replace(". /etc/rc.subr", &format!(". {}", mock.display()));
            assert_ne!(harness, script, "the script must source /etc/rc.subr");
            let harness = write(dir.path(), "daytimed", &harness);
            let mut expected: Vec<String> = vec!["-C".into(), "daemon".into()];
            if foreground {
                for w in [
                    "/usr/sbin/daemon",
                    "-f",
                    "-S",
                    "-T",
                    "daytimed",
                    "-p",
                    "/var/run/daytimed.pid",
                    "/usr/sbin/chroot",
                ] {
                    expected.push(w.into());
                }
            } else {
                expected.push("chroot".into());
            }
            for w in [
                "-u",
                "_daytimed",
                "-g",
                "_daytimed",
                &jail,
                "/usr/local/sbin/daytimed",
            ] {
                expected.push(w.into());
            }
            for shell in shells() {
                // An admin's extra flags from rc.conf come first, then the
                // built-in arguments, each word intact.
                for admin_flags in [None, Some("-v --name 'x y'")] {
                    let mut cmd = Command::new(shell);
                    cmd.arg(&harness).arg("start");
                    let mut want = expected.clone();
                    if let Some(flags) = admin_flags {
                        cmd.env("daytimed_flags", flags);
                        want.extend(["-v", "--name", "x y"].iter().map(|s| s.to_string()));
                    }
                    want.extend(ctx.args.iter().cloned());
                    let out = cmd.output().unwrap();
                    let words = stdout_lines(
                        &out,
                        &format!("{shell} running the FreeBSD script (foreground: {foreground})"),
                    );
                    assert_eq!(
                        words, want,
                        "{shell}, foreground: {foreground}, flags: {admin_flags:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn systemd_exec_start_keeps_every_argument_intact() {
        let mut ctx = demo();
        ctx.args = hostile_args();
        let text = render_ok(ServiceKind::Systemd, &ctx);
        let exec_start = text
            .lines()
            .find(|l| l.starts_with("ExecStart="))
            .expect("ExecStart line");
        assert_eq!(
            exec_start,
            "ExecStart=/usr/local/sbin/daytimed --listen localhost:8013 \"two words\" \"it's\" \
             \"say \\\"hi\\\"\" \"$$HOME\" \"$${HOME}\" \"`id`\" \"$$(id)\" \"a;b\" \"&\" \"| cat\" \"*\" \"~\" \
             \"{a,b}\" \"100%%\" \"%%h\" \"back\\\\slash\" \"#hash\" \"tab\\there\" -n \"\""
        );
    }

    // ---- linters ----

    /// Contexts that between them reach every branch of the templates.
    fn variants() -> Vec<(&'static str, ServiceContext)> {
        let mut hostile = demo();
        hostile.args = hostile_args();
        hostile.description = "Line one\nline \"two\" with $HOME and `id` and 100%".into();
        hostile.writable.push(WritableDir {
            path: "/var/db/day timed's".into(),
            owner: "_daytimed".into(),
            group: "wheel".into(),
            mode: "0700".into(),
        });
        let mut forking = demo();
        forking.foreground = false;
        forking.needs_devices = true;
        let mut bare = demo();
        bare.args.clear();
        bare.writable.clear();
        bare.description.clear();
        vec![
            ("demo", demo()),
            ("hostile", hostile),
            ("forking", forking),
            ("bare", bare),
        ]
    }

    fn lint(program: &str, args: &[&str], file: &Path) -> Option<()> {
        let mut all: Vec<&str> = args.to_vec();
        let file = file.to_str().unwrap();
        all.push(file);
        let out = run(program, &all)?;
        assert!(
            out.status.success(),
            "{program} {args:?} found problems in {file}:\n{}{}\n--- the script:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(file).unwrap_or_default()
        );
        Some(())
    }

    #[test]
    fn shellcheck_and_shells_accept_the_rc_scripts() {
        let dir = tempfile::tempdir().unwrap();
        for (label, ctx) in variants() {
            let openbsd = write(
                dir.path(),
                &format!("{label}.openbsd"),
                &render_ok(ServiceKind::OpenBsd, &ctx),
            );
            let freebsd = write(
                dir.path(),
                &format!("{label}.freebsd"),
                &render_ok(ServiceKind::FreeBsd, &ctx),
            );
            lint("shellcheck", &["-s", "ksh"], &openbsd);
            lint("shellcheck", &["-s", "sh"], &freebsd);
            lint("mksh", &["-n"], &openbsd);
            lint("mksh", &["-n"], &freebsd);
            lint("sh", &["-n"], &freebsd);
        }
    }

    /// `systemd-analyze verify` of the rendered unit. systemd 252 checks
    /// that the ExecStart= binary exists on the host, not under
    /// RootDirectory=, so the unit is verified with `--root` set to a jail
    /// holding the binary, the unit and a copy of the host's units.
    #[test]
    fn systemd_analyze_verifies_the_unit() {
        if run("systemd-analyze", &["--version"]).is_none() {
            return;
        }
        let host_units = ["/usr/lib/systemd/system", "/lib/systemd/system"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.join("multi-user.target").exists());
        let Some(host_units) = host_units else {
            println!("SKIPPED: systemd-analyze verify: no systemd unit directory on this machine");
            return;
        };
        for (label, ctx) in variants() {
            let dir = tempfile::tempdir().unwrap();
            let jail = dir.path().join("jail");
            let mut ctx = ctx;
            ctx.jail_root = jail.to_str().unwrap().to_string();
            let sbin = jail.join("usr/local/sbin");
            std::fs::create_dir_all(&sbin).unwrap();
            std::fs::copy("/bin/true", sbin.join("daytimed")).unwrap();
            let units = jail.join("usr/lib/systemd/system");
            std::fs::create_dir_all(&units).unwrap();
            for entry in std::fs::read_dir(host_units).unwrap() {
                let entry = entry.unwrap();
                if entry.file_type().unwrap().is_file() {
                    std::fs::copy(entry.path(), units.join(entry.file_name())).unwrap();
                }
            }
            let etc = jail.join("etc/systemd/system");
            std::fs::create_dir_all(&etc).unwrap();
            let unit = render_ok(ServiceKind::Systemd, &ctx);
            write(&etc, "daytimed.service", &unit);
            let out = run(
                "systemd-analyze",
                &[
                    "verify",
                    "--man=no",
                    "--generators=no",
                    "--root",
                    jail.to_str().unwrap(),
                    "daytimed.service",
                ],
            )
            .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && stderr.trim().is_empty(),
                "systemd-analyze verify ({label}) failed ({}):\n{stderr}\n--- the unit:\n{unit}",
                out.status
            );
        }
    }
}
