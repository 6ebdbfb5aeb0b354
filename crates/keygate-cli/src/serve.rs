//! `keygate serve`: run the emulator, with the key console at `/`, until Ctrl-C.

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use keygate_emulator::{Emulator, SecretRateLimit};
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
    /// An accepted environment secret (repeatable); a random `sk_test_…` one
    /// when none is given here, in `--secret-file` or in `KEYGATE_SECRET`.
    /// A secret given on the command line is visible to every user of this
    /// machine in the process list (`ps`): prefer `--secret-file` or the
    /// `KEYGATE_SECRET` environment variable (read when `--secret` is absent).
    #[arg(
        long = "secret",
        value_name = "SECRET",
        env = "KEYGATE_SECRET",
        hide_env_values = true
    )]
    secrets: Vec<SecretString>,
    /// A file of accepted environment secrets, one per line, blank lines
    /// ignored (repeatable): keeps them out of the process list.
    #[arg(long = "secret-file", value_name = "PATH")]
    secret_files: Vec<PathBuf>,
    /// A JSON seed file: organizations, users, memberships, allow-lists, keys.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Keep the state in this SQLite file (created when missing): every
    /// acknowledged write survives a restart, even `kill -9`. Seeds apply
    /// only to a new file. Without it, the state lives in memory. M2M
    /// applications, sessions (revoked ones stay revoked), the client id and
    /// the token signing keys are kept too, so tokens issued before a restart
    /// on the same --port still verify after it. The file holds secrets in
    /// the clear, the signing keys' private halves among them (fine for an
    /// emulator): it is made readable by its owner only.
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
    /// Deliver every event to this URL (`http://` only; repeatable), signed
    /// as WorkOS signs webhooks. An endpoint the state file already has for
    /// the same URL is replaced.
    #[arg(long = "webhook", value_name = "URL")]
    webhooks: Vec<String>,
    /// The secret `--webhook` deliveries are signed with; a random `whsec_…`
    /// one, printed at start, when absent. Visible in the process list:
    /// prefer the `KEYGATE_WEBHOOK_SECRET` environment variable. Unused
    /// without `--webhook`.
    #[arg(
        long,
        value_name = "SECRET",
        env = "KEYGATE_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    webhook_secret: Option<SecretString>,
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
    /// The console's front server could not start.
    #[error(transparent)]
    Console(#[from] crate::console::FrontError),
    /// Ctrl-C cannot be listened for.
    #[error("could not listen for Ctrl-C: {0}")]
    Signal(#[source] std::io::Error),
    /// A `--secret-file` could not be read, or holds no secret.
    #[error("secret file {}: {reason}", path.display())]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A `--webhook` endpoint was refused (not an `http://` URL).
    #[error("--webhook {url}: {source}")]
    Webhook {
        /// The URL given.
        url: String,
        /// Why the emulator refused it (boxed: the error is large, and rare).
        #[source]
        source: Box<keygate_emulator::Error>,
    },
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

/// The secrets in a `--secret-file`: one per line, trimmed, blank lines
/// skipped; at least one.
fn read_secret_file(path: &Path) -> Result<Vec<SecretString>, ServeError> {
    let failed = |reason: String| ServeError::SecretFile {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| failed(format!("cannot be read: {e}")))?;
    let secrets: Vec<SecretString> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(SecretString::from)
        .collect();
    if secrets.is_empty() {
        return Err(failed("holds no secret (one per line expected)".to_owned()));
    }
    Ok(secrets)
}

async fn serve(args: ServeArgs) -> Result<(), ServeError> {
    // The emulator listens privately; the console's front server takes the
    // address asked for and passes everything that is not the console on.
    let front_addr = SocketAddr::new(args.host, args.port);
    let grantable = args.organization_permissions.clone();
    // The front is the one address clients know: bound first, so that M2M
    // and session tokens name it as their issuer (and find `/oauth2/jwks`
    // there), not the emulator's private port.
    let front = crate::console::bind(front_addr).await?;
    let mut builder = Emulator::builder()
        .bind(crate::console::EMULATOR_ADDR)
        .authkit_domain(&front.url);
    let mut secrets = args.secrets;
    for path in &args.secret_files {
        secrets.extend(read_secret_file(path)?);
    }
    for secret in secrets {
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
        builder = builder.rate_limit(SecretRateLimit {
            requests,
            per: Duration::from_secs(60),
        });
    }
    let emu = builder.start().await?;
    let webhook_secret = register_webhooks(&emu, &args.webhooks, args.webhook_secret)?;
    let front = crate::console::start(&emu, front, grantable).await?;
    // Listen for Ctrl-C before saying where we listen: a script that reads
    // the first lines and then interrupts must get a clean shutdown.
    let interrupted = interrupt()?;
    // The one address to use; the emulator behind it listens on a private port.
    tracing::info!(url = %front.url, "listening");
    {
        // The first lines are for people and scripts: where, and with what secret.
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", front.url).map_err(ServeError::Stdout)?;
        writeln!(out, "secret: {}", emu.secret().expose_secret()).map_err(ServeError::Stdout)?;
        writeln!(out, "key console: {}/ (sign in with the secret)", front.url)
            .map_err(ServeError::Stdout)?;
        for url in &args.webhooks {
            writeln!(out, "webhook: {url}").map_err(ServeError::Stdout)?;
        }
        if let Some(WebhookSecret::Generated(secret)) = &webhook_secret {
            writeln!(out, "webhook secret: {}", secret.expose_secret())
                .map_err(ServeError::Stdout)?;
        }
        // What a service verifying M2M and session tokens is configured with
        // (last: scripts read the lines above at fixed places).
        writeln!(out, "client id: {}", emu.client_id()).map_err(ServeError::Stdout)?;
        out.flush().map_err(ServeError::Stdout)?;
    }
    interrupted.await;
    tracing::info!("shutting down");
    front.shutdown().await;
    emu.shutdown().await;
    Ok(())
}

/// The secret `--webhook` deliveries are signed with.
#[derive(Debug)]
enum WebhookSecret {
    /// From `--webhook-secret`: not printed.
    Given,
    /// Made at start, and printed once.
    Generated(SecretString),
}

/// Registers each `--webhook` URL through the emulator's own registration
/// (the one `POST /_emulator/webhooks` uses), replacing an endpoint a state
/// file kept for the same URL, whose secret may differ.
fn register_webhooks(
    emu: &Emulator,
    urls: &[String],
    given: Option<SecretString>,
) -> Result<Option<WebhookSecret>, ServeError> {
    if urls.is_empty() {
        return Ok(None);
    }
    let (secret, shown) = match given {
        Some(secret) => (secret, WebhookSecret::Given),
        None => {
            let secret = generate_webhook_secret();
            (secret.clone(), WebhookSecret::Generated(secret))
        }
    };
    for url in urls {
        let failed = |source| ServeError::Webhook {
            url: url.clone(),
            source: Box::new(source),
        };
        for kept in emu.webhook_endpoints().iter().filter(|e| e.url == *url) {
            emu.remove_webhook_endpoint(kept.id.as_str())
                .map_err(failed)?;
        }
        let endpoint = emu
            .add_webhook_endpoint(url, secret.clone())
            .map_err(failed)?;
        tracing::info!(endpoint_id = %endpoint.id, url, "webhook endpoint registered");
    }
    Ok(Some(shown))
}

/// A fresh `whsec_` secret with 32 base62 characters.
fn generate_webhook_secret() -> SecretString {
    use rand::Rng;
    let random: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    SecretString::from(format!("whsec_{random}"))
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
