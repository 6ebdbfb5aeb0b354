//! The four ways fleet mode once broke its revocation bound, each replayed
//! as it was found: the replica that receives the invalidation, a call that
//! began while a replica was deaf, a late write after Redis restarted empty,
//! and an invalidation made while its replica could not reach Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keygate_auth::{ApiKeyAuth, KeyValidator, validator_fn};
use keygate_emulator::Emulator;
use keygate_redis::RedisTier;
use keygate_test_support::redis_server::RedisServer;
use keygate_types::SecretString;
use reqwest::StatusCode;
use tokio::sync::Notify;

use crate::support::*;

/// A validator that answers through the key service, holding its first
/// answer until released: a call in flight across whatever the test does.
fn held_validator(emu: &Emulator) -> (impl KeyValidator + 'static, Arc<AtomicBool>, Arc<Notify>) {
    let (client, asked, release) = (
        client(emu),
        Arc::new(AtomicBool::new(false)),
        Arc::new(Notify::new()),
    );
    let validator = {
        let (asked, release) = (Arc::clone(&asked), Arc::clone(&release));
        validator_fn(move |key: SecretString| {
            let (client, asked, release) =
                (client.clone(), Arc::clone(&asked), Arc::clone(&release));
            async move {
                let verdict = client.validate(key.expose_secret()).await;
                if !asked.swap(true, Ordering::SeqCst) {
                    release.notified().await;
                }
                verdict
            }
        })
    };
    (validator, asked, release)
}

/// Serves `/whoami` behind `auth`; returns the route's URL.
async fn serve(auth: ApiKeyAuth<impl KeyValidator + 'static>) -> String {
    let router = axum::Router::new()
        .route("/whoami", axum::routing::get(|| async { "ok" }))
        .route_layer(auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/whoami", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

async fn status(http: &reqwest::Client, url: &str, key: &str) -> StatusCode {
    http.get(url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
}

/// Polls `url` with `key` until refused; panics if it is still accepted
/// `bound` after `since`.
async fn refused_within(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    since: Instant,
    bound: Duration,
) {
    loop {
        let sent = Instant::now();
        match status(http, url, key).await {
            StatusCode::UNAUTHORIZED => return,
            StatusCode::OK => assert!(
                sent.duration_since(since) <= bound,
                "a revoked key was accepted {} ms after its invalidation (bound {} ms)",
                sent.duration_since(since).as_millis(),
                bound.as_millis()
            ),
            other => panic!("unexpected {other}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn script_flush(redis: &RedisServer) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// Item 1: the replica that makes the invalidation forgets the key and must
/// not read it back from Redis while its invalidation is on its way there
/// (wide open when Redis has no scripts loaded).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_replica_that_invalidates_refuses_the_key_once_it_returns() {
    let (emu, redis) = (emulator().await, RedisServer::start());
    let keys = Keys::new(&emu);
    let fleet = replicas(&emu, &redis, 2, &Options::fleet()).await;
    until_listening(&fleet).await;
    let receiver = Arc::new(fleet.into_iter().next().unwrap());
    let http = http();
    let late = Arc::new(AtomicU64::new(0));
    for _ in 0..10 {
        let (key, value) = keys.mint(&emu);
        assert_eq!(receiver.get(&http, &value).await, StatusCode::OK);
        // The verdict is now in Redis too: once the receiver forgets its
        // own, its next miss reads the shared one.
        script_flush(&redis).await;
        emu.delete_api_key(key.id.as_str()).unwrap();
        let acknowledged: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let hammer: Vec<_> = (0..16)
            .map(|_| {
                let (receiver, http, value) = (Arc::clone(&receiver), http.clone(), value.clone());
                let (stop, late, acknowledged) = (
                    Arc::clone(&stop),
                    Arc::clone(&late),
                    Arc::clone(&acknowledged),
                );
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let sent = Instant::now();
                        let accepted = receiver.get(&http, &value).await == StatusCode::OK;
                        let after_ack = acknowledged.lock().unwrap().is_some_and(|at| sent > at);
                        if accepted && after_ack {
                            late.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let _ = receiver.auth.cache().invalidate_id(&key.id).await;
        *acknowledged.lock().unwrap() = Some(Instant::now());
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::SeqCst);
        for task in hammer {
            task.await.unwrap();
        }
        assert_eq!(receiver.get(&http, &value).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        late.load(Ordering::SeqCst),
        0,
        "requests sent after the invalidation returned were accepted on the replica that made it"
    );
}

/// Item 2: a call that began while its replica could not hear the fleet,
/// answered after it hears again, must not be kept past the bound when the
/// key was revoked meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_began_while_deaf_is_not_kept_past_the_bound() {
    let (emu, redis) = (emulator().await, RedisServer::start());
    let keys = Keys::new(&emu);
    let (key, value) = keys.mint(&emu);
    let proxy = Proxy::start(redis.port()).await;
    let (validator, asked, release) = held_validator(&emu);
    let tier = RedisTier::builder(proxy.url())
        .prefix("fleet-test")
        .secret(FLEET_SECRET)
        .build()
        .unwrap();
    let a = ApiKeyAuth::builder(validator)
        .positive_ttl(Duration::from_secs(60))
        .shared_tier(tier)
        .build();
    let url = serve(a).await;
    let b = Replica::start(&emu, &redis.url(), &Options::fleet()).await;
    until_listening(std::slice::from_ref(&b)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A is cut off from Redis; its call for the key begins and is held.
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let http = http();
    let first = tokio::spawn({
        let (http, url, value) = (http.clone(), url.clone(), value.clone());
        async move { status(&http, &url, &value).await }
    });
    until(Duration::from_secs(10), || asked.load(Ordering::SeqCst)).await;
    // Revoked while A is deaf: B's invalidation reaches Redis, not A.
    emu.delete_api_key(key.id.as_str()).unwrap();
    let _ = b.auth.cache().invalidate_id(&key.id).await;
    let revoked = Instant::now();
    // A hears the fleet again, then its call answers "valid".
    proxy.restore();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    release.notify_one();
    let _ = first.await.unwrap();
    refused_within(&http, &url, &value, revoked, Duration::from_secs(3)).await;
}

/// Item 3: a call that began before Redis restarted empty must not write its
/// answer after the restart: a revoked key would be valid for every replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_began_before_redis_restarted_empty_is_refused() {
    let (emu, mut redis) = (emulator().await, RedisServer::start());
    let keys = Keys::new(&emu);
    let (key, value) = keys.mint(&emu);
    let (validator, asked, release) = held_validator(&emu);
    let tier = RedisTier::builder(redis.url())
        .prefix("fleet-test")
        .secret(FLEET_SECRET)
        .build()
        .unwrap();
    let a = ApiKeyAuth::builder(validator)
        .positive_ttl(Duration::from_secs(60))
        .shared_tier(tier)
        .build();
    let url = serve(a).await;
    let b = Replica::start(&emu, &redis.url(), &Options::fleet()).await;
    until_listening(std::slice::from_ref(&b)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let http = http();
    let first = tokio::spawn({
        let (http, url, value) = (http.clone(), url.clone(), value.clone());
        async move { status(&http, &url, &value).await }
    });
    until(Duration::from_secs(10), || asked.load(Ordering::SeqCst)).await;
    emu.delete_api_key(key.id.as_str()).unwrap();
    let _ = b.auth.cache().invalidate_id(&key.id).await;
    redis.restart();
    // A's connection to Redis comes back (other keys' requests reconnect it)
    // before its held call answers.
    for _ in 0..4 {
        let (_, other) = keys.mint(&emu);
        assert_eq!(status(&http, &url, &other).await, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    release.notify_one();
    let _ = first.await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A replica new to the key reads Redis first: it must find nothing.
    let c = Replica::start(&emu, &redis.url(), &Options::fleet()).await;
    assert_eq!(
        c.get(&http, &value).await,
        StatusCode::UNAUTHORIZED,
        "a verdict written after the restart brought the revoked key back"
    );
}

/// Item 4: an invalidation made on a replica that cannot reach Redis must
/// not let that replica read the old shared verdict back once Redis answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_that_could_not_reach_redis_keeps_the_key_refused_on_its_replica() {
    let (emu, redis) = (emulator().await, RedisServer::start());
    let keys = Keys::new(&emu);
    let proxy = Proxy::start(redis.port()).await;
    let a = Replica::start(&emu, &proxy.url(), &Options::fleet()).await;
    let b = Replica::start(&emu, &redis.url(), &Options::fleet()).await;
    until_listening(std::slice::from_ref(&a)).await;
    until_listening(std::slice::from_ref(&b)).await;
    let http = http();
    let (key, value) = keys.mint(&emu);
    assert_eq!(b.get(&http, &value).await, StatusCode::OK);
    assert_eq!(a.get(&http, &value).await, StatusCode::OK);

    proxy.cut();
    emu.delete_api_key(key.id.as_str()).unwrap();
    let logged = a.auth.cache().invalidate_id(&key.id).await;
    assert!(
        logged.is_err(),
        "the caller is told the fleet has not heard of it"
    );
    let invalidated = Instant::now();
    proxy.restore();
    // A leaves a failing Redis alone for a second, then uses it again.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let healed = Instant::now();
    while healed.elapsed() < Duration::from_secs(3) {
        assert_eq!(
            a.get(&http, &value).await,
            StatusCode::UNAUTHORIZED,
            "accepted {} ms after the invalidation, once redis answered again",
            invalidated.elapsed().as_millis()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
