//! Running a command against the key service: the options every such command
//! shares, the client, the runtime, and how failures are reported.

use std::future::Future;
use std::io;
use std::process::ExitCode;

use clap::Args;
use keygate_client::{ApiError, Client, ClientBuilder, DEFAULT_BASE_URL};

use crate::output;

/// Options shared by `keygate keys|orgs|users|memberships|m2m`. The environment
/// secret is read from `WORKOS_API_KEY` only, never from a flag, so that it
/// stays out of shell history and process lists.
#[derive(Debug, Args)]
pub(crate) struct ServiceArgs {
    /// The key service's base URL.
    #[arg(
        long,
        global = true,
        env = "WORKOS_BASE_URL",
        value_name = "URL",
        help = "The key service's base URL [default: https://api.workos.com]"
    )]
    base_url: Option<String>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// A secret given on the command line, or read from standard input's first
/// line when it is `-` (which keeps it out of shell history and process
/// lists).
pub(crate) fn secret_or_stdin(
    given: keygate_types::SecretString,
) -> Result<keygate_types::SecretString, CommandError> {
    if given.expose_secret() != "-" {
        return Ok(given);
    }
    let mut line = String::new();
    io::BufRead::read_line(&mut io::stdin().lock(), &mut line)
        .map_err(|e| CommandError::Io("read standard input", e))?;
    Ok(keygate_types::SecretString::from(line.trim()))
}

/// Why a key-service command failed. Printed on standard error by
/// [`output::write_error`], with exit code 1.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    /// The service refused, failed or could not be reached, or the settings
    /// are wrong (such as `WORKOS_API_KEY` missing).
    #[error(transparent)]
    Client(#[from] keygate_client::Error),
    /// `keygate keys validate`: the service says the key is not valid.
    #[error("the key is not valid: unknown, revoked or expired")]
    InvalidKey,
    /// Bad input the service was never asked about.
    #[error("{0}")]
    Input(String),
    /// Standard input or output failed.
    #[error("could not {0}: {1}")]
    Io(&'static str, #[source] io::Error),
}

impl CommandError {
    /// The key service's answer, when this is the service refusing.
    fn api_error(&self) -> Option<&ApiError> {
        match self {
            CommandError::Client(e) => e.api_error(),
            _ => None,
        }
    }
}

impl ServiceArgs {
    /// The base URL given (flag or `WORKOS_BASE_URL`), or WorkOS's.
    pub(crate) fn base_url(&self) -> String {
        self.base_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .unwrap_or(DEFAULT_BASE_URL)
            .to_owned()
    }
}

/// Builds the client from the environment and `args`, runs `command` on a
/// single-threaded runtime, and turns the outcome into an exit code.
pub(crate) fn run<F, Fut>(args: &ServiceArgs, command: F) -> ExitCode
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<(), CommandError>>,
{
    let result = client(args).and_then(|client| block_on(command(client)));
    report(result, args.json)
}

/// Runs `command`, which makes its own calls, as [`run`] runs one: the same
/// runtime, error report and exit code.
pub(crate) fn run_without_client(
    json: bool,
    command: impl Future<Output = Result<(), CommandError>>,
) -> ExitCode {
    report(block_on(command), json)
}

fn block_on(command: impl Future<Output = Result<(), CommandError>>) -> Result<(), CommandError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Io("start the runtime", e))?
        .block_on(command)
}

/// The exit code of `result`, its error reported on standard error.
fn report(result: Result<(), CommandError>, json: bool) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Nowhere left to report a standard error that cannot be written.
            let _ = output::write_error(&mut io::stderr().lock(), &e, e.api_error(), json);
            ExitCode::FAILURE
        }
    }
}

fn client(args: &ServiceArgs) -> Result<Client, CommandError> {
    let mut builder = ClientBuilder::default()
        .with_env()?
        .user_agent(concat!("keygate-cli/", env!("CARGO_PKG_VERSION")));
    if let Some(url) = args.base_url.as_deref().filter(|u| !u.trim().is_empty()) {
        builder = builder.base_url(url.trim());
    }
    Ok(builder.build()?)
}

/// Runs `write` on a locked standard output.
pub(crate) fn print(
    write: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>,
) -> Result<(), CommandError> {
    let mut out = io::stdout().lock();
    write(&mut out).map_err(|e| CommandError::Io("write to standard output", e))
}
