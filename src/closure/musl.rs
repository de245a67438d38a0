//! musl's loader: LD_LIBRARY_PATH, then the RPATH/RUNPATH (treated alike) of
//! the requester and each object above it, then the directories of
//! /etc/ld-musl-<arch>.path, else /lib:/usr/local/lib:/usr/lib.

use std::path::PathBuf;

use super::root::FsRoot;
use super::search::{DirKind, Requester, SearchDir, SearchRules, expand};
use super::target::Target;
use crate::error::{Error, Result};

pub struct MuslRules {
    path_file: Vec<PathBuf>,
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
        Ok(MuslRules {
            path_file,
            defaults: ["/lib", "/usr/local/lib", "/usr/lib"]
                .map(PathBuf::from)
                .to_vec(),
            ld_library_path: ld_library_path.to_vec(),
        })
    }
}

impl SearchRules for MuslRules {
    fn search_dirs(&self, chain: &[Requester<'_>]) -> Vec<SearchDir> {
        let mut dirs = Vec::new();
        for dir in &self.ld_library_path {
            dirs.extend(expand(dir, &chain[0], "lib", "", DirKind::LdLibraryPath));
        }
        for owner in chain {
            let (list, kind) = if owner.object.runpath.is_empty() {
                (
                    &owner.object.rpath,
                    DirKind::Rpath(owner.jail_path.to_path_buf()),
                )
            } else {
                (
                    &owner.object.runpath,
                    DirKind::Runpath(owner.jail_path.to_path_buf()),
                )
            };
            for dir in list {
                dirs.extend(expand(dir, owner, "lib", "", kind.clone()));
            }
        }
        // The jail gets no path file: its directories are the host's alone.
        dirs.extend(
            self.path_file
                .iter()
                .map(|d| SearchDir::in_root(d.clone(), DirKind::Cache)),
        );
        dirs.extend(
            self.defaults
                .iter()
                .map(|d| SearchDir::in_root(d.clone(), DirKind::Default)),
        );
        dirs
    }

    fn default_dirs(&self) -> &[PathBuf] {
        &self.defaults
    }
}

fn arch(machine: u16) -> &'static str {
    use goblin::elf::header::*;
    match machine {
        EM_X86_64 => "x86_64",
        EM_386 => "i386",
        EM_AARCH64 => "aarch64",
        EM_ARM => "armhf",
        EM_RISCV => "riscv64",
        _ => "unknown",
    }
}
