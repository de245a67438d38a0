//! One integration-test binary (linking stays cheap), a module per area.

mod support;

mod archive_contract;
mod closure_oracle;
mod jail_runs;
