//! The pipeline of DESIGN.md as one call: build → closure → plan → emit.
//! The root the target sees (the host's `/` or a sysroot) is built once
//! here and handed to every stage; the presets' dlopen()ed libraries (NSS
//! modules) are handed from the plan's presets to the closure here too, so
//! a front end only parses flags and prints.

use std::path::{Path, PathBuf};

use crate::build::{self, BuildRequest, Built, Prebuilt};
use crate::closure::root::FsRoot;
use crate::closure::{self, Closure, Executable};
use crate::emit::{self, Emitted};
use crate::error::{Error, Result};
use crate::plan::{self, DEFAULT_MTIME, Plan, presets};

/// What to jail and how.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// A cargo build, or (`prebuilt`) an existing executable.
    pub build: BuildRequest,
    /// `--binary`: no cargo build; the build request's overrides still apply.
    pub prebuilt: Option<Prebuilt>,
    /// The target's root file system, when not the build host's `/`.
    pub sysroot: Option<PathBuf>,
    /// Every archive entry's mtime (`SOURCE_DATE_EPOCH`).
    pub mtime: u64,
    /// How the archive is compressed (`--compression`, `--compression-level`).
    pub compression: emit::compress::Settings,
}

/// A planned jail, before anything is written.
#[derive(Debug, Clone)]
pub struct Planned {
    pub built: Built,
    pub plan: Plan,
}

/// Builds (or takes the prebuilt executable), resolves the closure and
/// makes the plan.
pub fn plan(request: &Request) -> Result<Planned> {
    let root = FsRoot::of(request.sysroot.as_deref());
    let built = build_or_take(request)?;
    let closure = closure_of(&built, &root)?;
    let plan = plan::plan(&built, &closure, &root, request.mtime)?;
    Ok(Planned { built, plan })
}

/// [`plan`], then writes the artifacts under `out_dir` (default: the cargo
/// target directory's `jail/`).
pub fn pack(request: &Request, out_dir: Option<&Path>) -> Result<(Planned, Emitted)> {
    pack_with_progress(request, out_dir, &mut |_| {})
}

/// [`pack`], telling `progress` as the archive is made.
pub fn pack_with_progress(
    request: &Request,
    out_dir: Option<&Path>,
    progress: &mut dyn FnMut(emit::archive::Progress),
) -> Result<(Planned, Emitted)> {
    let planned = plan(request)?;
    let out_dir = out_dir.map_or_else(
        || planned.built.target_directory.join("jail"),
        Path::to_path_buf,
    );
    let emitted = emit::emit_with(&planned.plan, &out_dir, &request.compression, progress)?;
    Ok((planned, emitted))
}

/// Builds the package, or takes `--binary`'s executable.
pub fn build_or_take(request: &Request) -> Result<Built> {
    match &request.prebuilt {
        Some(prebuilt) => build::prebuilt(&Prebuilt {
            overrides: request.build.overrides.clone(),
            ..prebuilt.clone()
        }),
        None => build::build(&request.build),
    }
}

/// The closure of the daemon and the settings' extra executables, with
/// the libraries the presets dlopen().
pub fn closure_of(built: &Built, root: &FsRoot) -> Result<Closure> {
    let dlopen = presets::dlopen(built, root)?;
    let options = closure::Options {
        root: root.clone(),
        ld_library_path: Vec::new(),
        dlopen: dlopen.required,
        optional_dlopen: dlopen.optional,
    };
    let mut closure = closure::resolve(&executables(built, root)?, &options)?;
    // A directory source's ELF objects (plugins) each get a closure of
    // their own, without the daemon's dlopen() lists; one that cannot be
    // completed is left out rather than failing the jail.
    let objects = plan::tree::elf_objects(&built.settings, &built.package.manifest_path, root)?;
    if !objects.is_empty() {
        let plugins = closure::Resolver::new(closure::Options {
            root: root.clone(),
            ..closure::Options::default()
        });
        for object in objects {
            let resolved = plugins.resolve(std::slice::from_ref(&object));
            closure.absorb(&object.jail_path, resolved);
        }
    }
    Ok(closure)
}

/// The daemon first, then the settings' extra executables at the same
/// path inside the jail as on the target (read from the root).
fn executables(built: &Built, root: &FsRoot) -> Result<Vec<Executable>> {
    let mut list = vec![Executable {
        source: built.executable.clone(),
        jail_path: PathBuf::from(built.settings.exec_path(&built.bin)),
    }];
    for (index, path) in built.settings.executables.iter().enumerate() {
        let jail_path = plan::paths::checked_absolute(&format!("executables[{index}]"), path)?;
        let resolved = root.resolve(&jail_path)?.ok_or_else(|| Error::Read {
            path: root.host_path(&jail_path),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such executable (executables setting)",
            ),
        })?;
        if let Some(top) = [jail_path.as_path(), resolved.path.as_path()]
            .into_iter()
            .find_map(plan::paths::kernel_or_device_dir)
        {
            return Err(Error::UnsafePath {
                field: format!("executables[{index}]"),
                path: path.clone(),
                reason: format!(
                    "it lies under {top}, which the kernel fills: never a program to jail"
                ),
            });
        }
        list.push(Executable {
            source: root.host_path(&resolved.path),
            jail_path,
        });
    }
    Ok(list)
}

/// SOURCE_DATE_EPOCH (reproducible-builds.org), else a constant.
pub fn source_date_epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(_) => Ok(DEFAULT_MTIME),
        Ok(value) => value.trim().parse().map_err(|_| {
            Error::Usage(format!(
                "SOURCE_DATE_EPOCH={value:?} is not a number of seconds"
            ))
        }),
    }
}
