//! The cache's guarantees, one test each (see the module docs).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keygate_types::{ApiKey, ApiKeyId, OrganizationId, Owner, SecretString, Timestamp};
use tokio::sync::Notify;

use super::*;
use crate::upstream::Upstream;
use crate::validator::{ValidatorError, Verdict, validator_fn};
use crate::{Clock, SystemClock};

pub(crate) fn api_key(n: u32, expires_at: Option<Timestamp>) -> ApiKey {
    let now = Timestamp::now();
    ApiKey {
        id: ApiKeyId::new_unchecked(format!("api_key_{n:026}")),
        owner: Owner::Organization {
            id: OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M"),
        },
        name: format!("key {n}"),
        obfuscated_value: "sk_…".into(),
        last_used_at: None,
        expires_at,
        permissions: vec!["posts:read".into()],
        created_at: now,
        updated_at: now,
    }
}

/// A clock the test moves by hand.
#[derive(Debug, Clone)]
pub(crate) struct ManualClock(pub(crate) Arc<Mutex<Timestamp>>);

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

pub(super) fn cache_with(config: CacheConfig) -> VerdictCache {
    VerdictCache::new(&config, Arc::new(SystemClock))
}

pub(super) fn cache() -> VerdictCache {
    cache_with(CacheConfig::default())
}

/// Loads `key` into `cache` through a validator that answers `answer`;
/// returns the key's digest.
pub(super) async fn cached(cache: &VerdictCache, key: &str, answer: Option<ApiKey>) -> [u8; 32] {
    let validator = validator_fn(move |_key: SecretString| {
        let answer = answer.clone();
        async move { Ok(answer) }
    });
    let d = digest(key);
    cache
        .load(d, key, &validator, &Upstream::unguarded())
        .await
        .unwrap();
    d
}

/// A validator whose calls wait at a gate until the test opens it, so the
/// test decides when "the key service" answers.
struct Gated {
    gate: Arc<Notify>,
    calls: Arc<AtomicU64>,
}

fn gated(answer: impl Fn() -> Verdict + Send + Sync + 'static) -> (impl KeyValidator, Gated) {
    let gate = Arc::new(Notify::new());
    let calls = Arc::new(AtomicU64::new(0));
    let answer = Arc::new(answer);
    let (g, c) = (Arc::clone(&gate), Arc::clone(&calls));
    let validator = validator_fn(move |_key: SecretString| {
        let (g, c, answer) = (Arc::clone(&g), Arc::clone(&c), Arc::clone(&answer));
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            g.notified().await;
            answer()
        }
    });
    (validator, Gated { gate, calls })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_on_one_key_make_one_call() {
    let cache = cache();
    let (validator, gated) = gated(|| Ok(Some(api_key(1, None))));
    let validator = Arc::new(validator);
    let d = digest("sk_one");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (cache, validator) = (cache.clone(), Arc::clone(&validator));
            tokio::spawn(async move {
                cache
                    .load(d, "sk_one", &*validator, &Upstream::unguarded())
                    .await
            })
        })
        .collect();
    // Wait until the one call is in flight and everyone else is queued behind it.
    while gated.calls.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    gated.gate.notify_one();
    let mut outcomes = Vec::new();
    for task in tasks {
        let (entry, outcome) = task.await.unwrap().unwrap();
        assert!(matches!(entry.verdict, CachedVerdict::Valid { .. }));
        outcomes.push(outcome);
    }
    assert_eq!(gated.calls.load(Ordering::SeqCst), 1);
    let misses = outcomes
        .iter()
        .filter(|o| **o == CacheOutcome::Miss)
        .count();
    assert_eq!(misses, 1);
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.coalesced), (1, 99));
}

#[tokio::test]
async fn errors_are_never_cached() {
    let cache = cache();
    let calls = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&calls);
    let validator = validator_fn(move |_key: SecretString| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                Err(ValidatorError::new("down").with_retry_after(Duration::from_secs(7)))
            } else {
                Ok(Some(api_key(1, None)))
            }
        }
    });
    let d = digest("sk_flaky");
    let error = cache
        .load(d, "sk_flaky", &validator, &Upstream::unguarded())
        .await
        .unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    let (_, outcome) = cache
        .load(d, "sk_flaky", &validator, &Upstream::unguarded())
        .await
        .unwrap();
    assert_eq!(outcome, CacheOutcome::Miss);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(cache.stats().errors, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_waiting_on_a_failing_call_share_its_error() {
    let cache = cache();
    let (validator, gated) = gated(|| Err(ValidatorError::new("down")));
    let validator = Arc::new(validator);
    let d = digest("sk_two");
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (cache, validator) = (cache.clone(), Arc::clone(&validator));
            tokio::spawn(async move {
                cache
                    .load(d, "sk_two", &*validator, &Upstream::unguarded())
                    .await
            })
        })
        .collect();
    // Errors are not cached, so a caller the scheduler runs only after the
    // failed call has finished starts a call of its own: keep the gate
    // opening until every caller is done, and check the accounting exactly.
    while !tasks.iter().all(|task| task.is_finished()) {
        gated.gate.notify_one();
        tokio::task::yield_now().await;
    }
    for task in tasks {
        assert!(task.await.unwrap().is_err());
    }
    let calls = gated.calls.load(Ordering::SeqCst);
    let stats = cache.stats();
    assert!(calls >= 1);
    assert_eq!(stats.errors, calls, "each failed call counted once");
    assert_eq!(
        stats.coalesced + calls,
        10,
        "every caller without a call of its own shared a failed call's error"
    );
    assert!(!cache.inner.cache.contains_key(&d));
}

#[tokio::test]
async fn invalid_verdicts_live_for_the_negative_ttl() {
    let cache = cache_with(CacheConfig {
        negative_ttl: Duration::from_millis(200),
        ..CacheConfig::default()
    });
    let calls = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&calls);
    let validator = validator_fn(move |_key: SecretString| {
        c.fetch_add(1, Ordering::SeqCst);
        async { Ok(None) }
    });
    let d = digest("sk_bad");
    for _ in 0..5 {
        let (entry, _) = cache
            .load(d, "sk_bad", &validator, &Upstream::unguarded())
            .await
            .unwrap();
        assert!(matches!(entry.verdict, CachedVerdict::Invalid));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The TTL is the condition here: nothing to await but time.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(matches!(cache.lookup_now(&d), Lookup::Miss));
    cache
        .load(d, "sk_bad", &validator, &Upstream::unguarded())
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn valid_verdicts_never_outlive_expires_at() {
    // Positive TTL 30 s, but the key expires in 150 ms: the entry goes then.
    let cache = cache();
    let expires = Timestamp::now().saturating_add(time::Duration::milliseconds(150));
    let validator =
        validator_fn(move |_key: SecretString| async move { Ok(Some(api_key(1, Some(expires)))) });
    let d = digest("sk_short");
    cache
        .load(d, "sk_short", &validator, &Upstream::unguarded())
        .await
        .unwrap();
    assert!(matches!(cache.lookup_now(&d), Lookup::Hit(_)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(matches!(cache.lookup_now(&d), Lookup::Miss));
}

#[tokio::test]
async fn invalidate_id_forgets_through_the_index() {
    let cache = cache();
    let validator = validator_fn(|_key: SecretString| async { Ok(Some(api_key(7, None))) });
    let d = digest("sk_seven");
    cache
        .load(d, "sk_seven", &validator, &Upstream::unguarded())
        .await
        .unwrap();
    assert_eq!(cache.indexed_ids(), 1);
    assert!(cache.invalidate_id(&api_key(7, None).id).await);
    assert!(matches!(cache.lookup_now(&d), Lookup::Miss));
    assert!(!cache.invalidate_id(&api_key(7, None).id).await);
    assert_eq!(cache.indexed_ids(), 0);
    assert_eq!(cache.stats().invalidations, 2);

    cache
        .load(d, "sk_seven", &validator, &Upstream::unguarded())
        .await
        .unwrap();
    assert!(cache.invalidate_key("sk_seven").await);
    cache.run_pending_tasks().await;
    assert_eq!(cache.indexed_ids(), 0, "eviction listener cleans the index");
}

#[tokio::test]
async fn the_index_follows_evictions() {
    let cache = cache_with(CacheConfig {
        max_capacity: 10,
        ..CacheConfig::default()
    });
    for n in 0..200u32 {
        let validator =
            validator_fn(move |_key: SecretString| async move { Ok(Some(api_key(n, None))) });
        let key = format!("sk_{n}");
        cache
            .load(digest(&key), &key, &validator, &Upstream::unguarded())
            .await
            .unwrap();
    }
    cache.run_pending_tasks().await;
    let entries = cache.stats().entries;
    assert!(entries <= 10, "capacity bound holds: {entries}");
    assert_eq!(cache.indexed_ids() as u64, entries);
    assert_eq!(
        cache.mirrored() as u64,
        entries,
        "the hit table holds what moka holds, no more"
    );
}

/// The hit table serves hits, and every invalidation empties it at once,
/// without waiting for moka's housekeeping.
#[tokio::test]
async fn the_hit_table_follows_every_invalidation() {
    let cache = cache();
    let d = cached(&cache, "sk_nine", Some(api_key(9, None))).await;
    assert_eq!(cache.mirrored(), 1, "a miss mirrors its valid verdict");
    for _ in 0..3 {
        assert!(matches!(
            cache.lookup_now(&d),
            Lookup::Hit(CachedVerdict::Valid { .. })
        ));
    }
    assert_eq!(cache.stats().hits, 3);

    cache.invalidate_key("sk_nine").await;
    assert_eq!(cache.mirrored(), 0);
    assert!(matches!(cache.lookup_now(&d), Lookup::Miss));

    cached(&cache, "sk_nine", Some(api_key(9, None))).await;
    cache.invalidate_id(&api_key(9, None).id).await;
    assert_eq!(cache.mirrored(), 0);
    assert!(matches!(cache.lookup_now(&d), Lookup::Miss));

    cached(&cache, "sk_nine", Some(api_key(9, None))).await;
    cache.invalidate_all();
    assert_eq!(cache.mirrored(), 0);
    assert!(matches!(cache.lookup_now(&d), Lookup::Miss));
}

/// Invalid verdicts are cached by moka only; a hit on one still answers.
#[tokio::test]
async fn invalid_verdicts_are_not_mirrored() {
    let cache = cache();
    let d = cached(&cache, "sk_bad", None).await;
    assert_eq!(cache.mirrored(), 0);
    assert!(matches!(
        cache.lookup_now(&d),
        Lookup::Hit(CachedVerdict::Invalid)
    ));
}

/// A verdict that moka holds but the hit table does not (here: the table
/// was cleared behind moka's back) is served by moka and mirrored again.
#[tokio::test]
async fn a_moka_hit_is_mirrored_again() {
    let cache = cache();
    let d = cached(&cache, "sk_ten", Some(api_key(10, None))).await;
    cache.inner.hits.clear();
    assert!(matches!(
        cache.lookup_now(&d),
        Lookup::Hit(CachedVerdict::Valid { .. })
    ));
    assert_eq!(cache.mirrored(), 1);
}

/// The hit table never serves an entry past its deadline, even before moka
/// has evicted it.
#[tokio::test]
async fn the_hit_table_expires_with_moka() {
    let cache = cache_with(CacheConfig {
        positive_ttl: Duration::from_millis(50),
        ..CacheConfig::default()
    });
    let d = cached(&cache, "sk_eleven", Some(api_key(11, None))).await;
    assert!(matches!(cache.lookup_now(&d), Lookup::Hit(_)));
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(matches!(cache.lookup_now(&d), Lookup::Miss));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_during_a_call_is_not_overtaken_by_it() {
    let cache = cache();
    let (validator, gated) = gated(|| Ok(Some(api_key(3, None))));
    let d = digest("sk_three");
    let loader = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .load(d, "sk_three", &validator, &Upstream::unguarded())
                .await
                .map(|_| ())
        })
    };
    while gated.calls.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    // Revoked while the key service is still answering "valid".
    cache.invalidate_id(&api_key(3, None).id).await;
    gated.gate.notify_one();
    loader.await.unwrap().unwrap();
    assert!(matches!(cache.lookup_now(&d), Lookup::Miss));
}

#[tokio::test]
async fn the_clock_decides_expiry_on_every_hit() {
    let now = Timestamp::now();
    let clock = ManualClock(Arc::new(Mutex::new(now)));
    let cache = VerdictCache::new(&CacheConfig::default(), Arc::new(clock.clone()));
    let expires = now.saturating_add(time::Duration::hours(1));
    let validator =
        validator_fn(move |_key: SecretString| async move { Ok(Some(api_key(1, Some(expires)))) });
    let d = digest("sk_clock");
    cache
        .load(d, "sk_clock", &validator, &Upstream::unguarded())
        .await
        .unwrap();
    let Lookup::Hit(entry) = cache.lookup_now(&d) else {
        panic!("expected a hit")
    };
    assert!(crate::service::judge(entry, cache.clock()).is_ok());
    *clock.0.lock().unwrap() = expires;
    let Lookup::Hit(entry) = cache.lookup_now(&d) else {
        panic!("expected a hit")
    };
    assert_eq!(
        crate::service::judge(entry, cache.clock()).unwrap_err(),
        crate::AuthRejection::InvalidToken(crate::InvalidToken::Expired)
    );
}

/// A request that arrives after an invalidation neither waits for nor is
/// served the answer of a call that began before it (which may predate a
/// revocation); that answer is not kept either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_after_an_invalidation_does_not_join_an_older_call() {
    let cache = cache();
    let answers = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&answers);
    // The first call answers "valid" (before the revocation), later ones "invalid".
    let (validator, gated) = gated(move || {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            Ok(Some(api_key(8, None)))
        } else {
            Ok(None)
        }
    });
    let validator = Arc::new(validator);
    let d = digest("sk_eight");
    let a = {
        let (cache, validator) = (cache.clone(), Arc::clone(&validator));
        tokio::spawn(async move {
            cache
                .load(d, "sk_eight", &*validator, &Upstream::unguarded())
                .await
                .map(|(entry, _)| matches!(entry.verdict, CachedVerdict::Valid { .. }))
        })
    };
    while gated.calls.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    // The key is revoked while A's call is in flight.
    cache.invalidate_id(&api_key(8, None).id).await;
    let b = {
        let (cache, validator) = (cache.clone(), Arc::clone(&validator));
        tokio::spawn(async move {
            cache
                .load(d, "sk_eight", &*validator, &Upstream::unguarded())
                .await
                .map(|(entry, _)| matches!(entry.verdict, CachedVerdict::Valid { .. }))
        })
    };
    while gated.calls.load(Ordering::SeqCst) < 2 {
        tokio::task::yield_now().await;
    }
    assert_eq!(gated.calls.load(Ordering::SeqCst), 2, "B asked on its own");
    // Answer A first ("valid"), then B ("invalid").
    gated.gate.notify_one();
    assert!(
        a.await.unwrap().unwrap(),
        "A is served the answer it waited for"
    );
    gated.gate.notify_one();
    assert!(!b.await.unwrap().unwrap(), "B is not served A's answer");
    assert!(
        !matches!(
            cache.lookup_now(&d),
            Lookup::Hit(CachedVerdict::Valid { .. })
        ),
        "A's pre-revocation answer was not kept"
    );
}
