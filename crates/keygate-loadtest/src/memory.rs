//! Resident memory per cached principal: the process's `VmRSS` before and
//! after its verdict cache takes in `n` distinct keys.
//!
//! The keys go through the real layer (a miss each, then a hit), validated by
//! a function that makes up a realistically shaped [`ApiKey`] from the key, so
//! nothing but the cache holds the principals. The key values themselves are
//! made and dropped one at a time. For scale, the same principals can be held
//! in the floor's plain `HashMap` instead.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response, StatusCode};
use keygate_auth::{ApiKeyAuth, validator_fn};
use keygate_types::{ApiKey, ApiKeyId, OrganizationId, Owner, Timestamp};
use sha2::{Digest, Sha256};
use tower::{Service, ServiceBuilder, ServiceExt};

/// Where the principals are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Store {
    /// keygate's verdict cache, filled through `ApiKeyAuth`.
    Keygate,
    /// A plain `HashMap<[u8; 32], Arc<ApiKey>>`, the floor's table.
    Floor,
}

/// What a fill measured.
#[derive(Debug, Clone, Copy)]
pub struct MemoryReport {
    /// Principals held.
    pub entries: u64,
    /// `VmRSS` before the fill, bytes.
    pub before: u64,
    /// `VmRSS` after it, bytes.
    pub after: u64,
}

impl MemoryReport {
    /// Resident bytes added per principal.
    pub fn bytes_per_entry(&self) -> Option<f64> {
        (self.entries > 0)
            .then(|| self.after.saturating_sub(self.before) as f64 / self.entries as f64)
    }
}

/// Why a measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// `/proc/self/status` could not be read (not Linux?).
    #[error("reading VmRSS from /proc/self/status: {0}")]
    Rss(String),
    /// The layer refused a made-up key, so the fill would be short.
    #[error("the layer answered {0} to a fill request")]
    Refused(StatusCode),
    /// The cache holds fewer entries than were put in.
    #[error("the cache holds {held} of {wanted} principals")]
    Short {
        /// Entries held.
        held: u64,
        /// Entries put in.
        wanted: u64,
    },
}

/// This process's resident set size, in bytes (`VmRSS` in `/proc/self/status`).
pub fn resident_bytes() -> Result<u64, MemoryError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|error| MemoryError::Rss(error.to_string()))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| MemoryError::Rss("no VmRSS line".to_owned()))
}

/// The `n`th key value: as long as a real one (`sk_` and 48 characters).
pub fn key_value(n: u64) -> String {
    format!("sk_test_loadmemory_{n:029}")
}

/// A principal shaped like one the key service returns for key `n`.
pub fn principal(n: u64) -> ApiKey {
    let now = Timestamp::now();
    ApiKey {
        id: ApiKeyId::new_unchecked(format!("api_key_{n:026}")),
        owner: Owner::Organization {
            id: OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M"),
        },
        name: format!("ingest worker {n}"),
        obfuscated_value: format!("sk_…{:04}", n % 10_000),
        last_used_at: Some(now),
        expires_at: None,
        permissions: vec!["posts:read".to_owned(), "posts:write".to_owned()],
        created_at: now,
        updated_at: now,
        agent_registration_id: None,
    }
}

fn number_of(key: &str) -> Option<u64> {
    key.strip_prefix("sk_test_loadmemory_")?.parse().ok()
}

async fn ok(_request: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::empty()))
}

/// Fills `store` with `entries` principals on the current (single-threaded)
/// runtime and reports resident memory before and after.
pub async fn fill(store: Store, entries: u64) -> Result<MemoryReport, MemoryError> {
    match store {
        Store::Keygate => fill_keygate(entries).await,
        Store::Floor => fill_floor(entries),
    }
}

async fn fill_keygate(entries: u64) -> Result<MemoryReport, MemoryError> {
    let validator =
        validator_fn(|key| async move { Ok(number_of(key.expose_secret()).map(principal)) });
    let auth = ApiKeyAuth::builder(validator)
        .max_capacity(entries.max(1))
        .positive_ttl(Duration::from_secs(3_600))
        .build();
    let mut service = ServiceBuilder::new().layer(auth.clone()).service_fn(ok);
    // The first request sets up what every later one reuses (runtime,
    // tracing callsites, moka's internals): measure from after it.
    send(&mut service, u64::MAX).await?;
    auth.cache()
        .invalidate_all()
        .await
        .expect("no shared tier: nothing to log");
    auth.cache().run_pending_tasks();
    let before = resident_bytes()?;
    for n in 0..entries {
        send(&mut service, n).await?;
    }
    auth.cache().run_pending_tasks();
    let held = auth.stats().entries;
    if held != entries {
        return Err(MemoryError::Short {
            held,
            wanted: entries,
        });
    }
    let after = resident_bytes()?;
    Ok(MemoryReport {
        entries,
        before,
        after,
    })
}

async fn send<S>(service: &mut S, n: u64) -> Result<(), MemoryError>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let request = Request::get("/")
        .header("authorization", format!("Bearer {}", key_value(n)))
        .body(Body::empty())
        .map_err(|_| MemoryError::Refused(StatusCode::BAD_REQUEST))?;
    let response = match service.ready().await {
        Ok(ready) => match ready.call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        Err(never) => match never {},
    };
    match response.status() {
        StatusCode::OK => Ok(()),
        status => Err(MemoryError::Refused(status)),
    }
}

fn fill_floor(entries: u64) -> Result<MemoryReport, MemoryError> {
    let before = resident_bytes()?;
    let mut table: HashMap<[u8; 32], Arc<ApiKey>> = HashMap::new();
    for n in 0..entries {
        let digest = Sha256::digest(key_value(n).as_bytes()).into();
        table.insert(digest, Arc::new(principal(n)));
    }
    let after = resident_bytes()?;
    std::hint::black_box(&table);
    Ok(MemoryReport {
        entries,
        before,
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_look_real_and_map_back() {
        assert_eq!(key_value(7).len(), 48);
        assert_eq!(number_of(&key_value(123_456)), Some(123_456));
        assert_eq!(number_of("sk_other"), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_fill_caches_every_principal_and_sees_memory_grow() {
        let report = fill(Store::Keygate, 2_000).await.unwrap();
        assert_eq!(report.entries, 2_000);
        assert!(report.after >= report.before);
        assert!(resident_bytes().unwrap() > 0);
    }
}
