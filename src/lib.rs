//! jailpack: chroot jails as release artifacts.
//!
//! The pipeline (see DESIGN.md) runs one way, a module per stage:
//! [`build`] → [`closure`] → [`plan`] → [`emit`], and optionally
//! [`verify`], which [`learn`] loops over; [`audit`] checks an installed jail; [`cli`] is the front end
//! that `cargo xtask jail` calls.

pub mod audit;
pub mod build;
pub mod checksum;
pub mod cli;
pub mod closure;
pub mod cyclonedx;
pub mod emit;
pub mod error;
pub mod learn;
pub mod manifest;
pub mod parallel;
pub mod pipeline;
pub mod plan;
pub mod provenance;
pub mod regular;
pub mod settings;
mod templates;
pub mod verify;

pub use error::{Error, Result};
