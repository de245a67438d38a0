//! Stage 4, emit: the plan becomes files under the output directory — the
//! jail tarball, the service scripts with their install notes (and, for
//! OpenBSD, a ports PLIST fragment), a `.sha256` for each, and a JSON
//! manifest. Everything is made in memory and in temporary files first,
//! then renamed into place, so a failed run leaves nothing at a final path.

pub mod archive;
pub mod compress;
pub mod install;
mod quoting;
pub mod sbom;
pub mod service;
#[cfg(test)]
mod snapshots;
mod staged;

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use self::archive::Progress;
pub use self::compress::Compression;
use self::service::{ServiceContext, ServiceKind, WritableDir};
use self::staged::Staged;
use crate::closure::target::Os;
use crate::error::{Error, Result};
use crate::manifest::ArtifactRecord;
use crate::plan::Plan;

/// What emit wrote.
#[derive(Debug, Clone)]
pub struct Emitted {
    pub out_dir: PathBuf,
    /// The archive, the service scripts, their INSTALL notes, the OpenBSD
    /// PLIST fragment, the SBOM and the manifest (not the `.sha256` files).
    pub artifacts: Vec<ArtifactRecord>,
    /// Every file written, the `.sha256` files included, with its kind.
    pub written: Vec<Written>,
}

/// One file emit wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Relative to the output directory.
    pub file: PathBuf,
    /// `archive`, `service`, `install-notes`, `plist`, `sbom`, `manifest` or
    /// `checksum`.
    pub kind: &'static str,
    pub sha256: String,
}

/// Writes every artifact of `plan` under `out_dir`, the archive as gzip -6.
pub fn emit(plan: &Plan, out_dir: &Path) -> Result<Emitted> {
    emit_with(plan, out_dir, &compress::Settings::default(), &mut |_| {})
}

/// Writes every artifact of `plan` under `out_dir`, the archive compressed
/// as `compression` says, telling `progress` as the archive is made.
pub fn emit_with(
    plan: &Plan,
    out_dir: &Path,
    compression: &compress::Settings,
    progress: &mut dyn FnMut(Progress),
) -> Result<Emitted> {
    check_compression(plan, compression)?;
    let made_out_dir = !out_dir.exists();
    let emitted = write_all(plan, out_dir, compression, progress);
    if emitted.is_err() && made_out_dir {
        // Only if still empty: the archive's temporary file is gone by now.
        let _ = std::fs::remove_dir(out_dir);
    }
    emitted
}

fn check_compression(plan: &Plan, compression: &compress::Settings) -> Result<()> {
    compression.check().map_err(Error::Usage)?;
    if plan.target.os == Os::OpenBsd && compression.compression == Compression::Zstd {
        return Err(Error::Usage(
            "--compression zstd: OpenBSD's tar reads only gzip, so an OpenBSD jail is a .tar.gz (leave out --compression, or use gzip)".into(),
        ));
    }
    Ok(())
}

fn write_all(
    plan: &Plan,
    out_dir: &Path,
    compression: &compress::Settings,
    progress: &mut dyn FnMut(Progress),
) -> Result<Emitted> {
    let base = artifact_base(plan)?;
    let mut staged = Staged::default();
    // What a killed run left behind, where this one writes.
    staged::sweep(out_dir);
    for kind in &plan.services {
        staged::sweep(&out_dir.join(kind.as_str()));
    }

    // Streamed into a temporary file beside its final path, hashed as it goes.
    let archive_name = PathBuf::from(format!("{base}.{}", compression.compression.extension()));
    let temp = staged::temp_file(&out_dir.join(&archive_name))?;
    let written = archive::write_archive(
        plan,
        HashingWriter {
            inner: temp,
            sha256: Sha256::new(),
        },
        compression,
        progress,
    )?;
    let sha256 = written.sha256.finalize();
    staged.add_written(
        "archive",
        archive_name.clone(),
        written.inner,
        crate::checksum::hex(&sha256),
        0o644,
    );
    let mut context = service_context(plan);
    context.archive = archive_name.display().to_string();
    // Each flavour's folder: the script named as installed, its INSTALL
    // notes and, for OpenBSD, the ports PLIST fragment.
    for &kind in &plan.services {
        let dir = Path::new(kind.as_str());
        let script = render_script(plan, kind, &context)?;
        staged.add(
            "service",
            dir.join(kind.file_name(&plan.name)),
            script.into_bytes(),
            kind.mode(),
        );
        let notes = install::install_notes(kind, &context)?;
        staged.add(
            "install-notes",
            dir.join(install::INSTALL_FILE),
            notes.into_bytes(),
            0o644,
        );
        if kind == ServiceKind::OpenBsd {
            let plist = install::plist_fragment(&context)?;
            staged.add(
                "plist",
                dir.join(install::PLIST_FILE),
                plist.into_bytes(),
                0o644,
            );
        }
    }
    let mut manifest = crate::plan::manifest(plan);
    // The SBOM describes the jail's files, which the manifest lists before
    // it gets its artifacts: so the SBOM is one of them.
    staged.add(
        "sbom",
        PathBuf::from(format!("{base}.cdx.json")),
        sbom::document(plan, &manifest).to_json(),
        0o644,
    );
    let artifacts: Vec<ArtifactRecord> = staged.files.iter().map(|f| f.record()).collect();
    manifest.artifacts = artifacts.clone();
    staged.add(
        "manifest",
        PathBuf::from(format!("{base}.json")),
        manifest.to_json(),
        0o644,
    );

    let mut all: Vec<ArtifactRecord> = artifacts;
    all.push(staged.files[staged.files.len() - 1].record());
    staged.add_checksums();
    let written = staged
        .files
        .iter()
        .map(|f| Written {
            file: f.path.clone(),
            kind: f.kind,
            sha256: f.record().sha256,
        })
        .collect();
    staged.commit(out_dir)?;
    Ok(Emitted {
        out_dir: out_dir.to_path_buf(),
        artifacts: all,
        written,
    })
}

/// A writer that hashes what it writes.
struct HashingWriter<W> {
    inner: W,
    sha256: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha256.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The service script of `kind`: from the project's own template when its
/// settings name one (`templates.<flavour>`), else the embedded one.
fn render_script(plan: &Plan, kind: ServiceKind, context: &ServiceContext) -> Result<String> {
    let Some(custom) = plan.templates.iter().find(|t| t.kind == kind) else {
        return service::render(kind, context, None);
    };
    let name = format!("{} ({})", custom.path.display(), custom.setting);
    let source = std::fs::read_to_string(&custom.path).map_err(|e| Error::Template {
        template: name.clone(),
        source: minijinja::Error::new(
            minijinja::ErrorKind::TemplateNotFound,
            format!(
                "{}: cannot read {}: {e}",
                custom.setting,
                custom.path.display()
            ),
        ),
    })?;
    service::render(kind, context, Some((&name, &source)))
}

/// `<name>-<version>-<target-triple>`.
fn base_name(plan: &Plan) -> String {
    format!("{}-{}-{}", plan.name, plan.version, plan.triple)
}

/// [`base_name`], checked so no name can leave the output directory.
fn artifact_base(plan: &Plan) -> Result<String> {
    let base = base_name(plan);
    let ok = base
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
        && !base.starts_with('.');
    if !ok {
        return Err(Error::UnsafePath {
            field: "artifact name".into(),
            path: base,
            reason: "name, version and target triple may hold only letters, digits and . _ + -"
                .into(),
        });
    }
    Ok(base)
}

pub fn service_context(plan: &Plan) -> ServiceContext {
    let writable: Vec<WritableDir> = plan
        .writable
        .iter()
        .map(|w| WritableDir {
            path: w.path.display().to_string(),
            owner: w.owner.clone(),
            group: w.group.clone(),
            mode: format!("{:04o}", w.mode),
            runtime_directory: w
                .path
                .strip_prefix("/run")
                .ok()
                .filter(|rest| !rest.as_os_str().is_empty())
                .map(|rest| rest.display().to_string()),
        })
        .collect();
    // The plan refuses different modes under /run (a unit has one).
    let runtime_directory_mode = writable
        .iter()
        .find(|w| w.runtime_directory.is_some())
        .map(|w| w.mode.clone());
    let root = crate::plan::paths::archive_path(&plan.jail_root);
    let below_tmp = |archived: &Path| {
        let path = Path::new("/").join(archived.strip_prefix(&root).unwrap_or(archived));
        ["/tmp", "/var/tmp"]
            .iter()
            .any(|tmp| path.starts_with(tmp) && path != Path::new(tmp))
    };
    ServiceContext {
        name: plan.name.clone(),
        description: plan.description.clone(),
        jail_root: plan.jail_root.display().to_string(),
        exec: plan.exec.display().to_string(),
        args: plan.args.clone(),
        user: plan.user.clone(),
        group: plan.group.clone(),
        foreground: plan.foreground,
        writable,
        needs_devices: plan.needs_devices,
        private_tmp: !plan.entries.iter().any(|e| below_tmp(&e.path)),
        runtime_directory_mode,
        version: plan.version.clone(),
        archive: format!("{}.tar.gz", base_name(plan)),
        uid: plan.uid,
        gid: plan.gid,
    }
}
