//! The quoting filters of the service templates: each takes one value and
//! writes it so that it means exactly that value in the place it lands in,
//! or fails the render (rather than emit something that would misbehave)
//! when the value cannot be represented there.
//!
//! - `sh_quote`: one shell word for POSIX sh and ksh: unchanged when made of
//!   `A-Za-z0-9_./:@%+=,-` only, else in single quotes with `'` as `'\''`.
//!   Refuses a NUL byte.
//! - `sh_dq`: escapes `\`, `"`, `$` and `` ` `` for use inside a
//!   double-quoted shell string (e.g. `daemon_flags="{{ ... | sh_dq }}"`).
//!   Refuses nothing.
//! - `sh_word`: the value unchanged, or an error unless it is a plain word
//!   (as above): for values that rc.subr expands unquoted.
//! - `sh_ident`: the value unchanged, or an error unless it is a shell
//!   variable name (`[A-Za-z_][A-Za-z0-9_]*`): for rc.d names.
//! - `oneline`: whitespace runs (newlines too) and control characters become
//!   one space, trimmed: for comments and descriptions. Refuses nothing.
//! - `systemd_quote`: one `ExecStart=` word: unchanged when plain (as above
//!   without `%`), else in double quotes with `\` and `"` backslash-escaped,
//!   control characters C-escaped, `$` as `$$` and `%` as `%%`. Refuses a
//!   NUL byte.
//! - `systemd_path`: one path in a space-separated list such as
//!   `ReadWritePaths=`: like `systemd_quote` but `$` stays as is (no
//!   environment expansion there) and control characters are refused.
//! - `systemd_text`: a whole single-valued setting (`Description=`,
//!   `RootDirectory=`, `User=`): `%` as `%%`; control characters and a
//!   trailing backslash (a line continuation) are refused.
//! - `plist_field`: one `:`-separated field of an OpenBSD packing-list
//!   annotation (`@newuser`): unchanged, or an error if it holds a `:`, a
//!   control character or leading or trailing blanks.
//!
//! [`super::service`] registers them in the template environment under
//! these names.

use minijinja::ErrorKind;

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
pub(super) fn sh_quote(value: &str) -> std::result::Result<String, minijinja::Error> {
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
pub(super) fn sh_dq(value: &str) -> String {
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
pub(super) fn sh_word(value: &str) -> std::result::Result<String, minijinja::Error> {
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
pub(super) fn sh_ident(value: &str) -> std::result::Result<String, minijinja::Error> {
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
pub(super) fn oneline(value: &str) -> String {
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
pub(super) fn systemd_quote(value: &str) -> std::result::Result<String, minijinja::Error> {
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
pub(super) fn systemd_path(value: &str) -> std::result::Result<String, minijinja::Error> {
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
pub(super) fn systemd_text(value: &str) -> std::result::Result<String, minijinja::Error> {
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
pub(super) fn plist_field(value: &str) -> std::result::Result<String, minijinja::Error> {
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
mod tests {
    use super::*;

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
}
