//! Stage 1, build: reads the workspace and its `[package.metadata.jail]`
//! tables, runs cargo, and takes the executable from cargo's own JSON
//! messages (never from a guessed `target/<triple>/release` path).

use std::ffi::OsString;
use std::path::PathBuf;

use cargo_metadata::{Message, Metadata, MetadataCommand, TargetKind};
use xshell::{Shell, cmd};

use crate::error::{Error, Result};
use crate::provenance::crates::{self, Crate};
use crate::settings::{Overrides, Settings};

/// What to build, as the command line says it.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub manifest_path: Option<PathBuf>,
    pub package: Option<String>,
    pub profile: String,
    pub target: Option<String>,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub locked: bool,
    pub overrides: Overrides,
}

impl Default for BuildRequest {
    fn default() -> Self {
        BuildRequest {
            manifest_path: None,
            package: None,
            profile: "release".to_string(),
            target: None,
            features: Vec::new(),
            all_features: false,
            no_default_features: false,
            locked: false,
            overrides: Overrides::default(),
        }
    }
}

/// The package a jail is made for.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    pub manifest_path: PathBuf,
}

/// The build's output: the executable to jail and the jail settings.
#[derive(Debug, Clone)]
pub struct Built {
    pub package: Package,
    /// The binary target's name.
    pub bin: String,
    /// The built executable on the build host.
    pub executable: PathBuf,
    pub settings: Settings,
    /// The Rust target triple the executable was built for; `None` for a
    /// prebuilt binary, whose triple the plan takes from the ELF file.
    pub target_triple: Option<String>,
    /// cargo's target directory (honours CARGO_TARGET_DIR).
    pub target_directory: PathBuf,
    /// The cargo workspace's root, for a cargo build: the manifest records
    /// build outputs relative to it, so that two checkouts of the same
    /// sources give the same bytes. `None` for a prebuilt binary.
    pub workspace_root: Option<PathBuf>,
    /// The crates the executable was built from, its own package's first
    /// (for the SBOM); empty for a prebuilt binary.
    pub crates: Vec<Crate>,
}

/// `$CARGO` when cargo runs us (as `cargo xtask` does), else `cargo`.
fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Builds the selected package's binary and collects what the jail needs.
pub fn build(request: &BuildRequest) -> Result<Built> {
    let cargo = cargo_program();
    let mut command = MetadataCommand::new();
    command.cargo_path(&cargo).no_deps();
    if let Some(path) = &request.manifest_path {
        command.manifest_path(path);
    }
    let metadata = command.exec().map_err(|e| Error::Cargo {
        message: format!("cargo metadata: {e}"),
    })?;
    let package = select_package(&metadata, request.package.as_deref())?;
    let manifest_path = PathBuf::from(package.manifest_path.as_std_path());
    let settings = Settings::from_package_metadata(&package.metadata, &manifest_path)?
        .apply(&request.overrides);
    let bin = select_bin(package, settings.bin.as_deref())?;

    let sh = Shell::new().map_err(|e| Error::Cargo {
        message: e.to_string(),
    })?;
    let mut args: Vec<String> = vec![
        "build".into(),
        "--message-format=json-render-diagnostics".into(),
        "--manifest-path".into(),
        manifest_path.display().to_string(),
        "--package".into(),
        package.name.to_string(),
        "--bin".into(),
        bin.clone(),
        "--profile".into(),
        request.profile.clone(),
    ];
    if let Some(target) = &request.target {
        args.extend(["--target".into(), target.clone()]);
    }
    if !request.features.is_empty() {
        args.extend(["--features".into(), request.features.join(",")]);
    }
    if request.all_features {
        args.push("--all-features".into());
    }
    if request.no_default_features {
        args.push("--no-default-features".into());
    }
    if request.locked {
        args.push("--locked".into());
    }
    let stdout = cmd!(sh, "{cargo} {args...}")
        .read()
        .map_err(|e| Error::Cargo {
            message: e.to_string(),
        })?;
    let executable = Message::parse_stream(stdout.as_bytes())
        .filter_map(|message| match message {
            Ok(Message::CompilerArtifact(artifact)) => Some(artifact),
            _ => None,
        })
        .filter(|artifact| artifact.package_id == package.id && artifact.target.name == bin)
        .filter(|artifact| artifact.target.kind.contains(&TargetKind::Bin))
        .find_map(|artifact| artifact.executable)
        .ok_or_else(|| Error::Cargo {
            message: format!(
                "cargo build reported no executable for binary {bin} of {}",
                package.name
            ),
        })?;
    let target_triple = match &request.target {
        Some(triple) => triple.clone(),
        None => host_triple(&sh)?,
    };
    let crates = crates::resolve(
        &cargo,
        &crates::Query {
            manifest_path: &manifest_path,
            package: &package.id,
            triple: &target_triple,
            features: &request.features,
            all_features: request.all_features,
            no_default_features: request.no_default_features,
            locked: request.locked,
        },
    )?;
    Ok(Built {
        package: Package {
            name: package.name.to_string(),
            version: package.version.to_string(),
            description: package.description.clone(),
            manifest_path,
        },
        bin,
        executable: executable.into_std_path_buf(),
        settings,
        target_triple: Some(target_triple),
        target_directory: metadata.target_directory.clone().into_std_path_buf(),
        workspace_root: Some(metadata.workspace_root.clone().into_std_path_buf()),
        crates,
    })
}

/// A porter's case: an existing executable, no cargo build. Settings come
/// from an optional TOML file holding the `[package.metadata.jail]` keys at
/// its top level; relative `files` sources are relative to that file.
#[derive(Debug, Clone, Default)]
pub struct Prebuilt {
    pub binary: PathBuf,
    pub version: Option<String>,
    pub settings_file: Option<PathBuf>,
    pub overrides: Overrides,
}

/// Collects what the jail needs for a prebuilt binary.
pub fn prebuilt(request: &Prebuilt) -> Result<Built> {
    // Checked before anything opens it: a FIFO would block the open.
    crate::regular::open_regular(&request.binary).map_err(|source| Error::Read {
        path: request.binary.clone(),
        source,
    })?;
    let (settings, manifest_path) = match &request.settings_file {
        Some(file) => (Settings::from_toml_file(file)?, file.clone()),
        None => (Settings::default(), request.binary.clone()),
    };
    let settings = settings.apply(&request.overrides);
    let bin = request
        .binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "daemon".to_string());
    let current_dir = std::env::current_dir().map_err(|source| Error::Read {
        path: ".".into(),
        source,
    })?;
    Ok(Built {
        package: Package {
            name: settings.jail_name(&bin),
            version: request
                .version
                .clone()
                .unwrap_or_else(|| "0.0.0".to_string()),
            description: None,
            manifest_path,
        },
        bin,
        executable: request.binary.clone(),
        settings,
        target_triple: None,
        target_directory: current_dir.join("target"),
        workspace_root: None,
        crates: Vec::new(),
    })
}

/// `-p`; else the only member with `[package.metadata.jail]`; else the root
/// package if it has a binary; else the only default member with one.
fn select_package<'m>(
    metadata: &'m Metadata,
    wanted: Option<&str>,
) -> Result<&'m cargo_metadata::Package> {
    let members = metadata.workspace_packages();
    let has_bin =
        |p: &&cargo_metadata::Package| p.targets.iter().any(|t| t.kind.contains(&TargetKind::Bin));
    let candidates = || {
        let names: Vec<&str> = members
            .iter()
            .filter(|p| has_bin(p))
            .map(|p| p.name.as_str())
            .collect();
        names.join(", ")
    };
    if let Some(name) = wanted {
        return members
            .iter()
            .copied()
            .find(|p| *p.name == *name)
            .ok_or_else(|| Error::Selection {
                message: format!(
                    "no package {name} in this workspace; packages with binaries: {}",
                    candidates()
                ),
            });
    }
    let with_settings: Vec<_> = members
        .iter()
        .copied()
        .filter(|p| p.metadata.get("jail").is_some())
        .collect();
    if let [only] = with_settings[..] {
        return Ok(only);
    }
    if let Some(root) = metadata.root_package().filter(has_bin) {
        return Ok(root);
    }
    let defaults: Vec<_> = metadata
        .workspace_default_packages()
        .into_iter()
        .filter(has_bin)
        .collect();
    if let [only] = defaults[..] {
        return Ok(only);
    }
    Err(Error::Selection {
        message: format!(
            "cannot tell which package to jail; pass -p with one of: {}",
            candidates()
        ),
    })
}

/// `--bin`/`bin`; else the package's only binary.
fn select_bin(package: &cargo_metadata::Package, wanted: Option<&str>) -> Result<String> {
    let bins: Vec<&str> = package
        .targets
        .iter()
        .filter(|t| t.kind.contains(&TargetKind::Bin))
        .map(|t| t.name.as_str())
        .collect();
    match (wanted, &bins[..]) {
        (Some(name), _) if bins.contains(&name) => Ok(name.to_string()),
        (None, [only]) => Ok(only.to_string()),
        (Some(name), _) => Err(Error::Selection {
            message: format!(
                "package {} has no binary {name}; its binaries: {}",
                package.name,
                bins.join(", ")
            ),
        }),
        (None, []) => Err(Error::Selection {
            message: format!("package {} has no binary to jail", package.name),
        }),
        (None, _) => Err(Error::Selection {
            message: format!(
                "package {} has several binaries; pass --bin (or set `bin` in [package.metadata.jail]) with one of: {}",
                package.name,
                bins.join(", ")
            ),
        }),
    }
}

/// The host's target triple, from `rustc -vV` (honouring `$RUSTC`).
fn host_triple(sh: &Shell) -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = cmd!(sh, "{rustc} -vV").read().map_err(|e| Error::Cargo {
        message: e.to_string(),
    })?;
    version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_string)
        .ok_or_else(|| Error::Cargo {
            message: "`rustc -vV` printed no host triple".to_string(),
        })
}
