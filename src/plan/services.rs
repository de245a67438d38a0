//! Which service scripts to write, and a project's own templates for them.

use std::path::Path;

use super::CustomTemplate;
use crate::closure::target::Os;
use crate::error::{Error, Result};
use crate::settings::{ServiceKind, Settings};

/// `services`, without repeats; by default the target OS's own.
pub(super) fn kinds(settings: &Settings, os: Os) -> Vec<ServiceKind> {
    if settings.services.is_empty() {
        return vec![match os {
            Os::OpenBsd => ServiceKind::OpenBsd,
            Os::FreeBsd => ServiceKind::FreeBsd,
            Os::Linux => ServiceKind::Systemd,
        }];
    }
    let mut kinds = Vec::new();
    for kind in &settings.services {
        if !kinds.contains(kind) {
            kinds.push(*kind);
        }
    }
    kinds
}

/// The largest template read: far above any service script, and a bound
/// on what a wrong path can make the build read.
const MAX_TEMPLATE_BYTES: u64 = 1 << 20;

/// A template is rendered into a published artifact: it must be a regular
/// file inside the package's directory (links resolved), small, and not
/// look like a secret, so that no settings line can publish /etc/shadow or
/// the packager's environment as a "unit".
fn check_template(path: &Path, package_dir: &Path) -> std::result::Result<(), String> {
    let real = std::fs::canonicalize(path).map_err(|e| e.to_string())?;
    let dir = std::fs::canonicalize(package_dir).map_err(|e| e.to_string())?;
    if !real.starts_with(&dir) {
        return Err(format!(
            "it lies outside the package, at {}",
            real.display()
        ));
    }
    let file = crate::regular::open_regular(&real).map_err(|e| e.to_string())?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    if size > MAX_TEMPLATE_BYTES {
        return Err(format!(
            "{size} bytes; a template is at most {MAX_TEMPLATE_BYTES}"
        ));
    }
    if let Some(why) = super::hardening::secret_name(&real) {
        return Err(format!("it looks like a secret: {why}"));
    }
    Ok(())
}

/// The `templates` settings, each checked to be a readable file now, so a
/// wrong path fails before anything is built, naming the key and the path.
pub(super) fn custom_templates(
    settings: &Settings,
    manifest: &Path,
) -> Result<Vec<CustomTemplate>> {
    let package_dir = manifest.parent().unwrap_or(Path::new("."));
    let given = [
        (ServiceKind::OpenBsd, &settings.templates.openbsd),
        (ServiceKind::FreeBsd, &settings.templates.freebsd),
        (ServiceKind::Systemd, &settings.templates.systemd),
    ];
    let mut templates = Vec::new();
    for (kind, value) in given {
        let Some(value) = value else { continue };
        let setting = format!("templates.{kind}");
        let path = package_dir.join(value);
        if let Err(problem) = check_template(&path, package_dir) {
            return Err(Error::Settings {
                manifest: manifest.to_path_buf(),
                message: format!(
                    "{setting}: cannot use the template {} ({problem}); it must be a text file of the package, under its directory {}",
                    path.display(),
                    package_dir.display()
                ),
            });
        }
        templates.push(CustomTemplate {
            kind,
            setting,
            path,
        });
    }
    Ok(templates)
}
