//! Races between lookups, loads, moka's housekeeping and invalidations
//! around the hit table and the id index: each replayed step by step, and
//! one with real threads.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;
use keygate_types::SecretString;

use super::tests::{api_key, cache, cache_with, cached};
use super::*;
use crate::upstream::Upstream;
use crate::validator::validator_fn;

/// moka's `get` clones the value, then runs its pending housekeeping; if that
/// evicts the very entry read, the eviction listener runs before `lookup_now`
/// mirrors the entry. The mirror must not outlive moka's entry (it would be in
/// no index, served until its deadline despite `invalidate_id`).
#[tokio::test]
async fn an_entry_evicted_while_read_is_not_mirrored() {
    let cache = cache_with(CacheConfig {
        max_capacity: 1,
        ..CacheConfig::default()
    });
    // B: a hot key, so moka's admission prefers it over a newcomer.
    let db = cached(&cache, "sk_b", Some(api_key(2, None))).await;
    for _ in 0..30 {
        let _ = cache.inner.cache.get(&db).await;
    }
    cache.run_pending_tasks().await;
    // A: in moka, not (yet) in the hit table. This is the state between a
    // loader's store into moka (`or_try_insert_with` / `cache.insert` in
    // `load_alone`) and its `keep`; here it is made directly.
    let da = digest("sk_a");
    let a = cache.entry(da, Some(api_key(1, None)), 0);
    cache.inner.cache.insert(da, Arc::clone(&a)).await;
    // moka's next read runs its housekeeping (LOG_SYNC_INTERVAL = 300 ms).
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(matches!(cache.lookup_now(&da), Lookup::Hit(_)));
    cache.run_pending_tasks().await;
    assert!(
        cache.inner.cache.get(&da).await.is_none(),
        "moka rejected/evicted A"
    );
    assert_eq!(
        cache.indexed_ids(),
        1,
        "the listener dropped A from the index"
    );
    assert_eq!(cache.mirrored(), 1, "A is not left in the hit table");
    // The key is revoked by id: the revocation listener / webhook path.
    cache.invalidate_id(&api_key(1, None).id).await;
    assert!(matches!(cache.lookup_now(&da), Lookup::Miss));
}

/// `lookup_now`'s moka fallback racing `invalidate_key`, replayed step by
/// step (the calls `lookup_now` makes, in its order, split where another
/// thread can run): the fallback must not mirror what the invalidation removed.
#[tokio::test]
async fn a_fallback_read_racing_invalidate_key_is_not_mirrored() {
    let cache = cache();
    let d = cached(&cache, "sk_five", Some(api_key(5, None))).await;
    assert_eq!(cache.mirrored(), 1);
    let inner = &*cache.inner;

    // invalidate_key, first half: epoch bump, hit table removal.
    inner.epoch.fetch_add(1, Ordering::SeqCst);
    inner.hits.remove(&d);
    // Request R (lookup_now): table miss, reads the (new) epoch, moka still has X.
    assert!(inner.hits.get(&d, std::time::Instant::now()).is_none());
    let epoch = inner.epoch.load(Ordering::SeqCst);
    let x = inner.cache.get(&d).now_or_never().unwrap().unwrap();
    // invalidate_key, second half: moka removal (its listener runs now).
    assert!(inner.cache.remove(&d).await.is_some());
    // invalidate_key has returned. R resumes: publish(&entry, epoch).
    cache.publish(&x, epoch);

    // A request that starts after invalidate_key returned:
    assert!(matches!(cache.lookup_now(&d), Lookup::Miss));
    assert!(inner.cache.get(&d).await.is_none(), "moka has nothing");
}

/// A doomed (suspect) verdict created between another load's `entry()` and
/// its store must not take the id index's slot: its removal would leave the
/// live entry unindexed. Replayed with the calls `load_alone` (R) and
/// `load_once` (L1) make, in that order.
#[tokio::test]
async fn a_suspect_entry_does_not_take_the_index_slot() {
    let cache = cache();
    let d = digest("sk_six");
    let inner = &*cache.inner;
    // L1: a load_once began at epoch 0 and is in flight.
    // An invalidation (of any key) arrives: epoch 1.
    cache.invalidate_key("sk_unrelated").await;
    // R arrives after it: load_alone at epoch 1; its call answers.
    let x2 = cache.entry(d, Some(api_key(6, None)), 1);
    // L1's call answers now: its (suspect) entry, stored by moka, then keep().
    let x1 = cache.entry(d, Some(api_key(6, None)), 0);
    assert!(x1.suspect && !x2.suspect);
    inner.cache.insert(d, Arc::clone(&x1)).await;
    cache.keep(&x1, 0).await;
    // R resumes: cache.insert, keep.
    inner.cache.insert(d, Arc::clone(&x2)).await;
    cache.keep(&x2, 1).await;
    assert_eq!(cache.indexed_ids(), 1, "the live entry is indexed");
    assert!(cache.invalidate_id(&api_key(6, None).id).await);
    assert!(matches!(cache.lookup_now(&d), Lookup::Miss));
}

/// The race of `a_fallback_read_racing_invalidate_key_is_not_mirrored` with
/// real threads: a reader spins on `lookup_now` while the key is invalidated;
/// after `invalidate_key` returned and the reader stopped, the next lookup
/// must miss. (Before the fix: 15 bypasses in 1,342 rounds of 8 s.)
#[test]
fn invalidate_key_racing_lookups_leaves_no_hit() {
    use std::sync::atomic::AtomicBool;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = cache_with(CacheConfig {
        grace: Some(Duration::from_secs(1)),
        ..CacheConfig::default()
    });
    let upstream = Upstream::unguarded();
    let v = validator_fn(|_key: SecretString| async { Ok(Some(api_key(8, None))) });
    let d = digest("sk_eight");
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let (mut iterations, mut bypasses) = (0u64, 0u64);
    while std::time::Instant::now() < deadline {
        iterations += 1;
        rt.block_on(cache.load(d, "sk_eight", &v, &upstream))
            .unwrap();
        let (stop, started) = (AtomicBool::new(false), AtomicBool::new(false));
        std::thread::scope(|s| {
            s.spawn(|| {
                started.store(true, Ordering::SeqCst);
                while !stop.load(Ordering::SeqCst) {
                    let _ = cache.lookup_now(&d);
                }
            });
            while !started.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            rt.block_on(cache.invalidate_key("sk_eight"));
            stop.store(true, Ordering::SeqCst);
        });
        if matches!(cache.lookup_now(&d), Lookup::Hit(_)) {
            bypasses += 1;
            cache.inner.hits.clear();
        }
    }
    assert_eq!(
        bypasses, 0,
        "{bypasses} revocation bypasses in {iterations} invalidations"
    );
}
