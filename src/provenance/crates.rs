//! The crates the daemon cargo built was made from: `cargo metadata` for
//! the target and features of the build, walked from the built package
//! along normal dependencies only (build scripts and proc macros run on the
//! build host and leave no code in the binary; dev-dependencies are for
//! tests), so the list is the resolved graph of this binary, not the whole
//! lockfile.
//!
//! cargo resolves a workspace's features together, as when it builds all
//! members at once: a crate another member uses with more features shows
//! them here too. Which crates and versions are in the binary is exact.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use cargo_metadata::{DependencyKind, MetadataCommand, PackageId, TargetKind};

use super::purl;
use crate::error::{Error, Result};
use crate::manifest::PackageRecord;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    pub name: String,
    pub version: String,
    /// The SPDX expression of its `license` key, when it has one.
    pub license: Option<String>,
    /// `pkg:cargo/<name>@<version>` for a registry or git crate; none for a
    /// crate from a path, which no registry's advisories describe.
    pub purl: Option<String>,
    /// The features cargo enabled.
    pub features: Vec<String>,
    /// The [`Crate::bom_ref`]s of the crates it uses.
    pub dependencies: Vec<String>,
}

impl Crate {
    /// The name the SBOM gives it: its purl, else `crate:<name>@<version>`.
    pub fn bom_ref(&self) -> String {
        self.purl
            .clone()
            .unwrap_or_else(|| format!("crate:{}@{}", self.name, self.version))
    }

    pub fn record(&self) -> PackageRecord {
        PackageRecord {
            name: self.name.clone(),
            version: self.version.clone(),
            arch: None,
            purl: self.purl.clone(),
        }
    }
}

/// How the binary was built: what `cargo metadata` must be told.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub manifest_path: &'a Path,
    pub package: &'a PackageId,
    pub triple: &'a str,
    pub features: &'a [String],
    pub all_features: bool,
    pub no_default_features: bool,
    pub locked: bool,
}

/// The crates of the binary of `query.package`, that package first, the
/// others sorted by name and version.
pub fn resolve(cargo: &std::ffi::OsStr, query: &Query) -> Result<Vec<Crate>> {
    let mut options = vec!["--filter-platform".to_string(), query.triple.to_string()];
    if !query.features.is_empty() {
        options.extend(["--features".to_string(), query.features.join(",")]);
    }
    if query.all_features {
        options.push("--all-features".to_string());
    }
    if query.no_default_features {
        options.push("--no-default-features".to_string());
    }
    if query.locked {
        options.push("--locked".to_string());
    }
    let metadata = MetadataCommand::new()
        .cargo_path(cargo)
        .manifest_path(query.manifest_path)
        .other_options(options)
        .exec()
        .map_err(|e| Error::Cargo {
            message: format!("cargo metadata (for the SBOM's crates): {e}"),
        })?;
    let no_graph = || Error::Cargo {
        message: format!(
            "cargo metadata gave no dependency graph for {}; the SBOM cannot list its crates",
            query.package
        ),
    };
    let resolve = metadata.resolve.as_ref().ok_or_else(no_graph)?;
    let nodes: BTreeMap<&PackageId, &cargo_metadata::Node> =
        resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let packages: BTreeMap<&PackageId, &cargo_metadata::Package> =
        metadata.packages.iter().map(|p| (&p.id, p)).collect();
    let proc_macro = |id: &PackageId| {
        packages.get(id).is_some_and(|p| {
            p.targets
                .iter()
                .any(|t| t.kind.contains(&TargetKind::ProcMacro))
        })
    };
    // Breadth-first from the package along normal dependencies.
    let mut seen: BTreeSet<&PackageId> = BTreeSet::from([query.package]);
    let mut queue = VecDeque::from([query.package]);
    let mut edges: BTreeMap<&PackageId, Vec<&PackageId>> = BTreeMap::new();
    while let Some(id) = queue.pop_front() {
        let node = nodes.get(id).ok_or_else(no_graph)?;
        let mut uses = Vec::new();
        for dep in &node.deps {
            let normal = dep
                .dep_kinds
                .iter()
                .any(|k| k.kind == DependencyKind::Normal);
            if !normal || proc_macro(&dep.pkg) {
                continue;
            }
            uses.push(&dep.pkg);
            if seen.insert(&dep.pkg) {
                queue.push_back(&dep.pkg);
            }
        }
        edges.insert(id, uses);
    }
    let mut crates: Vec<(bool, Crate)> = Vec::new();
    let refs: BTreeMap<&PackageId, String> = seen
        .iter()
        .filter_map(|id| Some((*id, describe(packages.get(id)?, &[], &[]).bom_ref())))
        .collect();
    for id in &seen {
        let Some(package) = packages.get(id) else {
            continue;
        };
        let features: Vec<String> = nodes
            .get(id)
            .map(|n| n.features.iter().map(|f| f.to_string()).collect())
            .unwrap_or_default();
        let mut uses: Vec<String> = edges
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|dep| refs.get(dep).cloned())
            .collect();
        uses.sort();
        uses.dedup();
        crates.push((*id != query.package, describe(package, &features, &uses)));
    }
    crates.sort_by(|(a_dep, a), (b_dep, b)| {
        (a_dep, &a.name, &a.version).cmp(&(b_dep, &b.name, &b.version))
    });
    Ok(crates.into_iter().map(|(_, c)| c).collect())
}

fn describe(package: &cargo_metadata::Package, features: &[String], uses: &[String]) -> Crate {
    let name = package.name.to_string();
    let version = package.version.to_string();
    let purl = package.source.as_ref().map(|source| {
        let repr = source.repr.as_str();
        let crates_io = source.is_crates_io() || repr == "sparse+https://index.crates.io/";
        let qualifier = if crates_io {
            None
        } else if let Some(git) = repr.strip_prefix("git+") {
            Some(("vcs_url", format!("git+{git}")))
        } else {
            let url = repr.split_once('+').map_or(repr, |(_, url)| url);
            Some(("repository_url", url.to_string()))
        };
        let qualifiers: Vec<(&str, &str)> = qualifier
            .as_ref()
            .map(|(k, v)| vec![(*k, v.as_str())])
            .unwrap_or_default();
        purl::build("cargo", None, &name, &version, &qualifiers)
    });
    // Old crates write `MIT/Apache-2.0`, which SPDX spells with OR.
    let license = package
        .license
        .as_ref()
        .map(|l| l.split('/').map(str::trim).collect::<Vec<_>>().join(" OR "));
    Crate {
        name,
        version,
        license,
        purl,
        features: features.to_vec(),
        dependencies: uses.to_vec(),
    }
}
