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
        if let Err(e) = crate::regular::open_regular(&path) {
            return Err(Error::Settings {
                manifest: manifest.to_path_buf(),
                message: format!(
                    "{setting}: cannot read the template {} ({e}); the path is relative to the package directory {}",
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
