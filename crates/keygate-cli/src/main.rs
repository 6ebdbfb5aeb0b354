//! `keygate`: the command-line face of keygate.
//!
//! `keygate serve` runs the WorkOS-compatible key-service emulator on a local
//! port, for development and for tests written in any language.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Work with WorkOS-style API keys: run a local key service.
#[derive(Debug, Parser)]
#[command(name = "keygate", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands; each lives in its own module.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the key-service emulator.
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keygate: {e}");
            ExitCode::FAILURE
        }
    }
}
