//! musl's loader: LD_LIBRARY_PATH, then the RPATH/RUNPATH (treated alike) of
//! the requester and each object above it, then the directories of
//! /etc/ld-musl-<arch>.path, else /lib:/usr/local/lib:/usr/lib.

use std::path::PathBuf;

use super::root::FsRoot;
use super::search::{DirKind, Order, Requester, SearchList, SearchRules};
use super::target::Target;
use crate::error::{Error, Result};

pub struct MuslRules {
    /// The path file's directories, then the defaults.
    searched_last: SearchList,
    defaults: Vec<PathBuf>,
    ld_library_path: Vec<String>,
}

impl MuslRules {
    pub fn new(root: &FsRoot, target: &Target, ld_library_path: &[String]) -> Result<Self> {
        let file = PathBuf::from(format!("/etc/ld-musl-{}.path", arch(target.machine)));
        let mut path_file = Vec::new();
        if let Some(resolved) = root.resolve(&file)? {
            let host = root.host_path(&resolved.path);
            let text = std::fs::read_to_string(&host)
                .map_err(|source| Error::Read { path: host, source })?;
            path_file = text
                .split(['\n', ':'])
                .map(str::trim)
                .filter(|d| d.starts_with('/'))
                .map(PathBuf::from)
                .collect();
        }
        let defaults = ["/lib", "/usr/local/lib", "/usr/lib"]
            .map(PathBuf::from)
            .to_vec();
        // The jail gets no path file: its directories are the host's alone.
        let searched_last = Order::new(("lib", ""))
            .in_root(&path_file, DirKind::Cache)
            .in_root(&defaults, DirKind::Default)
            .finish();
        Ok(MuslRules {
            searched_last,
            defaults,
            ld_library_path: ld_library_path.to_vec(),
        })
    }
}

impl SearchRules for MuslRules {
    fn search_dirs(&self, chain: &[Requester<'_>]) -> SearchList {
        let mut order = Order::new(("lib", ""));
        order.ld_library_path_as_written(&self.ld_library_path);
        // RPATH and RUNPATH alike, of the requester and every object above it.
        for owner in chain {
            if owner.object.runpath.is_empty() {
                order.rpath(owner);
            } else {
                order.runpath(owner);
            }
        }
        order.then(&self.searched_last)
    }

    fn default_dirs(&self) -> &[PathBuf] {
        &self.defaults
    }
}

fn arch(machine: u16) -> &'static str {
    use crate::closure::elf::machine::*;
    match machine {
        EM_X86_64 => "x86_64",
        EM_386 => "i386",
        EM_AARCH64 => "aarch64",
        EM_ARM => "armhf",
        EM_RISCV => "riscv64",
        _ => "unknown",
    }
}
