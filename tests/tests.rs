//! One integration-test binary (linking stays cheap), a module per area.

mod support;

mod archive_contract;
mod audit;
mod closure_oracle;
mod debian_daemons;
mod doctor;
mod hardening;
mod hostile_archives;
mod jail_runs;
mod loader_edge_cases;
mod openbsd_synthetic;
mod prebuilt;
mod presets;
mod service_scripts;
mod verify;
