//! One integration-test binary (linking stays cheap), a module per area.

mod support;

mod archive_contract;
mod jail_runs;
