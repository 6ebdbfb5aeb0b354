//! `keygate serve`: run the emulator until Ctrl-C.

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use keygate_emulator::{Emulator, RateLimit};
use keygate_types::SecretString;
use tracing_subscriber::EnvFilter;

/// Options of `keygate serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on. Only loopback unless told otherwise.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST), env = "KEYGATE_HOST")]
    host: IpAddr,
    /// The port; 0 picks a free one.
    #[arg(long, default_value_t = 4100, env = "KEYGATE_PORT")]
    port: u16,
    /// An accepted environment secret (repeatable); a random `sk_test_…` one when none is given.
    #[arg(long = "secret", value_name = "SECRET")]
    secrets: Vec<SecretString>,
    /// A JSON seed file: organizations, users, memberships, allow-lists, keys.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Keep the state in this SQLite file (created when missing): every
    /// acknowledged write survives a restart, even `kill -9`. Seeds apply
    /// only to a new file. Without it, the state lives in memory.
    #[arg(long, value_name = "FILE", env = "KEYGATE_STATE")]
    state: Option<PathBuf>,
    /// Permissions organization keys may carry (repeatable or comma-separated).
    #[arg(
        long = "organization-permission",
        value_delimiter = ',',
        value_name = "SLUG"
    )]
    organization_permissions: Vec<String>,
    /// Permissions user keys may carry (repeatable or comma-separated).
    #[arg(long = "user-permission", value_delimiter = ',', value_name = "SLUG")]
    user_permissions: Vec<String>,
    /// Limit each secret to N requests per 60 s, answering 429 with
    /// `Retry-After` beyond (WorkOS allows 6000); off by default.
    #[arg(long, value_name = "N")]
    rate_limit: Option<u32>,
    /// Log line format, on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Why `keygate serve` stopped early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    /// The runtime could not start.
    #[error("could not start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The emulator could not start: a bad seed, or an address in use.
    #[error(transparent)]
    Emulator(#[from] keygate_emulator::Error),
    /// Ctrl-C cannot be listened for.
    #[error("could not listen for Ctrl-C: {0}")]
    Signal(#[source] std::io::Error),
    /// Standard output is gone.
    #[error("could not write to standard output: {0}")]
    Stdout(#[source] std::io::Error),
}

pub(crate) fn run(args: ServeArgs) -> Result<(), ServeError> {
    init_logs(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(serve(args))
}

fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, not for a file or a pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second subscriber can only fail to install; keep the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn serve(args: ServeArgs) -> Result<(), ServeError> {
    let mut builder = Emulator::builder().bind(SocketAddr::new(args.host, args.port));
    for secret in args.secrets {
        builder = builder.secret(secret);
    }
    if let Some(seed) = args.seed {
        builder = builder.seed_file(seed);
    }
    if let Some(state) = args.state {
        builder = builder.state_file(state);
    }
    if !args.organization_permissions.is_empty() {
        builder = builder.organization_permissions(args.organization_permissions);
    }
    if !args.user_permissions.is_empty() {
        builder = builder.user_permissions(args.user_permissions);
    }
    if let Some(requests) = args.rate_limit {
        builder = builder.rate_limit(RateLimit {
            requests,
            per: Duration::from_secs(60),
        });
    }
    let emu = builder.start().await?;
    // Listen for Ctrl-C before saying where we listen: a script that reads
    // the first lines and then interrupts must get a clean shutdown.
    let interrupted = interrupt()?;
    {
        // The first lines are for people and scripts: where, and with what secret.
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", emu.base_url()).map_err(ServeError::Stdout)?;
        writeln!(out, "secret: {}", emu.secret().expose_secret()).map_err(ServeError::Stdout)?;
        out.flush().map_err(ServeError::Stdout)?;
    }
    interrupted.await;
    tracing::info!("shutting down");
    emu.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C (SIGINT). The handler is installed when this returns,
/// not when the future is first polled.
#[cfg(unix)]
fn interrupt() -> Result<impl std::future::Future<Output = ()>, ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigint = signal(SignalKind::interrupt()).map_err(ServeError::Signal)?;
    Ok(async move {
        sigint.recv().await;
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn interrupt() -> Result<impl std::future::Future<Output = ()>, ServeError> {
    Ok(async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C; stopping");
        }
    })
}
