//! `writable`: directories the daemon owns and writes to, each checked by
//! the hardening rules (no world-writable directory without the sticky bit).

use super::accounts::Who;
use super::hardening;
use super::jail::Jail;
use super::paths::{checked_absolute, checked_account};
use super::{EntryKind, Owner, Writable};
use crate::error::Result;
use crate::settings::Settings;

pub(super) fn add(jail: &mut Jail, settings: &Settings, who: &Who) -> Result<Vec<Writable>> {
    let mut writable = Vec::new();
    for (index, dir) in settings.writable.iter().enumerate() {
        let field = format!("writable[{index}]");
        let path = checked_absolute(&format!("{field}.path"), &dir.path)?;
        let owner = checked_account(
            &format!("{field}.owner"),
            dir.owner.as_deref().unwrap_or(&who.user),
        )?;
        let group = checked_account(
            &format!("{field}.group"),
            dir.group.as_deref().unwrap_or(&who.group),
        )?;
        let mode = dir.mode.unwrap_or(0o750);
        hardening::check_writable_path(&field, &path)?;
        hardening::check_writable_mode(&field, &path, mode)?;
        jail.add(
            &path,
            EntryKind::Directory,
            mode,
            Some(Owner::named(&owner, &group)),
            &field,
        )?;
        writable.push(Writable {
            path,
            owner,
            group,
            mode,
        });
    }
    Ok(writable)
}
