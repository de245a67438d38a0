//! cargo's build flags, parsed in one place for every subcommand that
//! builds the package (`cargo xtask jail` itself and `doctor --probe`).

use lexopt::Arg;

use super::text;
use crate::build::BuildRequest;
use crate::error::Result;

/// The build flags, as written.
const FLAGS: [&str; 11] = [
    "-p",
    "--package",
    "--bin",
    "--manifest-path",
    "--profile",
    "--target",
    "-F",
    "--features",
    "--all-features",
    "--no-default-features",
    "--locked",
];

/// `arg` as written (`-p`, `--package`) when it is one of cargo's build
/// flags. An owned name, so the caller can go on to read its value.
pub(super) fn build_flag(arg: &Arg) -> Option<String> {
    let name = match arg {
        Arg::Short(c) => format!("-{c}"),
        Arg::Long(name) => format!("--{name}"),
        Arg::Value(_) => return None,
    };
    FLAGS.contains(&name.as_str()).then_some(name)
}

/// Takes `flag` (from [`build_flag`]) into `request`, reading its value
/// from `parser`.
pub(super) fn parse(
    flag: &str,
    parser: &mut lexopt::Parser,
    request: &mut BuildRequest,
) -> Result<()> {
    match flag {
        "-p" | "--package" => request.package = Some(text(parser)?),
        "--bin" => request.overrides.bin = Some(text(parser)?),
        "--manifest-path" => request.manifest_path = Some(text(parser)?.into()),
        "--profile" => request.profile = text(parser)?,
        "--target" => request.target = Some(text(parser)?),
        "-F" | "--features" => request.features.push(text(parser)?),
        "--all-features" => request.all_features = true,
        "--no-default-features" => request.no_default_features = true,
        "--locked" => request.locked = true,
        _ => unreachable!("build_flag() admits only the flags above"),
    }
    Ok(())
}
