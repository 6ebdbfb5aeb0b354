//! `keygate`: the command-line face of keygate.
//!
//! `keygate serve` runs the WorkOS-compatible key-service emulator on a local
//! port, for development and for tests written in any language. `keygate
//! keys|orgs|users|memberships` manage keys and their owners through
//! `keygate-client`, against the real service or the emulator; `keygate m2m`
//! makes the emulator's M2M applications and gets their access tokens.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

mod console;
mod keys;
mod m2m;
mod memberships;
mod orgs;
mod output;
mod remote;
mod serve;
mod users;

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
    /// Manage API keys through the key service (WORKOS_API_KEY, WORKOS_BASE_URL).
    Keys(keys::KeysArgs),
    /// Manage organizations, the owners of API keys.
    Orgs(orgs::OrgsArgs),
    /// Manage users, who may own API keys within an organization.
    Users(users::UsersArgs),
    /// Manage organization memberships, which user keys need.
    Memberships(memberships::MembershipsArgs),
    /// Make the emulator's M2M applications and get their access tokens.
    M2m(m2m::M2mArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        // The key-service commands report their own errors and exit codes.
        Command::Keys(args) => return keys::run(args),
        Command::Orgs(args) => return orgs::run(args),
        Command::Users(args) => return users::run(args),
        Command::Memberships(args) => return memberships::run(args),
        Command::M2m(args) => return m2m::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keygate: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_arguments_never_show_a_secret_in_debug() {
        for argv in [
            &["keygate", "serve", "--secret", "sk_test_TOPSECRET"][..],
            &[
                "keygate",
                "serve",
                "--webhook",
                "http://127.0.0.1:3000/hooks",
                "--webhook-secret",
                "whsec_TOPSECRET",
            ][..],
            &["keygate", "keys", "validate", "sk_live_TOPSECRET"][..],
            &[
                "keygate",
                "m2m",
                "token",
                "--client-id",
                "client_1",
                "--client-secret",
                "TOPSECRET",
            ][..],
        ] {
            let cli = Cli::try_parse_from(argv).unwrap();
            let shown = format!("{cli:?} {cli:#?}");
            assert!(!shown.contains("TOPSECRET"), "{shown}");
        }
    }
}
