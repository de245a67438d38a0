//! The embedded service-script templates (`templates/`), shared by emit,
//! which renders them, and by the plan, which reads the systemd unit's
//! settings to give the jail the mount points that unit needs.

use crate::settings::ServiceKind;

/// The embedded template's name, as error messages give it.
pub(crate) fn name(kind: ServiceKind) -> &'static str {
    match kind {
        ServiceKind::OpenBsd => "templates/openbsd.rc",
        ServiceKind::FreeBsd => "templates/freebsd.rc",
        ServiceKind::Systemd => "templates/systemd.service",
    }
}

/// The embedded template's source.
pub(crate) fn source(kind: ServiceKind) -> &'static str {
    match kind {
        ServiceKind::OpenBsd => include_str!("../templates/openbsd.rc"),
        ServiceKind::FreeBsd => include_str!("../templates/freebsd.rc"),
        ServiceKind::Systemd => include_str!("../templates/systemd.service"),
    }
}
