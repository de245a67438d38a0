//! FreeBSD's rtld: /etc/libmap.conf first; then the requester's DT_RPATH
//! (only without a DT_RUNPATH) and the main program's; LD_LIBRARY_PATH;
//! DT_RUNPATH; the hints directories (/var/run/ld-elf.so.hints, absent from
//! a jail); /lib:/usr/lib. Names match exactly; `$ORIGIN` is expanded.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::root::FsRoot;
use super::search::{DirKind, Order, Requester, SearchList, SearchRules};
use crate::error::{Error, Result};

pub struct FreeBsdRules {
    defaults: Vec<PathBuf>,
    /// The hints directories, then the defaults.
    searched_last: SearchList,
    libmap: LibMap,
    ld_library_path: Vec<String>,
}

impl FreeBsdRules {
    pub fn new(root: &FsRoot, ld_library_path: &[String]) -> Result<Self> {
        let defaults: Vec<PathBuf> = vec!["/lib".into(), "/usr/lib".into()];
        let hints: Vec<PathBuf> = read_hints(root)?
            .unwrap_or_else(|| {
                [
                    "/usr/lib/compat",
                    "/usr/local/lib",
                    "/usr/local/lib/compat/pkg",
                ]
                .map(PathBuf::from)
                .to_vec()
            })
            .into_iter()
            .filter(|d| !defaults.contains(d))
            .collect();
        let searched_last = Order::new(("lib", ""))
            .in_root(&hints, DirKind::Cache)
            .in_root(&defaults, DirKind::Default)
            .finish();
        Ok(FreeBsdRules {
            defaults,
            searched_last,
            libmap: LibMap::read(root)?,
            ld_library_path: ld_library_path.to_vec(),
        })
    }
}

impl SearchRules for FreeBsdRules {
    fn search_dirs(&self, chain: &[Requester<'_>]) -> SearchList {
        let requester = &chain[0];
        let main = &chain[chain.len() - 1];
        let mut order = Order::new(("lib", ""));
        if requester.object.runpath.is_empty() {
            order.rpath(requester);
            if chain.len() > 1 {
                order.rpath(main);
            }
        }
        order
            .ld_library_path_as_written(&self.ld_library_path)
            .runpath(requester)
            .then(&self.searched_last)
    }

    fn default_dirs(&self) -> &[PathBuf] {
        &self.defaults
    }

    fn map_name<'a>(&'a self, executable: &Path, name: &'a str) -> &'a str {
        self.libmap.map(executable, name).unwrap_or(name)
    }

    fn maps_by_program(&self) -> bool {
        self.libmap.maps_by_program()
    }
}

/// The directory list of /var/run/ld-elf.so.hints, when the root has one.
/// Layout (sys/elf-hints.h): magic "Ehnt", version 1, then the string
/// table's offset, its size, and the directory list's offset and length.
fn read_hints(root: &FsRoot) -> Result<Option<Vec<PathBuf>>> {
    let Some(resolved) = root.resolve(Path::new("/var/run/ld-elf.so.hints"))? else {
        return Ok(None);
    };
    let host = root.host_path(&resolved.path);
    let bytes = std::fs::read(&host).map_err(|source| Error::Read {
        path: host.clone(),
        source,
    })?;
    let word = |i: usize| {
        bytes
            .get(i * 4..i * 4 + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let bad = || Error::Elf {
        path: host.clone(),
        reason: "not an ld-elf.so.hints file (bad magic, or offsets past its end)".into(),
    };
    if word(0) != Some(0x746e_6845) {
        return Err(bad());
    }
    let (strtab, dirlist, dirlistlen) = (
        word(2).ok_or_else(bad)?,
        word(4).ok_or_else(bad)?,
        word(5).ok_or_else(bad)?,
    );
    let start = strtab.checked_add(dirlist).ok_or_else(bad)?;
    let list = bytes
        .get(start..start.saturating_add(dirlistlen))
        .ok_or_else(bad)?;
    let list = String::from_utf8_lossy(list);
    Ok(Some(
        list.split(':')
            .filter(|d| d.starts_with('/'))
            .map(PathBuf::from)
            .collect(),
    ))
}

/// /etc/libmap.conf: `from to` lines, globally or under `[program]`
/// sections (a path or a bare program name), with `include FILE` and
/// `includedir DIR` (its `*.conf` files).
#[derive(Debug, Default)]
pub struct LibMap {
    global: HashMap<String, String>,
    programs: HashMap<String, HashMap<String, String>>,
}

impl LibMap {
    pub fn read(root: &FsRoot) -> Result<Self> {
        let mut map = LibMap::default();
        let mut seen = HashSet::new();
        map.read_file(root, Path::new("/etc/libmap.conf"), &mut seen)?;
        Ok(map)
    }

    fn read_file(&mut self, root: &FsRoot, path: &Path, seen: &mut HashSet<PathBuf>) -> Result<()> {
        if !seen.insert(path.to_path_buf()) {
            return Ok(());
        }
        let Some(resolved) = root.resolve(path)? else {
            return Ok(());
        };
        let host = root.host_path(&resolved.path);
        if host.is_dir() {
            return Ok(());
        }
        let text =
            std::fs::read_to_string(&host).map_err(|source| Error::Read { path: host, source })?;
        let mut section: Option<String> = None;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = Some(name.trim().to_string()).filter(|s| !s.is_empty());
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[..] {
                ["include", file] => self.read_file(root, Path::new(file), seen)?,
                ["includedir", dir] => {
                    let Some(resolved) = root.resolve(Path::new(dir))? else {
                        continue;
                    };
                    let host = root.host_path(&resolved.path);
                    let Ok(entries) = std::fs::read_dir(&host) else {
                        continue;
                    };
                    let mut files: Vec<String> = entries
                        .filter_map(|e| e.ok()?.file_name().into_string().ok())
                        .filter(|f| f.ends_with(".conf"))
                        .collect();
                    files.sort();
                    for file in files {
                        self.read_file(root, &Path::new(dir).join(file), seen)?;
                    }
                }
                [from, to] => {
                    let table = match &section {
                        None => &mut self.global,
                        Some(program) => self.programs.entry(program.clone()).or_default(),
                    };
                    table.insert(from.to_string(), to.to_string());
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether a section of a program's own maps some name.
    pub fn maps_by_program(&self) -> bool {
        self.programs.values().any(|names| !names.is_empty())
    }

    /// A program's own section wins over the global one, as in rtld.
    pub fn map(&self, executable: &Path, name: &str) -> Option<&str> {
        let program_name = executable
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("");
        let own = [executable.to_str().unwrap_or(""), program_name]
            .iter()
            .find_map(|key| self.programs.get(*key)?.get(name));
        own.or_else(|| self.global.get(name)).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libmap_sections_includes_and_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(dir.path().join("usr/local/etc/libmap.d")).unwrap();
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("libmap.conf"),
            "# global\nlibfoo.so.1 libbar.so.1\nincludedir /usr/local/etc/libmap.d\n[/usr/local/sbin/d]\nlibfoo.so.1 /opt/libfoo.so.1\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("usr/local/etc/libmap.d/x.conf"),
            "[other]\nlibz.so.6 libz.so.7\n",
        )
        .unwrap();
        let map = LibMap::read(&FsRoot::new(dir.path())).unwrap();
        assert_eq!(
            map.map(Path::new("/usr/bin/a"), "libfoo.so.1"),
            Some("libbar.so.1")
        );
        assert_eq!(
            map.map(Path::new("/usr/local/sbin/d"), "libfoo.so.1"),
            Some("/opt/libfoo.so.1")
        );
        assert_eq!(
            map.map(Path::new("/bin/other"), "libz.so.6"),
            Some("libz.so.7")
        );
        assert_eq!(map.map(Path::new("/bin/a"), "libz.so.6"), None);
    }
}
