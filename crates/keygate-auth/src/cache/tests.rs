//! The cache's invariants (see the module docs), one test or more each.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keygate_types::{ApiKey, ApiKeyId, OrganizationId, Owner, Timestamp, UserId};
use tokio::sync::Notify;

use super::*;
use crate::tier::TierVerdict;
use crate::validator::Verdict;
use crate::{Clock, SystemClock};

pub(crate) fn api_key(n: u32, expires_at: Option<Timestamp>) -> ApiKey {
    owned_key(
        n,
        Owner::Organization {
            id: OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M"),
        },
        expires_at,
    )
}

fn owned_key(n: u32, owner: Owner, expires_at: Option<Timestamp>) -> ApiKey {
    let now = Timestamp::now();
    ApiKey {
        id: ApiKeyId::new_unchecked(format!("api_key_{n:026}")),
        owner,
        name: format!("key {n}"),
        obfuscated_value: "sk_…".into(),
        last_used_at: None,
        expires_at,
        permissions: vec!["posts:read".into()],
        created_at: now,
        updated_at: now,
        agent_registration_id: None,
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

fn cache_with(config: CacheConfig) -> VerdictCache {
    VerdictCache::new(&config, Arc::new(SystemClock), None)
}

fn cache() -> VerdictCache {
    cache_with(CacheConfig::default())
}

fn with_grace() -> VerdictCache {
    cache_with(CacheConfig {
        grace: Some(Duration::from_secs(60)),
        ..CacheConfig::default()
    })
}

/// A call that answers `verdict` at once.
fn answering(verdict: Verdict) -> impl FnOnce() -> Call {
    move || Box::pin(async move { verdict.map(TierVerdict::fresh) })
}

fn failure() -> Verdict {
    Err(ValidatorError::new("key service down"))
}

/// Loads `key` with a call answering `verdict`; returns its digest.
async fn loaded(cache: &VerdictCache, key: &str, verdict: Verdict) -> Digest {
    let d = digest(key);
    let _ = cache.load(d, answering(verdict)).await;
    d
}

fn is_valid_hit(cache: &VerdictCache, d: &Digest) -> bool {
    matches!(cache.lookup(d), Some(CachedVerdict::Valid(_)))
}

/// Calls held at a gate until the test opens it, counted.
#[derive(Clone, Default)]
struct Gated {
    gate: Arc<Notify>,
    calls: Arc<AtomicU64>,
}

impl Gated {
    fn call<F>(&self, verdict: F) -> impl FnOnce() -> Call + use<F>
    where
        F: FnOnce() -> Verdict + Send + 'static,
    {
        let this = self.clone();
        move || {
            Box::pin(async move {
                this.calls.fetch_add(1, Ordering::SeqCst);
                this.gate.notified().await;
                verdict().map(TierVerdict::fresh)
            })
        }
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    async fn until_calls(&self, n: u64) {
        while self.calls() < n {
            tokio::task::yield_now().await;
        }
    }
}

// Invariant 1.

#[tokio::test]
async fn errors_are_never_stored() {
    let cache = cache();
    let d = digest("sk_flaky");
    assert!(cache.load(d, answering(failure())).await.is_err());
    assert!(cache.lookup(&d).is_none());
    let (verdict, outcome) = cache.load(d, answering(Ok(None))).await.unwrap();
    assert!(matches!(verdict, CachedVerdict::Invalid));
    assert_eq!(outcome, CacheOutcome::Miss);
    assert!(matches!(cache.lookup(&d), Some(CachedVerdict::Invalid)));
    assert_eq!(cache.stats().errors, 1);
}

// Invariant 2.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_on_one_key_make_one_call() {
    let cache = cache();
    let gated = Gated::default();
    let d = digest("sk_one");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (cache, call) = (cache.clone(), gated.call(|| Ok(Some(api_key(1, None)))));
            tokio::spawn(async move { cache.load(d, call).await })
        })
        .collect();
    gated.until_calls(1).await;
    // Let every task reach the gate before the call answers.
    tokio::time::sleep(Duration::from_millis(50)).await;
    gated.gate.notify_one();
    let mut misses = 0;
    for task in tasks {
        let (verdict, outcome) = task.await.unwrap().unwrap();
        assert!(matches!(verdict, CachedVerdict::Valid(_)));
        misses += usize::from(outcome == CacheOutcome::Miss);
    }
    assert_eq!((gated.calls(), misses), (1, 1));
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.coalesced), (1, 99));
}

#[tokio::test]
async fn a_miss_that_lost_the_race_with_the_store_makes_no_second_call() {
    let cache = cache();
    let d = digest("sk_raced");
    // A request looked the key up and missed; before it reaches the gate,
    // another request's call stores the answer and leaves the map.
    assert!(cache.lookup(&d).is_none());
    loaded(&cache, "sk_raced", Ok(Some(api_key(12, None)))).await;
    let second = Gated::default();
    let (verdict, outcome) = cache.load(d, second.call(|| Ok(None))).await.unwrap();
    assert!(matches!(verdict, CachedVerdict::Valid(_)));
    assert_eq!(outcome, CacheOutcome::Hit);
    assert_eq!(second.calls(), 0, "a second call to the key service");
    assert_eq!(cache.stats().misses, 1);
}

#[tokio::test]
async fn callers_waiting_on_a_failing_call_share_its_error() {
    let cache = cache();
    let gated = Gated::default();
    let d = digest("sk_down");
    let first = tokio::spawn({
        let (cache, call) = (cache.clone(), gated.call(failure));
        async move { cache.load(d, call).await }
    });
    gated.until_calls(1).await;
    let second = tokio::spawn({
        let (cache, call) = (cache.clone(), gated.call(failure));
        async move { cache.load(d, call).await }
    });
    tokio::task::yield_now().await;
    gated.gate.notify_one();
    assert!(first.await.unwrap().is_err());
    assert!(second.await.unwrap().is_err());
    assert_eq!(gated.calls(), 1);
    let stats = cache.stats();
    assert_eq!((stats.errors, stats.coalesced), (1, 1));
}

#[tokio::test]
async fn a_call_nobody_waits_for_any_more_leaves_the_flight_map() {
    let cache = cache();
    let gated = Gated::default();
    let d = digest("sk_abandoned");
    let waiting = tokio::spawn({
        let (cache, call) = (cache.clone(), gated.call(|| Ok(None)));
        async move { cache.load(d, call).await }
    });
    gated.until_calls(1).await;
    assert_eq!(cache.inner.gate().in_flight(), 1);
    waiting.abort();
    let _ = waiting.await;
    assert_eq!(cache.inner.gate().in_flight(), 0);
    // The next request makes a call of its own.
    cache.load(d, answering(Ok(None))).await.unwrap();
    assert_eq!(cache.stats().misses, 1);
}

// Invariant 3.

#[tokio::test]
async fn an_answer_that_began_before_an_invalidation_is_not_stored() {
    for invalidate in ["key", "id", "membership", "all"] {
        let cache = cache();
        let gated = Gated::default();
        let d = digest("sk_revoked");
        let load = tokio::spawn({
            let (cache, call) = (cache.clone(), gated.call(|| Ok(Some(api_key(2, None)))));
            async move { cache.load(d, call).await }
        });
        gated.until_calls(1).await;
        // The key is revoked while the key service is answering "valid".
        match invalidate {
            "key" => drop(cache.invalidate_key("sk_revoked").await),
            "id" => drop(cache.invalidate_id(&api_key(2, None).id).await),
            "membership" => {
                let user = UserId::new_unchecked("user_01HZY3K2J5QW8N7X6V4T3R2P1M");
                let org = OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M");
                cache.invalidate_membership(&user, &org).await.unwrap();
            }
            _ => cache.invalidate_all().await.unwrap(),
        }
        gated.gate.notify_one();
        // The request that was waiting gets its answer...
        let (verdict, _) = load.await.unwrap().unwrap();
        assert!(matches!(verdict, CachedVerdict::Valid(_)));
        // ...but it is not kept.
        assert!(
            cache.lookup(&d).is_none(),
            "an answer overtook invalidate_{invalidate}"
        );
    }
}

#[tokio::test]
async fn invalidations_forget_exactly_what_they_name() {
    let cache = cache();
    let org = OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M");
    let other_org = OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P2M");
    let user = UserId::new_unchecked("user_01HZY3K2J5QW8N7X6V4T3R2P1M");
    let user_key = |n, organization_id: &OrganizationId| {
        owned_key(
            n,
            Owner::User {
                id: user.clone(),
                organization_id: organization_id.clone(),
            },
            None,
        )
    };
    let a = loaded(&cache, "sk_a", Ok(Some(user_key(1, &org)))).await;
    let b = loaded(&cache, "sk_b", Ok(Some(user_key(2, &org)))).await;
    let c = loaded(&cache, "sk_c", Ok(Some(user_key(3, &other_org)))).await;
    let d = loaded(&cache, "sk_d", Ok(Some(api_key(4, None)))).await;
    let e = loaded(&cache, "sk_e", Ok(Some(api_key(5, None)))).await;

    assert_eq!(cache.invalidate_membership(&user, &org).await.unwrap(), 2);
    assert!(!is_valid_hit(&cache, &a) && !is_valid_hit(&cache, &b));
    assert!(is_valid_hit(&cache, &c) && is_valid_hit(&cache, &d));
    assert!(cache.invalidate_id(&api_key(4, None).id).await.unwrap());
    assert!(!cache.invalidate_id(&api_key(4, None).id).await.unwrap());
    assert!(!is_valid_hit(&cache, &d) && is_valid_hit(&cache, &e));
    assert!(cache.invalidate_key("sk_e").await.unwrap());
    assert!(!is_valid_hit(&cache, &e) && is_valid_hit(&cache, &c));
    cache.invalidate_all().await.unwrap();
    assert!(!is_valid_hit(&cache, &c));
    assert_eq!(cache.stats().invalidations, 5);
}

/// Invariant 3 with real threads: lookups and reloads spin while the key is
/// revoked at the key service and then invalidated; once `invalidate_id` has
/// returned, nothing serves the key, although reloads that asked before the
/// revocation answer "valid" afterwards.
#[test]
fn a_lookup_after_an_invalidation_returned_never_hits() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = with_grace();
    let id = api_key(8, None).id;
    let d = digest("sk_eight");
    // What the key service says, moved before each invalidation.
    let revoked = Arc::new(AtomicBool::new(false));
    let call = |revoked: &Arc<AtomicBool>| {
        let revoked = Arc::clone(revoked);
        move || -> Call {
            Box::pin(async move {
                let valid = !revoked.load(Ordering::SeqCst);
                // The answer travels back while the revocation goes on.
                tokio::task::yield_now().await;
                Ok(TierVerdict::fresh(valid.then(|| api_key(8, None))))
            })
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let (mut rounds, mut bypasses) = (0u64, 0u64);
    while std::time::Instant::now() < deadline {
        rounds += 1;
        revoked.store(false, Ordering::SeqCst);
        runtime.block_on(cache.load(d, call(&revoked))).unwrap();
        let (stop, invalidated) = (AtomicBool::new(false), AtomicBool::new(false));
        std::thread::scope(|s| {
            let reader = || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                while !stop.load(Ordering::SeqCst) {
                    let after = invalidated.load(Ordering::SeqCst);
                    match cache.lookup(&d) {
                        Some(CachedVerdict::Valid(_)) => {
                            assert!(!after, "a hit after the invalidation returned");
                        }
                        _ => drop(rt.block_on(cache.load(d, call(&revoked)))),
                    }
                }
            };
            // Two readers: one may be storing while the other looks.
            s.spawn(reader);
            s.spawn(reader);
            std::thread::yield_now();
            revoked.store(true, Ordering::SeqCst);
            runtime.block_on(cache.invalidate_id(&id)).unwrap();
            invalidated.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_micros(300));
            stop.store(true, Ordering::SeqCst);
        });
        if is_valid_hit(&cache, &d) {
            bypasses += 1;
            cache.inner.forget(&crate::tier::Invalidation::All);
        }
    }
    assert_eq!(
        bypasses, 0,
        "{bypasses} revocation bypasses in {rounds} rounds"
    );
}

// Invariant 4.

#[tokio::test]
async fn a_request_after_an_invalidation_does_not_join_an_older_call() {
    let cache = cache();
    let (old, new) = (Gated::default(), Gated::default());
    let d = digest("sk_rotated");
    let before = tokio::spawn({
        let (cache, call) = (cache.clone(), old.call(|| Ok(Some(api_key(3, None)))));
        async move { cache.load(d, call).await }
    });
    old.until_calls(1).await;
    cache.invalidate_key("sk_rotated").await.unwrap();
    let after = tokio::spawn({
        let (cache, call) = (cache.clone(), new.call(|| Ok(None)));
        async move { cache.load(d, call).await }
    });
    new.until_calls(1).await;
    old.gate.notify_one();
    new.gate.notify_one();
    assert!(matches!(
        before.await.unwrap().unwrap().0,
        CachedVerdict::Valid(_)
    ));
    let (verdict, outcome) = after.await.unwrap().unwrap();
    assert!(matches!(verdict, CachedVerdict::Invalid));
    assert_eq!(outcome, CacheOutcome::Miss);
    // The newer answer is the one kept.
    assert!(matches!(cache.lookup(&d), Some(CachedVerdict::Invalid)));
}

// Invariant 5.

#[tokio::test]
async fn a_kept_verdict_ends_with_a_definite_invalid_or_an_invalidation() {
    let cache = cache_with(CacheConfig {
        positive_ttl: Duration::ZERO,
        grace: Some(Duration::from_secs(60)),
        ..CacheConfig::default()
    });
    let d = loaded(&cache, "sk_stale", Ok(Some(api_key(5, None)))).await;
    // Past its freshness at once: a fallback only, and only through `kept`.
    assert!(cache.lookup(&d).is_none());
    assert!(cache.load(d, answering(failure())).await.is_err());
    assert!(cache.kept(&d).is_some());
    // A definite "invalid" ends it.
    cache.load(d, answering(Ok(None))).await.unwrap();
    assert!(cache.kept(&d).is_none());

    // So does an invalidation.
    let d = loaded(&cache, "sk_stale_2", Ok(Some(api_key(6, None)))).await;
    cache.invalidate_id(&api_key(6, None).id).await.unwrap();
    assert!(cache.kept(&d).is_none());
    assert_eq!(cache.stats().stale, 1);

    // Without a grace window nothing is kept.
    let fresh_only = cache_with(CacheConfig::default());
    let d = loaded(&fresh_only, "sk_fresh", Ok(Some(api_key(7, None)))).await;
    assert!(fresh_only.kept(&d).is_none());
}

// Invariant 6.

#[tokio::test]
async fn valid_verdicts_never_outlive_expires_at() {
    let now = Timestamp::now();
    let clock = ManualClock(Arc::new(Mutex::new(now)));
    let cache = VerdictCache::new(&CacheConfig::default(), Arc::new(clock.clone()), None);
    let soon = now.saturating_add(time::Duration::seconds(2));
    let d = loaded(&cache, "sk_short", Ok(Some(api_key(9, Some(soon))))).await;
    // Fresh for what is left of the key's life, not the 30 s TTL.
    let entry = cache.inner.verdicts.get(&d).unwrap();
    assert!(entry.fresh_until <= Instant::now() + Duration::from_secs(2));
    // And judged against the clock on every use.
    let Some(verdict) = cache.lookup(&d) else {
        panic!("a fresh verdict")
    };
    assert!(verdict.clone().judge(&clock).is_ok());
    *clock.0.lock().unwrap() = soon;
    assert!(verdict.judge(&clock).is_err());
}

#[tokio::test]
async fn an_already_expired_key_is_not_kept() {
    let past = Timestamp::now().saturating_add(time::Duration::seconds(-10));
    let cache = cache();
    let d = loaded(&cache, "sk_expired", Ok(Some(api_key(10, Some(past))))).await;
    assert!(cache.lookup(&d).is_none());
}

#[tokio::test]
async fn invalid_verdicts_live_for_the_negative_ttl() {
    let cache = cache_with(CacheConfig {
        negative_ttl: Duration::from_millis(50),
        ..CacheConfig::default()
    });
    let d = loaded(&cache, "sk_bad", Ok(None)).await;
    assert!(matches!(cache.lookup(&d), Some(CachedVerdict::Invalid)));
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(cache.lookup(&d).is_none());
}

// Invariant 7.

#[tokio::test]
async fn a_flood_of_invalid_keys_evicts_no_valid_verdict() {
    let cache = cache_with(CacheConfig {
        max_capacity: 200,
        max_invalid_capacity: 100,
        ..CacheConfig::default()
    });
    let mut valid = Vec::new();
    for n in 0..200 {
        valid.push(loaded(&cache, &format!("sk_valid_{n}"), Ok(Some(api_key(n, None)))).await);
    }
    for n in 0..30_000 {
        loaded(&cache, &format!("sk_garbage_{n}"), Ok(None)).await;
    }
    cache.run_pending_tasks();
    let kept = valid.iter().filter(|d| is_valid_hit(&cache, d)).count();
    assert_eq!(kept, 200);
    assert!(cache.stats().entries <= 300);
}

// Invariant 8.

#[tokio::test]
async fn invalidate_id_finds_verdicts_stored_after_evictions() {
    // A small cache, filled many times over: moka evicts, the index prunes,
    // and every verdict moka still holds stays findable by its id.
    let cache = cache_with(CacheConfig {
        max_capacity: 100,
        ..CacheConfig::default()
    });
    for n in 0..5_000 {
        loaded(&cache, &format!("sk_churn_{n}"), Ok(Some(api_key(n, None)))).await;
    }
    cache.run_pending_tasks();
    let held: Vec<u32> = (0..5_000)
        .filter(|n| is_valid_hit(&cache, &digest(&format!("sk_churn_{n}"))))
        .collect();
    assert!(!held.is_empty());
    // Pruned along the way: not 5,000 ids for ~100 verdicts.
    assert!(cache.inner.gate().index.len() < 2_500);
    for n in &held {
        assert!(
            cache.invalidate_id(&api_key(*n, None).id).await.unwrap(),
            "key {n}"
        );
        assert!(!is_valid_hit(&cache, &digest(&format!("sk_churn_{n}"))));
    }
}

#[tokio::test]
async fn a_verdict_stored_again_after_an_invalidation_is_indexed_again() {
    let cache = cache();
    let id = api_key(11, None).id;
    let d = loaded(&cache, "sk_again", Ok(Some(api_key(11, None)))).await;
    assert!(cache.invalidate_key("sk_again").await.unwrap());
    assert!(
        !cache.invalidate_id(&id).await.unwrap(),
        "invalidate_key took the id too"
    );
    loaded(&cache, "sk_again", Ok(Some(api_key(11, None)))).await;
    assert!(is_valid_hit(&cache, &d));
    assert!(cache.invalidate_id(&id).await.unwrap());
    assert!(!is_valid_hit(&cache, &d));
}

// From the review of this cache.

/// A call that panics while another request waits on it: everyone waiting
/// gets an error (a 503), none waits forever, nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_call_does_not_strand_its_waiters() {
    let cache = cache();
    let d = digest("sk_panics");
    let started = Arc::new(AtomicBool::new(false));
    let leader = tokio::spawn({
        let (cache, started) = (cache.clone(), Arc::clone(&started));
        async move {
            let call = move || -> Call {
                Box::pin(async move {
                    started.store(true, Ordering::SeqCst);
                    // The validator is busy on this worker (inside one poll)...
                    std::thread::sleep(Duration::from_millis(300));
                    // ...then fails hard (a bug, or `Instant + Duration::MAX`).
                    panic!("validator bug");
                })
            };
            cache.load(d, call).await
        }
    });
    while !started.load(Ordering::SeqCst) {
        tokio::task::yield_now().await;
    }
    // A second request for the key joins the call while it is being polled.
    let follower = tokio::spawn({
        let cache = cache.clone();
        async move { cache.load(d, answering(Ok(None))).await }
    });
    assert!(leader.await.unwrap().is_err(), "the panic is an error");
    assert_eq!(cache.inner.gate().in_flight(), 0);
    let waited = tokio::time::timeout(Duration::from_secs(2), follower).await;
    let Ok(answer) = waited else {
        panic!("the waiter is still pending 2 s after the call it joined panicked");
    };
    assert!(answer.unwrap().is_err());
    assert!(cache.lookup(&d).is_none());
}

/// Stress for the central claim through `load` too (joins, cancellations,
/// stale-if-error): once `invalidate_id` has returned, no request that
/// begins afterwards gets "valid", from a hit, a join, or a stale fallback.
#[test]
fn no_request_after_an_invalidation_gets_the_old_verdict() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cache = with_grace();
    let id = api_key(11, None).id;
    let d = digest("sk_eleven");
    let revoked = Arc::new(AtomicBool::new(false));
    let n = Arc::new(AtomicU64::new(0));
    let call = |revoked: &Arc<AtomicBool>, n: &Arc<AtomicU64>| {
        let (revoked, n) = (Arc::clone(revoked), Arc::clone(n));
        move || -> Call {
            Box::pin(async move {
                let valid = !revoked.load(Ordering::SeqCst);
                let k = n.fetch_add(1, Ordering::Relaxed);
                for _ in 0..(k % 4) {
                    tokio::task::yield_now().await;
                }
                if k % 3 == 0 {
                    Err(ValidatorError::new("down"))
                } else {
                    Ok(TierVerdict::fresh(valid.then(|| api_key(11, None))))
                }
            })
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let violations = Arc::new(AtomicU64::new(0));
    let mut rounds = 0u64;
    while std::time::Instant::now() < deadline {
        rounds += 1;
        revoked.store(false, Ordering::SeqCst);
        cache.inner.forget(&crate::tier::Invalidation::All);
        runtime
            .block_on(cache.load(d, answering(Ok(Some(api_key(11, None))))))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let invalidated = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..4)
            .map(|t| {
                let (cache, revoked, n, stop, invalidated, violations) = (
                    cache.clone(),
                    Arc::clone(&revoked),
                    Arc::clone(&n),
                    Arc::clone(&stop),
                    Arc::clone(&invalidated),
                    Arc::clone(&violations),
                );
                runtime.spawn(async move {
                    let mut i = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        i += 1;
                        let after = invalidated.load(Ordering::SeqCst);
                        let valid = match cache.lookup(&d) {
                            Some(v) => matches!(v, CachedVerdict::Valid(_)),
                            None => {
                                let load = cache.load(d, call(&revoked, &n));
                                if (i + t).is_multiple_of(5) {
                                    // Abandon some loads half-way.
                                    let _ =
                                        tokio::time::timeout(Duration::from_micros(1), load).await;
                                    false
                                } else {
                                    match load.await {
                                        Ok((verdict, _)) => {
                                            matches!(verdict, CachedVerdict::Valid(_))
                                        }
                                        // The miss path's fallback (the
                                        // failures here are the key service's).
                                        Err(_) => cache.kept(&d).is_some(),
                                    }
                                }
                            }
                        };
                        if after && valid {
                            violations.fetch_add(1, Ordering::SeqCst);
                        }
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_micros(200));
        revoked.store(true, Ordering::SeqCst);
        runtime.block_on(cache.invalidate_id(&id)).unwrap();
        invalidated.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_micros(500));
        stop.store(true, Ordering::SeqCst);
        for task in tasks {
            runtime.block_on(task).unwrap();
        }
        assert_eq!(
            cache.inner.gate().in_flight(),
            0,
            "a flight left in the map"
        );
    }
    assert_eq!(
        violations.load(Ordering::SeqCst),
        0,
        "violations in {rounds} rounds"
    );
}

// Shared tiers.

#[tokio::test]
async fn a_shared_verdict_is_fresh_only_for_what_is_left_of_it() {
    let cache = cache();
    let d = digest("sk_shared");
    let left = Duration::from_secs(2);
    let call = move || -> Call {
        Box::pin(async move { Ok(TierVerdict::fresh(Some(api_key(12, None))).fresh_for(left)) })
    };
    let (verdict, _) = cache.load(d, call).await.unwrap();
    assert!(matches!(verdict, CachedVerdict::Valid(_)));
    let entry = cache.inner.verdicts.get(&d).unwrap();
    assert!(entry.fresh_until <= Instant::now() + left);
    assert!(entry.fresh_until + Duration::from_secs(1) > Instant::now() + left);
}

#[tokio::test]
async fn invalidations_from_the_fleet_apply_here_without_a_tier() {
    use crate::tier::{Invalidation, KeyDigest};
    let cache = cache();
    let d = loaded(&cache, "sk_fleet", Ok(Some(api_key(13, None)))).await;
    let local = cache.follower();
    assert!(local.apply(&Invalidation::Key(KeyDigest::of("sk_fleet"))));
    assert!(cache.lookup(&d).is_none());
    let d = loaded(&cache, "sk_fleet", Ok(Some(api_key(13, None)))).await;
    assert!(local.apply(&Invalidation::Id(api_key(13, None).id)));
    assert!(cache.lookup(&d).is_none());
    drop(cache);
    assert!(
        !local.apply(&Invalidation::All),
        "a dropped layer's cache is gone"
    );
}

/// moka sets an entry's expiry (`KeptUntil`) when it is inserted, so a
/// valid verdict is not served past the positive TTL even when no
/// housekeeping has run since.
#[tokio::test]
async fn a_valid_verdict_is_not_served_past_its_ttl_without_housekeeping() {
    let cache = cache_with(CacheConfig {
        positive_ttl: Duration::from_millis(30),
        ..CacheConfig::default()
    });
    let mut served_late = 0;
    for n in 0..20 {
        let key = format!("sk_short_lived_{n}");
        let d = loaded(&cache, &key, Ok(Some(api_key(20 + n, None)))).await;
        std::thread::sleep(Duration::from_millis(40));
        if is_valid_hit(&cache, &d) {
            served_late += 1;
        }
    }
    assert_eq!(
        served_late, 0,
        "valid verdicts served past the positive TTL"
    );
}

/// A tier for the fleet invariants: it records what the cache asks of it,
/// logs invalidations after a pause (or fails to), and never answers a miss
/// itself.
#[derive(Debug)]
struct RecordingTier {
    bound: Duration,
    log_fails: bool,
    /// What was in the cache for the key while its invalidation was being
    /// logged: `Some(true)` if a valid verdict was still served.
    served_while_logging: Mutex<Option<bool>>,
    local: Mutex<Option<crate::tier::LocalCache>>,
    probe: Mutex<Option<(VerdictCache, Digest)>>,
}

impl RecordingTier {
    fn new(bound: Duration, log_fails: bool) -> Arc<Self> {
        Arc::new(Self {
            bound,
            log_fails,
            served_while_logging: Mutex::new(None),
            local: Mutex::new(None),
            probe: Mutex::new(None),
        })
    }
}

impl crate::tier::SharedTier for Arc<RecordingTier> {
    fn verdict(
        &self,
        _digest: crate::tier::KeyDigest,
        call: crate::tier::KeyServiceCall,
    ) -> crate::tier::TierFuture<'static, Result<TierVerdict, ValidatorError>> {
        Box::pin(async move { call.await.map(TierVerdict::fresh) })
    }

    fn invalidate(
        &self,
        _invalidation: Invalidation,
    ) -> crate::tier::TierFuture<'static, Result<(), NotPassedOn>> {
        let tier = Arc::clone(self);
        Box::pin(async move {
            if let Some((cache, d)) = tier.probe.lock().unwrap().clone() {
                *tier.served_while_logging.lock().unwrap() = Some(is_valid_hit(&cache, &d));
            }
            if tier.log_fails {
                Err(NotPassedOn::new("redis unreachable"))
            } else {
                Ok(())
            }
        })
    }

    fn revocation_bound(&self) -> Duration {
        self.bound
    }

    fn attach(&self, local: crate::tier::LocalCache) {
        *self.local.lock().unwrap() = Some(local);
    }
}

fn fleet_cache(tier: &Arc<RecordingTier>) -> VerdictCache {
    let cache = VerdictCache::new(
        &CacheConfig::default(),
        Arc::new(SystemClock),
        Some(Arc::new(Arc::clone(tier))),
    );
    crate::tier::SharedTier::attach(&Arc::clone(tier), cache.follower());
    cache
}

#[tokio::test]
async fn a_fleet_verdict_is_served_only_if_heard_or_young() {
    let bound = Duration::from_millis(200);
    let tier = RecordingTier::new(bound, false);
    let cache = fleet_cache(&tier);
    let local = tier.local.lock().unwrap().clone().unwrap();
    // Young: fetched within the bound, served though the log was never heard.
    let d = loaded(&cache, "sk_fleet_young", Ok(Some(api_key(30, None)))).await;
    assert!(is_valid_hit(&cache, &d));
    // Old and unheard: not served (a miss, though moka still holds it).
    std::thread::sleep(bound + Duration::from_millis(50));
    assert!(!is_valid_hit(&cache, &d));
    // Heard since: served again, for as long as the log keeps being heard.
    local.heard(Instant::now());
    assert!(is_valid_hit(&cache, &d));
    std::thread::sleep(bound + Duration::from_millis(50));
    assert!(
        !is_valid_hit(&cache, &d),
        "the log was not heard within the bound"
    );
    // Heard "before" is never taken back by an older report.
    local.heard(Instant::now());
    local.heard(Instant::now() - Duration::from_secs(60));
    assert!(is_valid_hit(&cache, &d));
}

#[tokio::test]
async fn stale_fleet_verdicts_need_the_log_heard_too() {
    let bound = Duration::from_millis(100);
    let tier = RecordingTier::new(bound, false);
    let cache = VerdictCache::new(
        &CacheConfig {
            positive_ttl: Duration::from_millis(50),
            grace: Some(Duration::from_secs(60)),
            ..CacheConfig::default()
        },
        Arc::new(SystemClock),
        Some(Arc::new(Arc::clone(&tier))),
    );
    let d = loaded(&cache, "sk_fleet_stale", Ok(Some(api_key(31, None)))).await;
    std::thread::sleep(Duration::from_millis(150));
    // The key service fails: a stale verdict is not served, the log unheard.
    assert!(cache.load(d, answering(failure())).await.is_err());
    assert!(
        cache.kept(&d).is_none(),
        "a stale verdict served while deaf"
    );
}

#[tokio::test]
async fn an_invalidation_is_logged_before_it_is_forgotten() {
    let tier = RecordingTier::new(Duration::from_secs(5), false);
    let cache = fleet_cache(&tier);
    let d = loaded(&cache, "sk_fleet_logged", Ok(Some(api_key(32, None)))).await;
    *tier.probe.lock().unwrap() = Some((cache.clone(), d));
    assert!(cache.invalidate_key("sk_fleet_logged").await.unwrap());
    assert_eq!(
        *tier.served_while_logging.lock().unwrap(),
        Some(true),
        "the tier was asked to log it before this process forgot it"
    );
    assert!(!is_valid_hit(&cache, &d), "forgotten once logged");
}

#[tokio::test]
async fn an_invalidation_that_cannot_be_logged_is_applied_here_and_reported() {
    let tier = RecordingTier::new(Duration::from_secs(5), true);
    let cache = fleet_cache(&tier);
    let d = loaded(&cache, "sk_fleet_unlogged", Ok(Some(api_key(33, None)))).await;
    let error = cache
        .invalidate_id(&api_key(33, None).id)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("could not be logged"), "{error}");
    assert!(!is_valid_hit(&cache, &d), "applied here all the same");
}

#[tokio::test]
async fn a_flush_from_the_log_forgets_everything_and_refuses_calls_in_flight() {
    let tier = RecordingTier::new(Duration::from_secs(5), false);
    let cache = fleet_cache(&tier);
    let local = tier.local.lock().unwrap().clone().unwrap();
    let d = loaded(&cache, "sk_fleet_flushed", Ok(Some(api_key(34, None)))).await;
    let gated = Gated::default();
    let late = digest("sk_fleet_in_flight");
    let pending = tokio::spawn({
        let (cache, call) = (cache.clone(), gated.call(|| Ok(Some(api_key(35, None)))));
        async move { cache.load(late, call).await }
    });
    gated.until_calls(1).await;
    assert!(local.flush());
    gated.gate.notify_one();
    let _ = pending.await.unwrap();
    assert!(!is_valid_hit(&cache, &d));
    assert!(
        !is_valid_hit(&cache, &late),
        "an answer fetched before the flush is not stored"
    );
    assert_eq!(local.lifetime(None), Some(DEFAULT_NEGATIVE_TTL));
    drop(cache);
    assert!(!local.flush(), "a dropped layer's cache is gone");
}
