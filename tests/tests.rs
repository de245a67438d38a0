//! One integration-test binary (linking stays cheap), a module per area.

mod support;

mod adoption;
mod archive_contract;
mod audit;
mod closure_oracle;
mod debian_daemons;
mod directory_sources;
mod doctor;
mod emit_integrity;
mod hardening;
mod hostile_archives;
mod jail_runs;
mod learn;
mod loader_edge_cases;
mod messages;
mod openbsd_synthetic;
mod packing;
mod prebuilt;
mod presets;
mod release_doc;
mod sbom;
mod service_quoting;
mod service_scripts;
mod symbol_versions;
mod systemd_pid1;
mod verify;
