//! Who and where: the jail's name, its root on the target, the daemon's
//! path inside it, and the user and group it runs as (with their numeric
//! IDs when the settings give them), each defaulted and checked.

use std::path::{Path, PathBuf};

use super::hardening;
use super::paths::{checked_absolute, checked_account, checked_jail_root, checked_name};
use crate::build::Built;
use crate::closure::target::Os;
use crate::error::{Error, Result};
use crate::settings::Settings;

/// The names and places every later step uses.
#[derive(Debug, Clone)]
pub(super) struct Who {
    pub name: String,
    pub jail_root: PathBuf,
    pub exec: PathBuf,
    pub user: String,
    pub group: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

pub(super) fn decide(built: &Built, os: Os) -> Result<Who> {
    let settings = &built.settings;
    let manifest = &built.package.manifest_path;
    let name = checked_name(
        &manifest.display().to_string(),
        &settings.jail_name(&built.bin),
    )?;
    let jail_root = checked_jail_root(
        "root",
        &settings.root.clone().unwrap_or(format!("/var/jail/{name}")),
    )?;
    let exec = checked_absolute("exec", &settings.exec_path(&built.bin))?;
    let default_user = match os {
        Os::OpenBsd => format!("_{name}"),
        Os::Linux | Os::FreeBsd => name.clone(),
    };
    let user = checked_account("user", settings.user.as_deref().unwrap_or(&default_user))?;
    let group = checked_account("group", settings.group.as_deref().unwrap_or(&user))?;
    hardening::check_user(&user)?;
    hardening::check_group(&group)?;
    let (uid, gid) = ids(settings, &user, &group, manifest)?;
    Ok(Who {
        name,
        jail_root,
        exec,
        user,
        group,
        uid,
        gid,
    })
}

/// `uid` and `gid`: never 0 (root, wheel); `gid` defaults to `uid` when the
/// group is named after the user (the ports convention for daemon users).
fn ids(
    settings: &Settings,
    user: &str,
    group: &str,
    manifest: &Path,
) -> Result<(Option<u32>, Option<u32>)> {
    for (key, id) in [("uid", settings.uid), ("gid", settings.gid)] {
        if id == Some(0) {
            return Err(Error::Settings {
                manifest: manifest.to_path_buf(),
                message: format!(
                    "{key} = 0 is root's: give the daemon an ID of its own (OpenBSD ports register theirs in /usr/ports/infrastructure/db/user.list)"
                ),
            });
        }
    }
    let gid = settings.gid.or(settings.uid.filter(|_| group == user));
    Ok((settings.uid, gid))
}
