//! Which package version the jail holds, and which the host (or sysroot)
//! has now: a security update names the package, not only the files it
//! touched. The versions the jail holds come from its file list (each file's
//! `package`) or, for a jail installed elsewhere, from its SBOM alone
//! (`audit --sbom`); the host's from its own package database, read the
//! way provenance reads it. Only OS packages are compared: a crate's
//! version is fixed in the daemon's binary, and a base system has no
//! database to ask.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::findings::Finding;
use crate::closure::root::FsRoot;
use crate::cyclonedx::Bom;
use crate::error::Result;
use crate::manifest::Manifest;
use crate::provenance::{dpkg, openbsd, purl};

/// One package the jail holds, and the first of its files (for the report).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Held {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub arch: Option<String>,
    pub version: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Ecosystem {
    Deb,
    OpenBsd,
}

impl Held {
    /// The package a purl names, if it is one a database can be asked of.
    fn from_purl(text: &str, path: PathBuf) -> Option<Held> {
        let parsed = purl::parse(text)?;
        let ecosystem = match (parsed.kind.as_str(), parsed.namespace.as_deref()) {
            ("deb", _) => Ecosystem::Deb,
            ("generic", Some("openbsd")) if parsed.name != "openbsd" => Ecosystem::OpenBsd,
            _ => return None,
        };
        Some(Held {
            ecosystem,
            arch: parsed.qualifier("arch").map(str::to_string),
            name: parsed.name,
            version: parsed.version,
            path,
        })
    }
}

/// The packages the jail's file list records, each once, with its first file.
pub(super) fn held_by_list(manifest: &Manifest) -> Vec<Held> {
    let mut held: BTreeMap<(Ecosystem, String, Option<String>, String), PathBuf> = BTreeMap::new();
    for file in &manifest.files {
        let Some(record) = &file.package else {
            continue;
        };
        let Some(package) = record
            .purl
            .as_deref()
            .and_then(|p| Held::from_purl(p, file.path.clone()))
        else {
            continue;
        };
        // The list's own name and version, not the purl's: one source of truth.
        let key = (
            package.ecosystem,
            record.name.clone(),
            record.arch.clone(),
            record.version.clone(),
        );
        held.entry(key).or_insert(file.path.clone());
    }
    held.into_iter()
        .map(|((ecosystem, name, arch, version), path)| Held {
            ecosystem,
            name,
            arch,
            version,
            path,
        })
        .collect()
}

/// The packages an SBOM names, each with its first file.
pub(super) fn held_by_sbom(bom: &Bom) -> Vec<Held> {
    let mut held: Vec<Held> = bom
        .all_components()
        .into_iter()
        .filter(|c| c.kind != "file")
        .filter_map(|component| {
            let purl = component.purl.as_deref()?;
            let path = component
                .components
                .iter()
                .find(|f| f.kind == "file")
                .map_or_else(|| PathBuf::from(purl), |f| PathBuf::from(&f.name));
            Held::from_purl(purl, path)
        })
        .collect();
    held.sort();
    held.dedup_by(|a, b| (a.ecosystem, &a.name, &a.arch) == (b.ecosystem, &b.name, &b.arch));
    held
}

/// An `Update` finding for each package whose version on `root` is not
/// the one the jail holds.
pub(super) fn updates(held: &[Held], root: &FsRoot) -> Result<Vec<Finding>> {
    let wants = |e: Ecosystem| held.iter().any(|h| h.ecosystem == e);
    let debian = if wants(Ecosystem::Deb) {
        dpkg::installed(root)?
    } else {
        None
    };
    let openbsd = if wants(Ecosystem::OpenBsd) {
        Some(openbsd::installed(root)?)
    } else {
        None
    };
    let mut findings = Vec::new();
    for package in held {
        let host: Option<Option<String>> = match package.ecosystem {
            Ecosystem::Deb => debian.as_ref().map(|installed| {
                installed
                    .iter()
                    .find(|i| {
                        i.name == package.name
                            && package.arch.as_deref().is_none_or(|a| a == i.arch)
                    })
                    .map(|i| i.version.clone())
            }),
            Ecosystem::OpenBsd => openbsd.as_ref().map(|installed| {
                installed
                    .iter()
                    .find(|i| i.stem == package.name)
                    .map(|i| i.version.clone())
            }),
        };
        // No database on this root to ask: nothing to say about it.
        let Some(host_version) = host else {
            continue;
        };
        if host_version.as_deref() != Some(package.version.as_str()) {
            findings.push(Finding::Update {
                path: package.path.clone(),
                package: package.name.clone(),
                in_jail: package.version.clone(),
                on_host: host_version,
            });
        }
    }
    Ok(findings)
}

/// The root whose database tells what the host has now: `--sysroot`, else
/// the sysroot the jail was made from, else `/`.
pub(super) fn host_root(sysroot: Option<&Path>, manifest: Option<&Manifest>) -> FsRoot {
    let recorded = manifest.and_then(|m| m.sysroot.as_deref());
    FsRoot::of(sysroot.or(recorded))
}
