//! The layer with a shared budget, in process: a test budget that answers
//! or fails on demand stands in for Redis (keygate-redis's `tests/budget`
//! runs the same rules against a real `redis-server`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Response, StatusCode};
use keygate_auth::{ApiKeyAuth, InMemoryValidator};
use keygate_ratelimit::{
    BudgetFuture, BudgetStats, BudgetUnavailable, Decision, Quota, RateLimit, SharedBudget,
};
use keygate_types::{OrganizationId, Owner};
use tower::ServiceExt;

/// Answers `decision` while up, fails while down; counts its calls.
#[derive(Debug, Clone)]
struct TestBudget {
    up: Arc<AtomicBool>,
    decision: Decision,
    calls: Arc<AtomicU64>,
}

impl TestBudget {
    fn new(decision: Decision) -> Self {
        Self {
            up: Arc::new(AtomicBool::new(true)),
            decision,
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

impl SharedBudget for TestBudget {
    fn spend(
        &self,
        partition: &str,
        _quota: Quota,
    ) -> BudgetFuture<'static, Result<Decision, BudgetUnavailable>> {
        assert!(partition.starts_with("api_key_"), "{partition}");
        self.calls.fetch_add(1, Ordering::Relaxed);
        let answer = if self.up.load(Ordering::SeqCst) {
            Ok(self.decision)
        } else {
            Err(BudgetUnavailable::new("the test budget is down"))
        };
        Box::pin(async move { answer })
    }
}

struct Fixture {
    app: Router,
    rate_limit: RateLimit,
    keys: Vec<String>,
}

fn serve(quota: Quota, budget: TestBudget, keys: usize) -> Fixture {
    let validator = InMemoryValidator::new();
    let org = Owner::Organization {
        id: OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M"),
    };
    let keys = (0..keys)
        .map(|n| {
            let (key, _) = validator.issue(&format!("k{n}"), org.clone(), ["posts:read"]);
            key.expose_secret().to_owned()
        })
        .collect();
    let rate_limit = RateLimit::builder(quota).shared_budget(budget).build();
    let app = Router::new()
        .route("/posts", get(|| async { "posts" }))
        .layer(rate_limit.clone())
        .layer(ApiKeyAuth::new(validator));
    Fixture {
        app,
        rate_limit,
        keys,
    }
}

impl Fixture {
    async fn get(&self, key: usize) -> Response<Body> {
        let request = Request::get("/posts")
            .header("authorization", format!("Bearer {}", self.keys[key]))
            .body(Body::empty())
            .unwrap();
        self.app.clone().oneshot(request).await.unwrap()
    }

    fn stats(&self) -> BudgetStats {
        self.rate_limit.budget_stats().unwrap()
    }
}

#[tokio::test]
async fn the_shared_budget_decides_and_the_response_says_what_it_said() {
    let accepted = TestBudget::new(Decision::Accepted {
        remaining: 7,
        reset: Duration::from_millis(2_500),
    });
    let fixture = serve(Quota::per_second(10), accepted.clone(), 1);
    let response = fixture.get(0).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["ratelimit"], r#""per-key";r=7;t=3"#);
    assert_eq!(
        response.headers()["ratelimit-policy"],
        r#""per-key";q=10;w=1"#
    );

    let refused = TestBudget::new(Decision::Limited {
        retry_after: Duration::from_millis(1_200),
    });
    let fixture = serve(Quota::per_second(10), refused.clone(), 1);
    let response = fixture.get(0).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(fixture.stats().shared, 1);
    assert_eq!(refused.calls.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn while_the_budget_fails_each_partition_starts_empty_and_gets_one_request_per_interval() {
    // T = 50 ms, burst 20: a spell of D accepts at most ⌊D / T⌋ per partition.
    let quota = Quota::per_second(20);
    let budget = TestBudget::new(Decision::Accepted {
        remaining: 19,
        reset: Duration::from_millis(50),
    });
    let fixture = serve(quota, budget.clone(), 2);
    // The shared budget had room: the partition is whole there.
    assert_eq!(fixture.get(0).await.status(), StatusCode::OK);

    budget.set_up(false);
    let cut = Instant::now();
    // Empty at the spell's start: the first request is refused, for both
    // the partition that had spent and one that had not.
    assert_eq!(fixture.get(0).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(fixture.get(1).await.status(), StatusCode::TOO_MANY_REQUESTS);
    let mut accepted = 0u64;
    let mut sent = 0u64;
    while cut.elapsed() < Duration::from_millis(1_000) {
        sent += 1;
        match fixture.get(0).await.status() {
            StatusCode::OK => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("status {other} while the budget fails"),
        }
        tokio::task::yield_now().await;
    }
    let spell = cut.elapsed();
    let bound = (spell.as_nanos() / quota.replenish_interval().as_nanos()) as u64;
    let stats = fixture.stats();
    eprintln!(
        "budget down for {spell:?}, T = {:?}: {accepted} of {sent} accepted alone (bound {bound}); \
         {stats:?}",
        quota.replenish_interval()
    );
    assert!(accepted <= bound, "{accepted} accepted, bound {bound}");
    // The steady refill goes on: about one request per interval.
    assert!(accepted + 3 >= bound, "{accepted} accepted, bound {bound}");
    assert!(
        stats.falling_back && stats.fallback == sent + 2,
        "{stats:?}"
    );

    // The budget decides again: the spell ends.
    budget.set_up(true);
    assert_eq!(fixture.get(0).await.status(), StatusCode::OK);
    let stats = fixture.stats();
    assert!(!stats.falling_back && stats.shared == 2, "{stats:?}");

    // The next spell starts every partition empty again, whatever the last
    // one had refilled.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    budget.set_up(false);
    assert_eq!(fixture.get(0).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_issue_24_case_quota_5_a_minute_gets_no_second_burst() {
    let quota = Quota::per_minute(5);
    let budget = TestBudget::new(Decision::Limited {
        retry_after: Duration::from_secs(12),
    });
    let fixture = serve(quota, budget.clone(), 1);
    // The shared budget counted the burst, and refuses.
    assert_eq!(fixture.get(0).await.status(), StatusCode::TOO_MANY_REQUESTS);
    budget.set_up(false);
    let mut accepted = 0;
    for _ in 0..50 {
        if fixture.get(0).await.status() == StatusCode::OK {
            accepted += 1;
        }
    }
    // The first request alone comes 12 s into the spell.
    assert_eq!(accepted, 0);
    let refused = fixture.get(0).await;
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((11..=12).contains(&retry), "{retry}");
}
