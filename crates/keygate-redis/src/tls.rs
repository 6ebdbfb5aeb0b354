//! How the tier reaches Redis: TLS (`rediss://`) and ACL credentials, and
//! one early connection that names a misconfiguration in the log. The
//! rules users see are on [`TlsOptions`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keygate_types::SecretString;
use redis::cluster::ClusterClientBuilder;
use redis::{
    AsyncConnectionConfig, ClientTlsConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo,
    RedisError, TlsCertificates,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::Error;

/// TLS settings for a `rediss://` URL: which CA to trust, which client
/// certificate to show. Give them with
/// [`RedisTierBuilder::tls`](crate::RedisTierBuilder::tls).
///
/// ```no_run
/// use keygate_redis::{RedisTier, TlsOptions};
///
/// # fn run() -> Result<(), keygate_redis::Error> {
/// let tier = RedisTier::builder("rediss://redis.internal:6380/")
///     .tls(
///         TlsOptions::new()
///             .ca_file("/etc/keygate/redis-ca.pem")
///             .client_certificate("/etc/keygate/client.pem", "/etc/keygate/client-key.pem"),
///     )
///     .credentials("billing-api", std::env::var("REDIS_PASSWORD").unwrap_or_default())
///     .secret(std::env::var("KEYGATE_FLEET_SECRET").unwrap_or_default())
///     .build()?;
/// # let _ = tier; Ok(()) }
/// ```
///
/// A `rediss://` URL connects over TLS (1.3 or 1.2) through the `redis`
/// crate's rustls support. The server's certificate must name the host
/// or address in the URL and chain to the system's roots (the operating
/// system's store, read at each connection) or, with
/// [`ca_file`](Self::ca_file), to that file's CAs alone. On a Redis
/// Cluster each node is checked against the address the cluster announces
/// for it. The files are read and checked when the tier is built; a
/// missing, empty or mismatched one is an [`Error::Tls`](crate::Error::Tls).
///
/// # The crypto provider
/// The `redis` crate builds its rustls configuration from the process-wide
/// default [`CryptoProvider`](rustls::crypto::CryptoProvider) and takes no
/// provider of its own. So, when a tier is built for a `rediss://` URL:
/// - if the process already has a default provider, that one is used;
/// - otherwise keygate installs the one its features select as the
///   process default (`aws-lc-rs`, the default feature, or else `ring`)
///   and logs that at DEBUG. Nothing is installed for a `redis://` URL.
///
/// An application that wants another provider installs it before building
/// the tier. Built with neither feature, a `rediss://` tier needs the
/// application's provider and is refused with [`TlsError::NoCryptoProvider`]
/// without one.
///
/// # When the settings are wrong
/// Building the tier does not wait for Redis, so a wrong URL scheme, an
/// untrusted certificate or refused credentials show at the first
/// connection. The tier makes that connection at once, in the background,
/// and when it fails for a reason that will not pass by itself logs one
/// ERROR (`fleet mode: redis refused this replica's connection: …`) naming
/// the setting to change:
///
/// | what is wrong | what the line says |
/// |---|---|
/// | `redis://` to a TLS-only port | write `rediss://` instead of `redis://` |
/// | `rediss://` to a plain port | the server does not answer TLS on this port |
/// | certificate from a private CA, no CA file | does not chain to the system's roots: set `ca_file` |
/// | certificate from another CA than the CA file's | not signed by a CA in `ca_file` |
/// | certificate for another host | not valid for the host in the URL |
/// | certificate expired | expired or not yet valid |
/// | client certificate required, none given | set `TlsOptions::client_certificate` |
/// | client certificate refused | give one signed by a CA the server trusts |
/// | no credentials (`NOAUTH`) | set `RedisTierBuilder::credentials` |
/// | wrong user or password | check `RedisTierBuilder::credentials` and the user's ACL |
///
/// Meanwhile the replica works on its own, as when Redis is down. Neither
/// the password nor a URL is ever logged.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    ca_file: Option<PathBuf>,
    client_certificate: Option<(PathBuf, PathBuf)>,
}

impl TlsOptions {
    /// The system's roots, no client certificate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts only the CA certificates in this PEM file (one or more),
    /// instead of the system's roots: for a Redis whose certificate a
    /// private CA signed. Read when the tier is built.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Shows this client certificate (a PEM chain) and proves it with this
    /// private key (PEM: PKCS #8, PKCS #1 or SEC1), for a Redis started
    /// with `tls-auth-clients yes` or `optional`. Read when the tier is
    /// built.
    pub fn client_certificate(
        mut self,
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Self {
        self.client_certificate = Some((cert_path.into(), key_path.into()));
        self
    }
}

/// Why the TLS settings were refused when the tier was built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// TLS options were given for a `redis://` URL, which never uses TLS.
    #[error(
        "TLS options were given but the Redis URL is redis://, which never uses TLS: \
         write rediss://host:port/ to reach Redis over TLS"
    )]
    OptionsForPlainUrl,
    /// A PEM file could not be read.
    #[error("cannot read the {what} file {}: {source}", path.display())]
    Unreadable {
        /// Which file: `CA`, `client certificate` or `client key`.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The client key does not go with the client certificate (or is of a
    /// kind the crypto provider cannot sign with).
    #[error(
        "the client key {} does not go with the client certificate {}: {reason}",
        key.display(),
        cert.display()
    )]
    ClientKeyMismatch {
        /// The certificate's path.
        cert: PathBuf,
        /// The key's path.
        key: PathBuf,
        /// What rustls found.
        reason: String,
    },
    /// A PEM file holds nothing of what it should.
    #[error("the {what} file {} holds no {expected}: {reason}", path.display())]
    Invalid {
        /// Which file: `CA`, `client certificate` or `client key`.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// What it should hold.
        expected: &'static str,
        /// What was found instead.
        reason: String,
    },
    /// A `rediss://` URL, no crypto provider installed, and keygate-redis
    /// built with neither `aws-lc-rs` nor `ring`.
    #[error(
        "rediss:// needs a rustls crypto provider: enable keygate-redis's `aws-lc-rs` or `ring` \
         feature, or install one with rustls::crypto::CryptoProvider::install_default \
         before building the tier"
    )]
    NoCryptoProvider,
}

/// The TLS options and ACL credentials of a tier.
#[derive(Debug, Clone, Default)]
pub(crate) struct Access {
    pub(crate) tls: Option<TlsOptions>,
    pub(crate) credentials: Option<Credentials>,
}

/// An ACL user and its password (redacted in `Debug`).
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub(crate) user: String,
    pub(crate) password: SecretString,
}

impl Access {
    /// A client for one endpoint.
    pub(crate) fn client(&self, url: &str) -> Result<redis::Client, Error> {
        let info = self.connection_info(url)?;
        if !is_tls(&info) {
            return Ok(redis::Client::open(info)?);
        }
        let certificates = self.certificates()?;
        Ok(redis::Client::build_with_tls(info, certificates)?)
    }

    /// A client builder for a Redis Cluster's seed nodes, all `redis://` or
    /// all `rediss://`.
    pub(crate) fn cluster(&self, nodes: &[String]) -> Result<ClusterClientBuilder, Error> {
        let infos = nodes
            .iter()
            .map(|node| self.connection_info(node))
            .collect::<Result<Vec<_>, _>>()?;
        let tls = infos.iter().any(is_tls);
        let builder = ClusterClientBuilder::new(infos);
        if !tls {
            return Ok(builder);
        }
        Ok(builder.certs(self.certificates()?))
    }

    /// The URL's settings with the credentials, when given, in place of
    /// any in the URL; refuses TLS options for a plain URL.
    fn connection_info(&self, url: &str) -> Result<ConnectionInfo, Error> {
        let mut info = url.into_connection_info()?;
        if let Some(Credentials { user, password }) = &self.credentials {
            let settings = info
                .redis_settings()
                .clone()
                .set_username(user)
                .set_password(password.expose_secret());
            info = info.set_redis_settings(settings);
        }
        if self.tls.is_some() && !is_tls(&info) {
            return Err(TlsError::OptionsForPlainUrl.into());
        }
        Ok(info)
    }

    /// The CA and client certificate, read and checked now so that a bad
    /// file is reported by `build`, not at every connection, with the
    /// crypto provider they will be used with.
    fn certificates(&self) -> Result<TlsCertificates, TlsError> {
        let provider = select_crypto_provider()?;
        let options = self.tls.clone().unwrap_or_default();
        let root_cert = match &options.ca_file {
            Some(path) => {
                let pem = read("CA", path)?;
                pem_certificates("CA", path, &pem)?;
                Some(pem)
            }
            None => None,
        };
        let client_tls = match &options.client_certificate {
            Some((cert_path, key_path)) => Some(client_identity(cert_path, key_path, &provider)?),
            None => None,
        };
        Ok(TlsCertificates {
            client_tls,
            root_cert,
        })
    }
}

/// A client certificate chain and its key, checked to belong together.
fn client_identity(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<ClientTlsConfig, TlsError> {
    let client_cert = read("client certificate", cert_path)?;
    let chain = pem_certificates("client certificate", cert_path, &client_cert)?;
    let client_key = read("client key", key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&client_key)
        .map_err(|error| invalid("client key", key_path, "private key", error))?;
    CertifiedKey::from_der(chain, key, provider).map_err(|error| TlsError::ClientKeyMismatch {
        cert: cert_path.to_owned(),
        key: key_path.to_owned(),
        reason: error.to_string(),
    })?;
    Ok(ClientTlsConfig {
        client_cert,
        client_key,
    })
}

/// The certificates of a PEM file: at least one, each well formed.
fn pem_certificates(
    what: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(what, path, "certificate", error))?;
    if certificates.is_empty() {
        return Err(invalid(
            what,
            path,
            "certificate",
            "no -----BEGIN CERTIFICATE----- block",
        ));
    }
    Ok(certificates)
}

fn is_tls(info: &ConnectionInfo) -> bool {
    matches!(info.addr(), ConnectionAddr::TcpTls { .. })
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Unreadable {
        what,
        path: path.to_owned(),
        source,
    })
}

fn invalid(
    what: &'static str,
    path: &Path,
    expected: &'static str,
    reason: impl std::fmt::Display,
) -> TlsError {
    TlsError::Invalid {
        what,
        path: path.to_owned(),
        expected,
        reason: reason.to_string(),
    }
}

/// The process-wide crypto provider the `redis` crate's rustls
/// configuration will use, installed now if there is none (see the module
/// docs).
fn select_crypto_provider() -> Result<Arc<CryptoProvider>, TlsError> {
    if let Some(provider) = CryptoProvider::get_default() {
        return Ok(Arc::clone(provider));
    }
    #[cfg(feature = "aws-lc-rs")]
    let (provider, name) = (rustls::crypto::aws_lc_rs::default_provider(), "aws-lc-rs");
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    let (provider, name) = (rustls::crypto::ring::default_provider(), "ring");
    #[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
    // Another thread may install one first: then that one is used.
    if provider.install_default().is_ok() {
        tracing::debug!(
            provider = name,
            "fleet mode: installed the process-wide rustls crypto provider for TLS to redis"
        );
    }
    CryptoProvider::get_default()
        .map(Arc::clone)
        .ok_or(TlsError::NoCryptoProvider)
}

/// How long the first connection may take before it is left to the tier.
const FIRST_CONTACT_TIMEOUT: Duration = Duration::from_secs(5);

impl Access {
    /// Connects once with `client`, in the background, and logs one ERROR
    /// saying what to change when the connection fails for a reason that
    /// will not pass.
    pub(crate) fn first_contact(&self, runtime: &tokio::runtime::Handle, client: redis::Client) {
        let setup = Setup {
            tls: is_tls(client.get_connection_info()),
            ca_file: self.tls.as_ref().is_some_and(|tls| tls.ca_file.is_some()),
        };
        runtime.spawn(first_contact(client, setup));
    }
}

/// What the first connection was made with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Setup {
    tls: bool,
    ca_file: bool,
}

async fn first_contact(client: redis::Client, setup: Setup) {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(FIRST_CONTACT_TIMEOUT))
        .set_response_timeout(Some(FIRST_CONTACT_TIMEOUT));
    let outcome = async {
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await
    }
    .await;
    let error = match outcome {
        Ok(()) => {
            tracing::debug!(tls = setup.tls, "fleet mode: connected to redis");
            return;
        }
        Err(error) => error,
    };
    match misconfiguration(&client, &error, setup).await {
        Some(misconfiguration) => tracing::error!(
            %error,
            "fleet mode: redis refused this replica's connection: {misconfiguration}"
        ),
        // Down, unreachable, slow: the tier retries and logs it.
        None => tracing::debug!(%error, "fleet mode: the first connection to redis failed"),
    }
}

/// What `error` says about the settings. A plain Redis never answers a TLS
/// handshake (it waits for the end of a command line), so a TLS connection
/// that timed out is retried as one plain `PING`.
async fn misconfiguration(
    client: &redis::Client,
    error: &RedisError,
    setup: Setup,
) -> Option<Misconfiguration> {
    if setup.tls
        && error.is_timeout()
        && let ConnectionAddr::TcpTls { host, port, .. } = client.get_connection_info().addr()
        && answers_plain(host, *port).await
    {
        return Some(Misconfiguration::TlsToPlain);
    }
    Misconfiguration::of(error, setup)
}

/// Whether a plain Redis answers at `host:port`: any RESP reply to `PING`
/// (`+PONG`, or an error such as `-NOAUTH`).
async fn answers_plain(host: &str, port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect((host, port)).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut first = [0u8; 1];
        stream.read_exact(&mut first).await?;
        Ok::<_, std::io::Error>(matches!(first[0], b'+' | b'-'))
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .is_ok_and(|answered| answered.unwrap_or(false))
}

/// A connection failure that retrying will not cure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Misconfiguration {
    #[error(
        "the server closed the connection at the first command, as a TLS-only port does \
         with a plain client: if Redis serves TLS, write rediss:// instead of redis://"
    )]
    PlainToTls,
    #[error(
        "the server does not answer TLS on this port: if it serves plain TCP, write redis:// \
         instead of rediss://, or use its TLS port"
    )]
    TlsToPlain,
    #[error(
        "the server's certificate does not chain to the system's roots: set \
         TlsOptions::ca_file to the CA that signed it"
    )]
    NotFromSystemRoots,
    #[error(
        "the server's certificate is not signed by a CA in TlsOptions::ca_file: give the CA \
         that signed it"
    )]
    NotFromCaFile,
    #[error(
        "the server's certificate was refused (the error says why): check the certificate \
         Redis serves (its tls-cert-file)"
    )]
    CertificateRefused,
    #[error(
        "the server's certificate is not valid for the host in the URL: use a host name or \
         address its certificate names"
    )]
    WrongHost,
    #[error(
        "the server's certificate is expired or not yet valid (or this machine's clock is wrong)"
    )]
    ExpiredCertificate,
    #[error("the server requires a client certificate: set TlsOptions::client_certificate")]
    ClientCertificateRequired,
    #[error(
        "the server ended the TLS handshake: it may require a client certificate (set \
         TlsOptions::client_certificate) or accept neither TLS 1.2 nor 1.3"
    )]
    HandshakeRefused,
    #[error(
        "the server refused the client certificate: give one signed by a CA the server trusts \
         (its tls-ca-cert-file)"
    )]
    ClientCertificateRefused,
    #[error(
        "the server requires credentials: set RedisTierBuilder::credentials (an ACL user and \
         its password)"
    )]
    CredentialsRequired,
    #[error(
        "the server refused the user or password: check RedisTierBuilder::credentials and the \
         user's ACL (it must be on, with access to the prefix's keys and channels)"
    )]
    CredentialsRefused,
}

impl Misconfiguration {
    /// What `error`, on a first connection made with `setup`, says about
    /// the settings; `None` when it may pass by itself.
    pub(crate) fn of(error: &RedisError, setup: Setup) -> Option<Self> {
        match error.code() {
            Some("NOAUTH") => return Some(Self::CredentialsRequired),
            Some("WRONGPASS") => return Some(Self::CredentialsRefused),
            Some(_) => return None,
            None => {}
        }
        if error.kind() == redis::ErrorKind::AuthenticationFailed {
            return Some(Self::CredentialsRefused);
        }
        if let Some(tls_error) = rustls_error(error) {
            return Self::of_tls(tls_error, setup);
        }
        // A TLS-only port reads a plain command as a broken handshake and
        // closes the connection.
        let closed = error.is_connection_dropped()
            || matches!(error.kind(), redis::ErrorKind::Io | redis::ErrorKind::Parse)
                && !error.is_timeout()
                && !error.is_connection_refusal();
        (closed && !setup.tls).then_some(Self::PlainToTls)
    }

    fn of_tls(error: &rustls::Error, setup: Setup) -> Option<Self> {
        use rustls::{AlertDescription, CertificateError, Error as Tls};
        Some(match error {
            Tls::InvalidCertificate(certificate) => match certificate {
                CertificateError::UnknownIssuer | CertificateError::BadSignature
                    if setup.ca_file =>
                {
                    Self::NotFromCaFile
                }
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    Self::NotFromSystemRoots
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => Self::WrongHost,
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => Self::ExpiredCertificate,
                _ => Self::CertificateRefused,
            },
            Tls::AlertReceived(AlertDescription::CertificateRequired) => {
                Self::ClientCertificateRequired
            }
            Tls::AlertReceived(AlertDescription::HandshakeFailure) => Self::HandshakeRefused,
            Tls::AlertReceived(
                AlertDescription::UnknownCA
                | AlertDescription::BadCertificate
                | AlertDescription::CertificateUnknown
                | AlertDescription::DecryptError,
            ) => Self::ClientCertificateRefused,
            Tls::InvalidMessage(_) | Tls::InappropriateHandshakeMessage { .. } => Self::TlsToPlain,
            _ => return None,
        })
    }
}

/// The rustls error under a Redis I/O error, if any: the `redis` crate
/// keeps the I/O error behind an `Arc`, and the I/O error keeps rustls's
/// as its payload (the TLS tests fail if either changes).
fn rustls_error(error: &RedisError) -> Option<&rustls::Error> {
    type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;
    let cause = std::error::Error::source(error)?;
    let io = match cause.downcast_ref::<Shared>() {
        Some(shared) => shared.downcast_ref::<std::io::Error>()?,
        None => cause.downcast_ref::<std::io::Error>()?,
    };
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test in this binary that builds a `rediss://` client: the
    /// process-wide provider is this test's to observe.
    #[test]
    fn a_provider_is_installed_for_rediss_only_and_only_when_the_process_has_none() {
        let access = Access::default();
        access
            .client("redis://127.0.0.1:6379/")
            .expect("plain client");
        assert!(
            CryptoProvider::get_default().is_none(),
            "a redis:// client installs nothing"
        );
        let built = access.client("rediss://127.0.0.1:6380/");
        #[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
        {
            built.expect("TLS client");
            assert!(CryptoProvider::get_default().is_some());
        }
        #[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
        {
            let error = built.expect_err("no provider");
            assert!(
                matches!(error, Error::Tls(TlsError::NoCryptoProvider)),
                "{error:?}"
            );
            assert!(CryptoProvider::get_default().is_none());
        }
    }

    #[test]
    fn credentials_given_to_the_builder_replace_those_in_the_url_and_stay_out_of_debug() {
        let access = Access {
            tls: None,
            credentials: Some(Credentials {
                user: "replica".to_owned(),
                password: SecretString::from("builder-password-0123456789"),
            }),
        };
        let info = access
            .connection_info("redis://someone:url-password@127.0.0.1:6379/")
            .expect("parses");
        assert_eq!(info.redis_settings().username(), Some("replica"));
        assert_eq!(
            info.redis_settings().password(),
            Some("builder-password-0123456789")
        );
        let debug = format!("{access:?} {info:?}");
        assert!(!debug.contains("builder-password"), "{debug}");
        assert!(!debug.contains("url-password"), "{debug}");
    }
}
