//! jailpack: chroot jails as release artifacts.
//!
//! The pipeline (see DESIGN.md) runs one way, a module per stage:
//! [`build`] → [`closure`] → [`plan`] → [`emit`]; [`cli`] is the front end
//! that `cargo xtask jail` calls.

pub mod build;
pub mod cli;
pub mod closure;
pub mod emit;
pub mod error;
pub mod plan;
pub mod settings;

pub use error::{Error, Result};
