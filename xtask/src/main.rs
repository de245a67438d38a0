//! This workspace's tasks: `cargo xtask jail [FLAGS]` packs the demo daemon
//! (or any package, with `-p`) into a jail. A project adopting jailpack
//! copies this file: the work is all in the `jailpack` library.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    match args.next().as_ref().and_then(|a| a.to_str()) {
        Some("jail") => jailpack::cli::main(args),
        _ => {
            eprintln!("usage: cargo xtask jail [--help]");
            ExitCode::FAILURE
        }
    }
}
