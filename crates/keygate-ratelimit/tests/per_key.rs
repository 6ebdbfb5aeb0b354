//! End to end over real sockets: `ApiKeyAuth` validating through the typed
//! client against the emulator, then `RateLimit`, in process.

mod support;

use std::time::{Duration, Instant};

use keygate_auth::ApiKeyAuth;
use keygate_ratelimit::{Partition, Quota, RateLimit};
use keygate_test_support::trace_capture;
use support::{App, client, emulator, header, key, member_of, organization, routes, user_key};

/// The replenish interval of 10 a second: a trial whose 11 requests take
/// longer may see a request's worth of budget come back.
const REFILL: Duration = Duration::from_millis(100);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eleventh_request_in_a_second_is_refused_with_429_and_the_other_key_is_unaffected() {
    let emu = emulator().await;
    let client = client(&emu);
    let org = organization(&client).await;
    let rate_limit = RateLimit::per_key(Quota::per_second(10));
    let app = App::serve(routes(rate_limit, ApiKeyAuth::new(client.clone()))).await;

    // A loaded machine may take longer than one refill interval for 11
    // requests; such a trial proves less, so try again with a fresh key
    // (bounded). Each key's first request is validated and cached beforehand
    // (spending one request), then its budget is left to refill.
    let mut proved = false;
    for trial in 0..5 {
        let limited = key(&client, &org, &["posts:read"]).await;
        let other = key(&client, &org, &["posts:read"]).await;
        assert_eq!(app.get(Some(&limited)).await.status(), 200);
        assert_eq!(app.get(Some(&other)).await.status(), 200);
        tokio::time::sleep(Duration::from_millis(1_100)).await;

        let started = Instant::now();
        let mut answers = Vec::with_capacity(11);
        for _ in 0..11 {
            answers.push(app.get(Some(&limited)).await);
        }
        let elapsed = started.elapsed();
        let accepted = answers.iter().filter(|r| r.status() == 200).count();
        // Whatever the machine's speed, GCRA's bound holds.
        let refills = (elapsed.as_millis() / REFILL.as_millis()) as usize;
        assert!(
            accepted <= 10 + refills,
            "{accepted} accepted in {elapsed:?}"
        );
        if elapsed >= REFILL {
            eprintln!("trial {trial}: 11 requests took {elapsed:?}; trying again");
            continue;
        }

        for (n, response) in answers[..10].iter().enumerate() {
            assert_eq!(response.status(), 200, "request {}", n + 1);
            assert_eq!(
                header(response, "ratelimit-policy"),
                r#""per-key";q=10;w=1"#
            );
            assert_eq!(
                header(response, "ratelimit"),
                format!(r#""per-key";r={};t=1"#, 9 - n)
            );
        }
        let refused = answers.pop().unwrap();
        assert_eq!(refused.status(), 429);
        assert_eq!(header(&refused, "retry-after"), "1");
        assert_eq!(
            header(&refused, "ratelimit-policy"),
            r#""per-key";q=10;w=1"#
        );
        assert_eq!(header(&refused, "ratelimit"), r#""per-key";r=0;t=1"#);
        assert_eq!(header(&refused, "content-type"), "application/json");
        let body = refused.text().await.unwrap();
        assert!(
            !body.contains(&limited) && !body.contains("api_key_"),
            "{body}"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "rate_limited");
        assert_eq!(
            body["error_description"],
            "the API key's rate limit (10 requests per 1 s) was reached; retry in 1 s"
        );

        // The other key on the same route still has its whole budget.
        let response = app.get(Some(&other)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "ratelimit"), r#""per-key";r=9;t=1"#);
        eprintln!("trial {trial}: 11 requests in {elapsed:?}: 10 accepted, the 11th refused");
        proved = true;
        break;
    }
    assert!(proved, "no trial ran 11 requests within {REFILL:?}");
    trace_capture::assert_no_secret_logged();
}

#[tokio::test]
async fn an_organizations_keys_share_its_budget_and_another_organization_keeps_its_own() {
    let emu = emulator().await;
    let client = client(&emu);
    let (acme, globex) = (organization(&client).await, organization(&client).await);
    let (first, second) = (
        key(&client, &acme, &[]).await,
        key(&client, &acme, &[]).await,
    );
    let outsider = key(&client, &globex, &[]).await;
    // A refill every 20 s: no budget comes back during the test.
    let rate_limit = RateLimit::builder(Quota::per_minute(3))
        .partition(Partition::Organization)
        .build();
    let app = App::serve(routes(rate_limit, ApiKeyAuth::new(client))).await;

    for key in [&first, &second, &first] {
        assert_eq!(app.get(Some(key)).await.status(), 200);
    }
    let refused = app.get(Some(&second)).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(
        header(&refused, "ratelimit-policy"),
        r#""per-organization";q=3;w=60"#
    );
    let retry_after: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("the organization's rate limit (3 requests per 60 s)")
    );

    let response = app.get(Some(&outsider)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "ratelimit"),
        r#""per-organization";r=2;t=20"#
    );
    trace_capture::assert_no_secret_logged();
}

#[tokio::test]
async fn a_users_keys_share_the_owners_budget_across_organizations_and_an_organization_key_has_its_own()
 {
    let emu = emulator().await;
    let client = client(&emu);
    let (acme, globex) = (organization(&client).await, organization(&client).await);
    let user = member_of(&client, "owner@example.com", &[&acme, &globex]).await;
    let (in_acme, in_globex) = (
        user_key(&client, &user, &acme).await,
        user_key(&client, &user, &globex).await,
    );
    let acme_key = key(&client, &acme, &[]).await;
    let rate_limit = RateLimit::builder(Quota::per_minute(3))
        .partition(Partition::Owner)
        .build();
    let app = App::serve(routes(rate_limit.clone(), ApiKeyAuth::new(client))).await;

    for key in [&in_acme, &in_globex, &in_acme] {
        assert_eq!(app.get(Some(key)).await.status(), 200);
    }
    let refused = app.get(Some(&in_globex)).await;
    assert_eq!(refused.status(), 429);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("the key owner's rate limit (3 requests per 60 s)")
    );
    // The organization's own key is another owner: the organization.
    let response = app.get(Some(&acme_key)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "ratelimit"), r#""per-owner";r=2;t=20"#);
    assert_eq!(rate_limit.tracked_partitions(), 2);
    trace_capture::assert_no_secret_logged();
}

#[tokio::test]
async fn the_override_gives_each_plan_its_quota_and_none_means_unlimited() {
    let emu = emulator().await;
    let client = client(&emu);
    let org = organization(&client).await;
    let basic = key(&client, &org, &["posts:read"]).await;
    let pro = key(&client, &org, &["posts:read", "plan:pro"]).await;
    let internal = key(&client, &org, &["internal"]).await;
    let rate_limit = RateLimit::builder(Quota::per_minute(2))
        .quota_for(|principal| {
            if principal.has_permission("internal") {
                None
            } else if principal.has_permission("plan:pro") {
                Some(Quota::per_minute(5))
            } else {
                Some(Quota::per_minute(2))
            }
        })
        .build();
    let app = App::serve(routes(rate_limit.clone(), ApiKeyAuth::new(client))).await;

    let accepted = |key: String| {
        let app = &app;
        async move {
            let mut accepted = 0;
            for _ in 0..8 {
                if app.get(Some(&key)).await.status() == 200 {
                    accepted += 1;
                }
            }
            accepted
        }
    };
    assert_eq!(accepted(basic).await, 2);
    assert_eq!(accepted(pro.clone()).await, 5);
    assert_eq!(accepted(internal.clone()).await, 8);

    let response = app.get(Some(&pro)).await;
    assert_eq!(
        header(&response, "ratelimit-policy"),
        r#""per-key";q=5;w=60"#
    );
    // An unlimited key's responses carry no rate-limit headers.
    let response = app.get(Some(&internal)).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("ratelimit").is_none());
    assert_eq!(rate_limit.tracked_partitions(), 2);
    trace_capture::assert_no_secret_logged();
}

#[tokio::test]
async fn anonymous_requests_are_unlimited_unless_given_a_quota() {
    let emu = emulator().await;
    let client = client(&emu);
    let optional = || ApiKeyAuth::builder(client.clone()).optional().build();

    let app = App::serve(routes(RateLimit::per_key(Quota::per_minute(1)), optional())).await;
    for _ in 0..20 {
        let response = app.get(None).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit").is_none());
    }

    let app = App::serve(routes(
        RateLimit::builder(Quota::per_minute(1))
            .anonymous(Quota::per_minute(2))
            .build(),
        optional(),
    ))
    .await;
    assert_eq!(app.get(None).await.status(), 200);
    assert_eq!(app.get(None).await.status(), 200);
    let refused = app.get(None).await;
    assert_eq!(refused.status(), 429);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("the anonymous requests' rate limit")
    );
    // A key still has its own budget.
    let org = organization(&client).await;
    let key = key(&client, &org, &[]).await;
    assert_eq!(app.get(Some(&key)).await.status(), 200);
    trace_capture::assert_no_secret_logged();
}

#[tokio::test]
async fn a_rate_limit_in_front_of_authentication_answers_500_not_unlimited() {
    let emu = emulator().await;
    let client = client(&emu);
    let org = organization(&client).await;
    let key = key(&client, &org, &[]).await;
    // Wrong order: the rate limit is the outer layer.
    let router = axum::Router::new()
        .route("/posts", axum::routing::get(|| async { "posts" }))
        .layer(ApiKeyAuth::new(client))
        .layer(RateLimit::per_key(Quota::per_second(10)));
    let app = App::serve(router).await;
    let response = app.get(Some(&key)).await;
    assert_eq!(response.status(), 500);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "server_error");
    trace_capture::assert_no_secret_logged();
}
