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
async fn concurrent_validations_are_capped() {
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
            tokio::spawn(async move { upstream.validate(&validator, "sk_k").await.is_ok() })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap());
    }
    assert_eq!(most.load(Ordering::SeqCst), 3);
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
