use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use keygate_types::SecretString;

use super::*;
use crate::validator::validator_fn;

fn policy() -> UpstreamPolicy {
    UpstreamPolicy {
        timeout: Duration::from_secs(2),
        retries: 0,
        initial_backoff: Duration::from_millis(1),
        max_concurrent: 64,
        breaker: CircuitBreaker::disabled(),
    }
}

/// A validator failing its first `failures` calls (with `retry_after`), then answering "invalid".
fn flaky(failures: u32, retry_after: Option<Duration>) -> (impl KeyValidator, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let validator = validator_fn(move |_key: SecretString| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < failures {
                let error = ValidatorError::new("down");
                Err(match retry_after {
                    Some(after) => error.with_retry_after(after),
                    None => error,
                })
            } else {
                Ok(None)
            }
        }
    });
    (validator, calls)
}

fn upstream_error(error: &ValidatorError) -> Option<UpstreamError> {
    std::error::Error::source(error)?
        .downcast_ref::<UpstreamError>()
        .cloned()
}

#[tokio::test]
async fn a_slow_validator_times_out() {
    let upstream = Upstream::new(UpstreamPolicy {
        timeout: Duration::from_millis(50),
        ..policy()
    });
    let slow = validator_fn(|_key: SecretString| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok(None)
    });
    let started = std::time::Instant::now();
    let error = upstream.validate(&slow, "sk_k").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        upstream_error(&error),
        Some(UpstreamError::Timeout(Duration::from_millis(50)))
    );
}

#[tokio::test]
async fn retries_are_bounded() {
    let upstream = Upstream::new(UpstreamPolicy {
        retries: 2,
        ..policy()
    });
    let (validator, calls) = flaky(10, None);
    assert!(upstream.validate(&validator, "sk_k").await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 3, "one call and two retries");

    let (validator, calls) = flaky(2, None);
    assert_eq!(upstream.validate(&validator, "sk_k").await.unwrap(), None);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retry_after_is_waited_out_within_the_budget_and_passed_on_beyond_it() {
    let upstream = Upstream::new(UpstreamPolicy {
        retries: 1,
        ..policy()
    });
    let (validator, calls) = flaky(1, Some(Duration::from_millis(100)));
    let started = std::time::Instant::now();
    assert_eq!(upstream.validate(&validator, "sk_k").await.unwrap(), None);
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "waited out Retry-After"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A Retry-After past the timeout: no retry, the hint is passed on.
    let (validator, calls) = flaky(1, Some(Duration::from_secs(30)));
    let started = std::time::Instant::now();
    let error = upstream.validate(&validator, "sk_k").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_validations_are_capped_and_the_queue_is_one_round_deep() {
    let upstream = Arc::new(Upstream::new(UpstreamPolicy {
        max_concurrent: 3,
        ..policy()
    }));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (a, b) = (Arc::clone(&in_flight), Arc::clone(&most));
    let validator = Arc::new(validator_fn(move |_key: SecretString| {
        let (in_flight, most) = (Arc::clone(&a), Arc::clone(&b));
        async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(None)
        }
    }));
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (upstream, validator) = (Arc::clone(&upstream), Arc::clone(&validator));
            tokio::spawn(async move { upstream.validate(&validator, "sk_k").await })
        })
        .collect();
    let (mut answered, mut shed) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => answered += 1,
            Err(error) => {
                assert_eq!(upstream_error(&error), Some(UpstreamError::Saturated));
                shed += 1;
            }
        }
    }
    // Three in flight, three waiting; the rest are told at once.
    assert_eq!((answered, shed), (6, 6));
    assert_eq!(most.load(Ordering::SeqCst), 3);
    assert_eq!(upstream.breaker_state(), BreakerState::Closed);
}

/// Issue 17, finding 3: the wait for a slot used to eat into the call's
/// deadline, so a call that got its slot late timed out and counted as a
/// key-service failure.
#[tokio::test]
async fn a_call_that_waited_for_its_slot_still_has_its_whole_budget() {
    let upstream = Arc::new(Upstream::new(UpstreamPolicy {
        max_concurrent: 1,
        timeout: Duration::from_millis(150),
        ..policy()
    }));
    let validator = Arc::new(validator_fn(|_key: SecretString| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(None)
    }));
    let first = {
        let (upstream, validator) = (Arc::clone(&upstream), Arc::clone(&validator));
        tokio::spawn(async move { upstream.validate(&validator, "sk_a").await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    // Waits ~90 ms for the slot, then needs 100 ms: over 150 ms in all.
    assert!(upstream.validate(&validator, "sk_b").await.is_ok());
    assert!(first.await.unwrap().is_ok());
}

/// Issue 17, finding 3: garbage keys against a healthy key service must not
/// open the breaker, however many wait for a slot.
#[tokio::test]
async fn saturation_never_opens_the_breaker() {
    let upstream = Arc::new(Upstream::new(UpstreamPolicy {
        max_concurrent: 2,
        timeout: Duration::from_millis(150),
        breaker: CircuitBreaker::new(5, Duration::from_secs(60)),
        ..policy()
    }));
    let validator = Arc::new(validator_fn(|_key: SecretString| async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok(None)
    }));
    let mut tasks = Vec::new();
    for n in 0..200 {
        let (upstream, validator) = (Arc::clone(&upstream), Arc::clone(&validator));
        tasks.push(tokio::spawn(async move {
            upstream
                .validate(&validator, &format!("sk_garbage_{n}"))
                .await
        }));
        if n % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    for task in tasks {
        if let Err(error) = task.await.unwrap() {
            assert_eq!(upstream_error(&error), Some(UpstreamError::Saturated));
        }
    }
    assert_eq!(upstream.breaker_state(), BreakerState::Closed);
    assert!(upstream.validate(&validator, "sk_valid").await.is_ok());
}

#[tokio::test]
async fn waiting_for_a_slot_is_bounded_by_the_timeout() {
    let upstream = Arc::new(Upstream::new(UpstreamPolicy {
        max_concurrent: 1,
        timeout: Duration::from_millis(100),
        ..policy()
    }));
    let slow = Arc::new(validator_fn(|_key: SecretString| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok(None)
    }));
    let hog = {
        let (upstream, slow) = (Arc::clone(&upstream), Arc::clone(&slow));
        tokio::spawn(async move { upstream.validate(&slow, "sk_a").await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let started = std::time::Instant::now();
    let error = upstream.validate(&slow, "sk_b").await.unwrap_err();
    // The hog's own deadline frees the slot just before ours: either way,
    // the wait ends with our deadline.
    assert!(matches!(
        upstream_error(&error),
        Some(UpstreamError::Saturated | UpstreamError::Timeout(_))
    ));
    assert!(started.elapsed() < Duration::from_millis(300));
    assert!(hog.await.unwrap().is_err());

    // With the slot held past our whole budget: Saturated.
    let upstream = Upstream::new(UpstreamPolicy {
        max_concurrent: 1,
        timeout: Duration::from_millis(50),
        ..policy()
    });
    let held = upstream.slots.acquire().await.unwrap();
    let error = upstream.validate(&slow, "sk_c").await.unwrap_err();
    assert_eq!(upstream_error(&error), Some(UpstreamError::Saturated));
    drop(held);
}

#[tokio::test]
async fn an_open_breaker_fails_fast_without_calling() {
    let upstream = Upstream::new(UpstreamPolicy {
        breaker: CircuitBreaker::new(2, Duration::from_secs(30)),
        ..policy()
    });
    let (validator, calls) = flaky(u32::MAX, None);
    for _ in 0..2 {
        assert!(upstream.validate(&validator, "sk_k").await.is_err());
    }
    assert_eq!(upstream.breaker_state(), BreakerState::Open);
    for _ in 0..100 {
        let error = upstream.validate(&validator, "sk_k").await.unwrap_err();
        assert_eq!(upstream_error(&error), Some(UpstreamError::CircuitOpen));
        assert!(error.retry_after().unwrap() > Duration::from_secs(29));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

// ---- Review tests ----

#[tokio::test]
async fn an_unbounded_upstream_timeout_does_not_panic() {
    let (validator, _) = flaky(0, None);
    let upstream = Upstream::new(UpstreamPolicy {
        timeout: Duration::MAX,
        ..policy()
    });
    assert!(matches!(
        upstream.validate(&validator, "sk_x").await,
        Ok(None)
    ));
}

#[tokio::test]
async fn a_huge_retry_after_from_the_validator_does_not_panic() {
    let (validator, _) = flaky(1, Some(Duration::MAX));
    let upstream = Upstream::new(UpstreamPolicy {
        retries: 1,
        ..policy()
    });
    assert!(upstream.validate(&validator, "sk_x").await.is_err());
}
