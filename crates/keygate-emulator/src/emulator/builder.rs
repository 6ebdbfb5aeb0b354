//! Configuring an emulator before it starts.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use keygate_types::SecretString;

use super::{DEFAULT_BODY_LIMIT, Emulator};
use crate::auth::EnvironmentSecrets;
use crate::clock::Clock;
use crate::counters::Counters;
use crate::environment::Environment;
use crate::faults::FaultSet;
use crate::rate_limit::{Limiter, SecretRateLimit};
use crate::server::Server;
#[cfg(feature = "sqlite")]
use crate::store::SqliteStorage;
use crate::store::Store;
use crate::webhooks::{Deliverer, WebhookRetry, Webhooks};
use crate::{Error, Seed};

/// Configures an [`Emulator`] before it starts. From [`Emulator::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct EmulatorBuilder {
    secrets: Vec<SecretString>,
    organization_permissions: Option<Vec<String>>,
    user_permissions: Option<Vec<String>>,
    catalogue: Vec<keygate_types::CreateAuthorizationPermission>,
    seed: Option<Seed>,
    seed_file: Option<PathBuf>,
    bind: SocketAddr,
    body_limit: usize,
    webhook_retry: WebhookRetry,
    rate_limit: Option<SecretRateLimit>,
    authkit_domain: Option<String>,
    #[cfg(feature = "sqlite")]
    state_file: Option<PathBuf>,
}

/// The environment variable that gives every emulator started without a
/// state file one in this directory, fresh each time (so a test suite can
/// run on the SQLite store unchanged). Read only with the `sqlite` feature;
/// without it, a warning says the state stays in memory.
pub const STATE_DIR_ENV: &str = "KEYGATE_EMULATOR_STATE_DIR";

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            secrets: Vec::new(),
            organization_permissions: None,
            user_permissions: None,
            catalogue: Vec::new(),
            seed: None,
            seed_file: None,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            body_limit: DEFAULT_BODY_LIMIT,
            webhook_retry: WebhookRetry::default(),
            rate_limit: None,
            authkit_domain: None,
            #[cfg(feature = "sqlite")]
            state_file: None,
        }
    }
}

impl EmulatorBuilder {
    /// Defines a permission in the catalogue (`GET /authorization/permissions`):
    /// its slug, a name and a description for people. Repeat for several. A
    /// slug already defined (in a kept state file) is left as it is; a bad
    /// one fails [`start`](Self::start). `POST /authorization/permissions`
    /// defines more while the emulator runs.
    pub fn permission(mut self, slug: &str, name: &str, description: Option<&str>) -> Self {
        self.catalogue
            .push(keygate_types::CreateAuthorizationPermission {
                slug: slug.to_owned(),
                name: name.to_owned(),
                description: description.map(str::to_owned),
                resource_type_slug: None,
            });
        self
    }

    /// Accepts this environment secret. Repeat for several; when none is
    /// given, a random `sk_test_…` one is made (see [`Emulator::secret`]).
    pub fn secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// The permissions organization keys may carry. Without it, any
    /// well-formed slug is allowed.
    pub fn organization_permissions<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.organization_permissions = Some(permissions.into_iter().map(Into::into).collect());
        self
    }

    /// The permissions user keys may carry. Without it, any well-formed slug
    /// is allowed.
    pub fn user_permissions<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.user_permissions = Some(permissions.into_iter().map(Into::into).collect());
        self
    }

    /// Creates the seed's contents at start. Allow-lists set on the builder
    /// take precedence over the seed's.
    pub fn seed(mut self, seed: Seed) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Reads a JSON seed file at start (after [`seed`](Self::seed), if both are given).
    pub fn seed_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.seed_file = Some(path.into());
        self
    }

    /// Listens here; `127.0.0.1:0` (a free local port) by default.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Caps request bodies at this many bytes (larger ones get a 413);
    /// [`DEFAULT_BODY_LIMIT`] by default.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How webhook deliveries are retried; see [`WebhookRetry`] for the default.
    pub fn webhook_retry(mut self, retry: WebhookRetry) -> Self {
        self.webhook_retry = retry;
        self
    }

    /// Limits each environment secret's requests, answering 429 with
    /// `Retry-After` over the limit, as WorkOS does ([`SecretRateLimit::WORKOS`]).
    /// Off by default; the test controls and `/health` are never limited.
    pub fn rate_limit(mut self, limit: SecretRateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// The AuthKit domain the emulator plays: the `iss` of M2M tokens (and
    /// the start of session tokens' `iss`), where a verifier fetches
    /// `/oauth2/jwks`. The emulator's own base URL by default; set it when
    /// clients reach the emulator at another address, such as a proxy in
    /// front of it (`keygate serve` sets its front address), so that tokens
    /// name the address they are verified against. A trailing `/` is dropped.
    pub fn authkit_domain(mut self, url: impl Into<String>) -> Self {
        self.authkit_domain = Some(url.into());
        self
    }

    /// Keeps the state in this SQLite file, created when missing: every
    /// acknowledged write survives a restart, even after `kill -9`. Seeds
    /// apply only when the file is new; allow-lists given here or in a seed
    /// replace the file's. Without it the state lives in memory only.
    ///
    /// Tokens' state is kept too: the environment's client id, M2M
    /// applications (a client secret's digest, so the secret keeps working),
    /// sessions (a revoked one stays revoked) and the token signing keys, so
    /// that a token issued before a restart still verifies against the key
    /// set served after it, rotations included. Its `iss` is the AuthKit
    /// domain, by default the base URL: bind the same port to keep it.
    ///
    /// The file holds secrets in the clear: webhook signing secrets and the
    /// token signing keys' **private halves** (acceptable for an emulator,
    /// which signs test tokens; never point a real service's trust at it).
    /// It is created readable by its owner only (0600 on Unix).
    ///
    /// A file written by a newer keygate, or one that is not a sound SQLite
    /// database, is refused ([`Error::Storage`]) and left as it was.
    ///
    /// Needs the `sqlite` feature, which compiles SQLite (a C build).
    ///
    /// ```
    /// use keygate_emulator::Emulator;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = std::env::temp_dir().join(format!("keygate-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let file = dir.join("state.db");
    /// let emu = Emulator::builder().state_file(&file).start().await?;
    /// let org = emu.create_organization("Acme")?;
    /// emu.shutdown().await;
    ///
    /// let emu = Emulator::builder().state_file(&file).start().await?;
    /// assert!(emu.organization(org.id.as_str()).is_some());
    /// # emu.shutdown().await;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// Applies the seeds and starts serving on a task of the current Tokio runtime.
    pub async fn start(mut self) -> Result<Emulator, Error> {
        let mut seeds: Vec<Seed> = self.seed.take().into_iter().collect();
        if let Some(path) = &self.seed_file {
            seeds.push(Seed::from_file(path)?);
        }
        let store = self.store()?;
        let pick = |builder: Option<Vec<String>>, from_seed: fn(&Seed) -> Option<&Vec<String>>| {
            builder
                .or_else(|| seeds.iter().rev().find_map(|s| from_seed(s).cloned()))
                .map(|list| list.into_iter().collect::<HashSet<_>>())
        };
        let organization_permissions = pick(self.organization_permissions, |s| {
            s.organization_permissions.as_ref()
        });
        let user_permissions = pick(self.user_permissions, |s| s.user_permissions.as_ref());
        let kept = store.load()?;
        let client_id = store.write(|state| Ok(state.client_id_or_new()))?;
        store.write(|state| {
            // Allow-lists given now replace the kept ones; absent ones keep them.
            let before = state.policy.clone();
            if organization_permissions.is_some() || !kept {
                state.policy.organization_permissions = organization_permissions;
            }
            if user_permissions.is_some() || !kept {
                state.policy.user_permissions = user_permissions;
            }
            state.changes.settings |= state.policy != before;
            Ok(())
        })?;
        let defined_at = keygate_types::Timestamp::now();
        for permission in self.catalogue {
            store.write(|state| {
                let known = state.policy.catalogue.permissions.iter();
                if known.clone().any(|p| p.slug == permission.slug) {
                    return Ok(());
                }
                state.create_permission(permission, defined_at).map(drop)
            })?;
        }
        let clock = Clock::default();
        clock.set_offset_ms(store.read(|state| state.clock_offset_ms));
        let secrets = EnvironmentSecrets::new(self.secrets);
        let limiter = self.rate_limit.map(|l| Limiter::new(l, secrets.len()));
        let store = Arc::new(store);
        let env = Arc::new(Environment {
            tokens: crate::tokens::Tokens::new(store.clone(), client_id),
            store,
            clock,
            faults: FaultSet::default(),
            counters: Counters::default(),
            secrets,
            limiter,
            body_limit: self.body_limit,
            webhooks: Arc::new(Webhooks::new(self.webhook_retry)),
        });
        let (outbox, events) = tokio::sync::mpsc::unbounded_channel();
        env.store.set_outbox(outbox);
        let deliverer = Deliverer::spawn(env.store.clone(), env.webhooks.clone(), events);
        if !kept {
            for seed in &seeds {
                let now = env.clock.now();
                env.store.write(|state| seed.apply(state, now))?;
            }
        } else if !seeds.is_empty() {
            tracing::info!("the state file has data: seeds not applied");
        }
        let server = Server::spawn(env.clone(), self.bind).await?;
        let base_url = format!("http://{}", server.local_addr);
        env.tokens
            .set_authkit_domain(self.authkit_domain.as_deref().unwrap_or(&base_url));
        Ok(Emulator {
            env,
            server,
            base_url,
            _deliverer: deliverer,
        })
    }
}

impl EmulatorBuilder {
    /// The store: in the state file, or in a fresh one in
    /// [`STATE_DIR_ENV`]'s directory, or in memory.
    #[cfg(feature = "sqlite")]
    fn store(&self) -> Result<Store, Error> {
        Ok(match self.state_file.clone().or_else(fresh_state_file) {
            Some(path) => Store::new(Box::new(SqliteStorage::open(&path)?)),
            None => Store::default(),
        })
    }

    /// The store, in memory: this build has no SQLite.
    #[cfg(not(feature = "sqlite"))]
    fn store(&self) -> Result<Store, Error> {
        if std::env::var_os(STATE_DIR_ENV).is_some() {
            tracing::warn!(
                "{STATE_DIR_ENV} is set, but keygate-emulator was built without its `sqlite` \
                 feature: the state stays in memory"
            );
        }
        Ok(Store::default())
    }
}

/// A new file in [`STATE_DIR_ENV`]'s directory, when it is set.
#[cfg(feature = "sqlite")]
fn fresh_state_file() -> Option<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = PathBuf::from(std::env::var_os(STATE_DIR_ENV)?);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Some(dir.join(format!(
        "emulator-{}-{n}-{}.db",
        std::process::id(),
        ulid::Ulid::new()
    )))
}
