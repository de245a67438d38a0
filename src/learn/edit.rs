//! Applies needs' fixes to the settings source in place with `toml_edit`,
//! so a person's comments and formatting stay as they wrote them. A value
//! already there is not added again. Arrays of tables (`[[files]]`) and
//! inline arrays are both extended in their own style.

use std::path::Path;

use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table as TomlTable, Value};

use crate::error::{Error, Result};
use crate::verify::needs::Fix;

/// Where in the file the jail's settings are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// A package's Cargo.toml: `[package.metadata.jail]`.
    PackageMetadata,
    /// A `--settings` file: the keys at its top level.
    TopLevel,
}

/// The text before and after, and a line per change made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub before: String,
    pub after: String,
    pub added: Vec<String>,
}

/// Adds `fixes` to the settings in `path` and writes the file back
/// (atomically) when anything changed. `Fix::Decide` is never applied.
/// `user` is the daemon's, for the `owner` of a file it rewrites.
pub fn apply(path: &Path, table: Table, fixes: &[Fix], user: &str) -> Result<Edited> {
    let before = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut doc: DocumentMut = before.parse().map_err(|e| Error::Settings {
        manifest: path.to_path_buf(),
        message: format!("cannot be edited as TOML: {e}"),
    })?;
    let settings = settings_table(&mut doc, table).ok_or_else(|| Error::Settings {
        manifest: path.to_path_buf(),
        message: "the jail settings' place is not a table; fix it by hand before --learn".into(),
    })?;
    let mut added = Vec::new();
    for fix in fixes {
        if add(settings, fix, user) {
            added.push(fix.line());
        }
    }
    let after = doc.to_string();
    if after != before {
        write_atomically(path, &after)?;
    }
    Ok(Edited {
        before,
        after,
        added,
    })
}

fn settings_table(doc: &mut DocumentMut, table: Table) -> Option<&mut TomlTable> {
    match table {
        Table::TopLevel => Some(doc.as_table_mut()),
        Table::PackageMetadata => {
            let package = doc.as_table_mut().get_mut("package")?.as_table_mut()?;
            let metadata = package
                .entry("metadata")
                .or_insert_with(|| Item::Table(implicit()))
                .as_table_mut()?;
            metadata
                .entry("jail")
                .or_insert_with(|| Item::Table(TomlTable::new()))
                .as_table_mut()
        }
    }
}

fn implicit() -> TomlTable {
    let mut table = TomlTable::new();
    table.set_implicit(true);
    table
}

/// Adds one fix; false when the settings already had it.
fn add(settings: &mut TomlTable, fix: &Fix, user: &str) -> bool {
    match fix {
        Fix::Owner { file, dir } => {
            let writable = add_table(settings, "writable", "path", dir, &[]);
            set_owner(settings, file, user) || writable
        }
        Fix::File(path) | Fix::Tree(path) => add_table(settings, "files", "source", path, &[]),
        Fix::Writable(path, mode) => {
            let mode = mode.map(|m| format!("{m:o}"));
            let extra: Vec<(&str, &str)> = mode.iter().map(|m| ("mode", m.as_str())).collect();
            add_table(settings, "writable", "path", path, &extra)
        }
        Fix::Device(name) => add_string(settings, "devices", name),
        Fix::Preset(name) => add_string(settings, "presets", name),
        Fix::Library(name) => add_string(settings, "libraries", name),
        Fix::Executable(path) => add_string(settings, "executables", path),
        Fix::Pam(service) => {
            let preset = add_string(settings, "presets", "pam");
            let named = !settings.contains_key("pam-service");
            if named {
                settings.insert("pam-service", toml_edit::value(service.as_str()));
            }
            preset || named
        }
        Fix::Decide { .. } => false,
    }
}

/// Sets `owner = user` on the `files` entry that lands at `file` (its
/// `dest`, or its `source` when it has none); false when no entry does,
/// or it has an owner already.
fn set_owner(settings: &mut TomlTable, file: &str, user: &str) -> bool {
    let lands = |dest: Option<&str>, source: Option<&str>| dest.or(source) == Some(file);
    match settings.get_mut("files") {
        Some(Item::ArrayOfTables(tables)) => {
            let entry = tables.iter_mut().find(|t| {
                let field = |k| t.get(k).and_then(Item::as_str);
                lands(field("dest"), field("source")) && !t.contains_key("owner")
            });
            entry
                .map(|t| t.insert("owner", toml_edit::value(user)))
                .is_some()
        }
        Some(Item::Value(Value::Array(array))) => {
            let entry = array
                .iter_mut()
                .filter_map(Value::as_inline_table_mut)
                .find(|t| {
                    let field = |k| t.get(k).and_then(Value::as_str);
                    lands(field("dest"), field("source")) && !t.contains_key("owner")
                });
            // Laid out anew, so the key lands before the closing brace
            // with no stray space (an inline table is one line anyway).
            entry
                .map(|t| {
                    t.insert("owner", Value::from(user));
                    t.fmt();
                })
                .is_some()
        }
        _ => false,
    }
}

fn add_string(settings: &mut TomlTable, key: &str, value: &str) -> bool {
    let Some(array) = array(settings, key) else {
        return false;
    };
    if array.iter().any(|v| v.as_str() == Some(value)) {
        return false;
    }
    push(array, Value::from(value));
    true
}

/// Appends `{ key_field = value, extra... }` unless an entry has that value.
fn add_table(
    settings: &mut TomlTable,
    key: &str,
    key_field: &str,
    value: &str,
    extra: &[(&str, &str)],
) -> bool {
    if let Some(tables) = settings.get_mut(key).and_then(Item::as_array_of_tables_mut) {
        return add_to_tables(tables, key_field, value, extra);
    }
    let Some(array) = array(settings, key) else {
        return false;
    };
    let present = array.iter().any(|v| {
        v.as_inline_table()
            .and_then(|t| t.get(key_field))
            .and_then(Value::as_str)
            == Some(value)
    });
    if present {
        return false;
    }
    let mut table = InlineTable::new();
    table.insert(key_field, Value::from(value));
    for (k, v) in extra {
        table.insert(*k, Value::from(*v));
    }
    push(array, Value::InlineTable(table));
    true
}

fn add_to_tables(
    tables: &mut ArrayOfTables,
    key_field: &str,
    value: &str,
    extra: &[(&str, &str)],
) -> bool {
    if tables
        .iter()
        .any(|t| t.get(key_field).and_then(Item::as_str) == Some(value))
    {
        return false;
    }
    let mut table = TomlTable::new();
    table.insert(key_field, toml_edit::value(value));
    for (k, v) in extra {
        table.insert(k, toml_edit::value(*v));
    }
    tables.push(table);
    true
}

/// The array at `key`, made when missing; `None` when it is something else
/// (the settings parser will say so).
fn array<'t>(settings: &'t mut TomlTable, key: &str) -> Option<&'t mut Array> {
    settings
        .entry(key)
        .or_insert_with(|| toml_edit::value(Array::new()))
        .as_array_mut()
}

/// Appends in the array's own layout: one per line when it is written so.
fn push(array: &mut Array, mut value: Value) {
    let multiline = array
        .iter()
        .last()
        .and_then(|v| v.decor().prefix())
        .and_then(|p| p.as_str())
        .filter(|p| p.contains('\n'))
        .map(str::to_string);
    if let Some(prefix) = multiline {
        value.decor_mut().set_prefix(prefix);
        array.push_formatted(value);
        array.set_trailing_comma(true);
    } else {
        array.push(value);
    }
}

pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let write_error = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(write_error)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(write_error)?;
    // Keep the file's own permissions.
    if let Ok(metadata) = std::fs::metadata(path) {
        file.as_file()
            .set_permissions(metadata.permissions())
            .map_err(write_error)?;
    }
    file.persist(path).map_err(|e| write_error(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixes_go_in_with_comments_and_layout_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Cargo.toml");
        let text = r#"[package]
name = "d" # the daemon

[package.metadata.jail]
# written by a person
presets = ["resolver"]
files = [
    { source = "/etc/d.conf" },
]
"#;
        std::fs::write(&path, text).unwrap();
        let fixes = [
            Fix::Preset("resolver".into()),
            Fix::Preset("passwd".into()),
            Fix::File("/etc/d.conf".into()),
            Fix::Tree("/usr/lib/d".into()),
            Fix::Writable("/tmp".into(), Some(0o1777)),
            Fix::Device("urandom".into()),
            Fix::Pam("d".into()),
            Fix::Decide {
                line: "files = [{ source = \"/etc/shadow\", allow-secret = true }]".into(),
                why: "a secret".into(),
            },
        ];
        let edited = apply(&path, Table::PackageMetadata, &fixes, "d").unwrap();
        assert_eq!(edited.added.len(), 5, "{:?}", edited.added);
        let after = std::fs::read_to_string(&path).unwrap();
        assert_eq!(after, edited.after);
        for kept in ["# written by a person", "name = \"d\" # the daemon"] {
            assert!(after.contains(kept), "{after}");
        }
        assert!(
            after.contains("presets = [\"resolver\", \"passwd\", \"pam\"]"),
            "{after}"
        );
        assert!(
            after.contains("\n    { source = \"/usr/lib/d\" },\n]"),
            "{after}"
        );
        assert!(after.contains("mode = \"1777\""), "{after}");
        assert!(!after.contains("shadow"), "{after}");
        let parsed: toml::Table = toml::from_str(&after).unwrap();
        let jail = &parsed["package"]["metadata"]["jail"];
        let settings: crate::settings::Settings = jail.clone().try_into().unwrap();
        assert_eq!(settings.writable[0].mode, Some(0o1777));
        assert_eq!(settings.pam_service.as_deref(), Some("d"));
        // Nothing new the second time.
        let again = apply(&path, Table::PackageMetadata, &fixes, "d").unwrap();
        assert!(again.added.is_empty() && again.before == again.after);
    }

    #[test]
    fn a_file_the_daemon_rewrites_gets_its_owner_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jail.toml");
        let text = "files = [\n    { source = \"d.conf\", dest = \"/var/lib/d/conf/d.conf\" },\n    { source = \"/etc/e.conf\" },\n]\n";
        std::fs::write(&path, text).unwrap();
        let fix = Fix::Owner {
            file: "/var/lib/d/conf/d.conf".into(),
            dir: "/var/lib/d".into(),
        };
        let edited = apply(&path, Table::TopLevel, std::slice::from_ref(&fix), "d").unwrap();
        assert_eq!(edited.added.len(), 1);
        assert!(
            edited.after.contains(
                "{ source = \"d.conf\", dest = \"/var/lib/d/conf/d.conf\", owner = \"d\" },"
            ),
            "{}",
            edited.after
        );
        assert!(
            edited
                .after
                .contains("writable = [{ path = \"/var/lib/d\" }]"),
            "{}",
            edited.after
        );
        assert!(
            apply(&path, Table::TopLevel, &[fix], "d")
                .unwrap()
                .added
                .is_empty()
        );
        // A file given by its source alone, in an array of tables.
        std::fs::write(&path, "[[files]]\nsource = \"/srv/d/state\"\n").unwrap();
        let fix = Fix::Owner {
            file: "/srv/d/state".into(),
            dir: "/srv/d".into(),
        };
        let edited = apply(&path, Table::TopLevel, &[fix], "d").unwrap();
        assert!(edited.after.contains("owner = \"d\""), "{}", edited.after);
    }

    #[test]
    fn a_settings_file_and_arrays_of_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jail.toml");
        std::fs::write(&path, "[[files]]\nsource = \"/etc/a\"\n").unwrap();
        let edited = apply(&path, Table::TopLevel, &[Fix::File("/etc/b".into())], "d").unwrap();
        assert_eq!(edited.added.len(), 1);
        assert!(
            edited.after.contains("[[files]]\nsource = \"/etc/b\""),
            "{}",
            edited.after
        );
    }
}
