//! One issuer's key set (JWKS), cached.
//!
//! Its rules, each with a test in `tests/jwt.rs`:
//! 1. **Pre-fetched**: the verifier fetches every key set when it is built
//!    (on a Tokio runtime), so the first token does not wait for it.
//! 2. **An unknown `kid` refreshes at most once per cooldown**, and
//!    concurrent lookups share that one fetch. Whatever the tokens say, the
//!    key-set endpoint sees at most one request per cooldown from them.
//! 3. **Unknown `kid`s are remembered**: a `kid` absent from a fetch made
//!    because of it is refused without any fetch for
//!    [`UNKNOWN_KID_MEMORY`] (up to [`MAX_UNKNOWN_KIDS`] of them).
//! 4. **The last good set is kept**: a failed or unreadable fetch changes
//!    nothing; tokens signed with the keys held still verify.
//! 5. **Old sets are renewed in the background**: a set older than the
//!    refresh interval is fetched again (once per cooldown) while lookups
//!    keep answering from it, so a key the issuer withdrew goes away.
//!
//! A new signing key (rotation) is therefore accepted on its first token,
//! or, within a cooldown of the last fetch, on the first token after it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

#[cfg(not(feature = "aws-lc-rs"))]
use rsa::pkcs1v15::VerifyingKey;
#[cfg(not(feature = "aws-lc-rs"))]
use rsa::sha2::Sha256;
use rsa::{BigUint, RsaPublicKey};
use serde::Deserialize;

use crate::TokenRefusal;

use super::token::decode;

/// How long a `kid` that a fetch did not find is refused without a fetch.
pub const UNKNOWN_KID_MEMORY: Duration = Duration::from_secs(600);

/// How many unknown `kid`s are remembered; past that the memory starts afresh
/// (the cooldown still bounds the fetches).
pub const MAX_UNKNOWN_KIDS: usize = 4096;

/// The largest key-set document read, in bytes.
const MAX_KEY_SET_BYTES: usize = 256 * 1024;

/// The smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

/// A verifying key: RSASSA-PKCS1-v1_5 with SHA-256 (RS256), on aws-lc-rs
/// when the `aws-lc-rs` feature is on (several times faster), else on
/// RustCrypto's pure-Rust RSA.
pub(crate) type Rs256Key = Arc<Rs256>;

/// See [`Rs256Key`].
pub(crate) struct Rs256 {
    #[cfg(feature = "aws-lc-rs")]
    parsed: aws_lc_rs::signature::ParsedPublicKey,
    #[cfg(not(feature = "aws-lc-rs"))]
    key: VerifyingKey<Sha256>,
}

impl std::fmt::Debug for Rs256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rs256(..)")
    }
}

impl Rs256 {
    fn new(key: RsaPublicKey) -> Option<Self> {
        #[cfg(feature = "aws-lc-rs")]
        {
            use rsa::traits::PublicKeyParts;
            let components = aws_lc_rs::signature::RsaPublicKeyComponents {
                n: key.n().to_bytes_be(),
                e: key.e().to_bytes_be(),
            };
            let parsed = components
                .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
                .ok()?;
            Some(Self { parsed })
        }
        #[cfg(not(feature = "aws-lc-rs"))]
        Some(Self {
            key: VerifyingKey::<Sha256>::new(key),
        })
    }

    /// Whether `signature` is this key's RS256 signature of `message`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        #[cfg(feature = "aws-lc-rs")]
        {
            self.parsed.verify_sig(message, signature).is_ok()
        }
        #[cfg(not(feature = "aws-lc-rs"))]
        {
            use rsa::signature::Verifier as _;
            rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|signature| self.key.verify(message, &signature).is_ok())
        }
    }
}

/// Why a key could not be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyMiss {
    /// The set does not hold it (401).
    Unknown,
    /// No key set was ever fetched: the token cannot be judged (503).
    NoKeySet,
}

impl From<KeyMiss> for TokenRefusal {
    fn from(_: KeyMiss) -> Self {
        TokenRefusal::UnknownKeyId
    }
}

/// A key set at its URL, with its cache.
#[derive(Debug)]
pub(crate) struct KeySet {
    url: String,
    http: reqwest::Client,
    cooldown: Duration,
    refresh_interval: Duration,
    state: Mutex<Held>,
    /// One fetch at a time; the generation tells a waiter whether the fetch
    /// it waited for has happened.
    fetching: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

#[derive(Debug, Default)]
struct Held {
    keys: Arc<HashMap<String, Rs256Key>>,
    /// The last successful fetch.
    fetched_at: Option<Instant>,
    /// The last fetch, successful or not: the cooldown runs from it.
    attempted_at: Option<Instant>,
    /// Fetches begun; a waiter that saw another number need not fetch.
    generation: u64,
    /// `kid`s a fetch made because of them did not find, and when.
    unknown: HashMap<String, Instant>,
}

impl KeySet {
    pub(crate) fn new(
        url: String,
        http: reqwest::Client,
        cooldown: Duration,
        refresh_interval: Duration,
    ) -> Self {
        Self {
            url,
            http,
            cooldown,
            refresh_interval,
            state: Mutex::new(Held::default()),
            fetching: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// How many fetches were made.
    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// How many keys are held.
    pub(crate) fn len(&self) -> usize {
        self.held().keys.len()
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key named `kid`, fetching the set once per cooldown when it is not held.
    pub(crate) async fn key(self: &Arc<Self>, kid: &str) -> Result<Rs256Key, KeyMiss> {
        let generation = {
            let mut held = self.held();
            let now = Instant::now();
            if let Some(key) = held.keys.get(kid) {
                let key = Arc::clone(key);
                let old = held
                    .fetched_at
                    .is_none_or(|at| now.duration_since(at) >= self.refresh_interval);
                if old && self.cooled_down(&held, now) {
                    // Rule 5: renew in the background; this lookup is answered now.
                    held.attempted_at = Some(now);
                    drop(held);
                    self.renew_in_background();
                }
                return Ok(key);
            }
            if held
                .unknown
                .get(kid)
                .is_some_and(|at| now.duration_since(*at) < UNKNOWN_KID_MEMORY)
            {
                return Err(KeyMiss::Unknown);
            }
            // Within the cooldown an unknown kid is refused at once, unless
            // no set was ever fetched: then it waits for the fetch under way.
            if !self.cooled_down(&held, now) && held.fetched_at.is_some() {
                return Err(KeyMiss::Unknown);
            }
            held.generation
        };
        // Rule 2: one fetch for everyone waiting here.
        let _fetching = self.fetching.lock().await;
        let fetch = {
            let mut held = self.held();
            let now = Instant::now();
            let fetch = held.generation == generation && self.cooled_down(&held, now);
            if fetch {
                held.attempted_at = Some(now);
            }
            fetch
        };
        if fetch {
            self.fetch().await;
        }
        let mut held = self.held();
        if let Some(key) = held.keys.get(kid) {
            return Ok(Arc::clone(key));
        }
        if held.fetched_at.is_some() {
            // Rule 3.
            if held.unknown.len() >= MAX_UNKNOWN_KIDS {
                held.unknown.clear();
            }
            held.unknown.insert(kid.to_owned(), Instant::now());
        }
        Err(self.miss(&held))
    }

    fn miss(&self, held: &Held) -> KeyMiss {
        if held.fetched_at.is_some() {
            KeyMiss::Unknown
        } else {
            KeyMiss::NoKeySet
        }
    }

    fn cooled_down(&self, held: &Held, now: Instant) -> bool {
        held.attempted_at
            .is_none_or(|at| now.duration_since(at) >= self.cooldown)
    }

    /// The time left before another fetch may be made.
    pub(crate) fn cooldown_left(&self) -> Duration {
        let held = self.held();
        held.attempted_at.map_or(Duration::ZERO, |at| {
            self.cooldown.saturating_sub(at.elapsed())
        })
    }

    fn renew_in_background(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = Arc::clone(self);
        runtime.spawn(async move {
            let _fetching = this.fetching.lock().await;
            this.fetch().await;
        });
    }

    /// Fetches the set now if it was never fetched (rule 1); waits for a
    /// fetch under way.
    pub(crate) async fn prefetch(&self) {
        let _fetching = self.fetching.lock().await;
        let first = {
            let mut held = self.held();
            let first = held.attempted_at.is_none();
            if first {
                held.attempted_at = Some(Instant::now());
            }
            first
        };
        if first {
            self.fetch().await;
        }
    }

    /// One fetch; the held set changes only when it succeeds (rule 4).
    /// Called with `fetching` held.
    async fn fetch(&self) {
        self.held().generation += 1;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match self.download().await {
            Ok(keys) => {
                let mut held = self.held();
                tracing::debug!(url = %self.url, keys = keys.len(), "key set fetched");
                held.keys = Arc::new(keys);
                held.fetched_at = Some(Instant::now());
            }
            Err(error) => {
                tracing::warn!(
                    url = %self.url,
                    error = %error,
                    "could not fetch the key set; keeping the last good one"
                );
            }
        }
    }

    async fn download(&self) -> Result<HashMap<String, Rs256Key>, String> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_KEY_SET_BYTES as u64)
        {
            return Err("the key set is too large".to_owned());
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("could not read the body: {e}"))?;
        if body.len() > MAX_KEY_SET_BYTES {
            return Err("the key set is too large".to_owned());
        }
        parse(&body)
    }
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// The RS256 keys of a JWKS document. Keys of other types or uses are
/// skipped, as is a malformed key (with a log line); a document that is not
/// a key set is an error.
pub(crate) fn parse(body: &[u8]) -> Result<HashMap<String, Rs256Key>, String> {
    let document: Document =
        serde_json::from_slice(body).map_err(|e| format!("not a key set: {e}"))?;
    let mut keys = HashMap::new();
    for value in document.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            tracing::debug!("key set: an entry that is not a JWK, skipped");
            continue;
        };
        if jwk.kty != "RSA"
            || jwk.alg.as_deref().is_some_and(|a| a != "RS256")
            || jwk.usage.as_deref().is_some_and(|u| u != "sig")
        {
            continue;
        }
        let Some(kid) = jwk.kid.filter(|k| !k.is_empty()) else {
            continue;
        };
        match rsa_key(jwk.n.as_deref(), jwk.e.as_deref()).and_then(Rs256::new) {
            Some(key) => {
                keys.insert(kid, Arc::new(key));
            }
            None => tracing::warn!(kid = %kid, "key set: an unusable RSA key, skipped"),
        }
    }
    Ok(keys)
}

fn rsa_key(n: Option<&str>, e: Option<&str>) -> Option<RsaPublicKey> {
    let n = BigUint::from_bytes_be(&decode(n?).ok()?);
    let e = BigUint::from_bytes_be(&decode(e?).ok()?);
    if n.bits() < MIN_RSA_BITS {
        return None;
    }
    RsaPublicKey::new(n, e).ok()
}
