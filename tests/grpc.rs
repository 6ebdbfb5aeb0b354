//! gRPC end to end: tonic clients over real HTTP/2 against tonic services
//! behind keygate, validating through the real client against the
//! in-process emulator. Every case runs on both servers users mount:
//! tonic alone (`Server::builder().layer(gate)`) and REST + gRPC on one
//! axum router and port.
//!
//! `cargo test --features tonic,ratelimit,emulator --test grpc`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::get;
use keygate::emulator::{Emulator, Fault};
use keygate::grpc::{GrpcGate, GrpcRejection, RequestPrincipal};
use keygate::ratelimit::{Quota, RateLimit};
use keygate::{ApiKeyAuth, ApiKeyPrincipal, Client, RequirePermission};
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};
use tonic_types::StatusExt;

#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod echo {
    include!("../examples/proto/keygate.echo.v1.rs");
}
use echo::echo_client::EchoClient;
use echo::echo_server::{Echo, EchoServer};
use echo::{CountReply, CountRequest, SayReply, SayRequest};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How many calls a key may make a minute: the rate-limit case spends them.
const CALLS_PER_MINUTE: u32 = 4;

/// The service: it answers with the principal it finds, and counts the
/// calls that reach it.
#[derive(Clone, Default)]
struct EchoService {
    reached: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl Echo for EchoService {
    async fn say(&self, request: Request<SayRequest>) -> Result<Response<SayReply>, Status> {
        self.reached.fetch_add(1, Ordering::SeqCst);
        let principal = request.principal()?;
        Ok(Response::new(SayReply {
            message: request.get_ref().message.clone(),
            key_id: principal.id().to_string(),
            organization_id: principal.organization_id().to_string(),
        }))
    }

    type CountStream = futures_util::stream::Iter<std::vec::IntoIter<Result<CountReply, Status>>>;

    async fn count(
        &self,
        request: Request<CountRequest>,
    ) -> Result<Response<Self::CountStream>, Status> {
        self.reached.fetch_add(1, Ordering::SeqCst);
        let key_id = request.principal()?.id().to_string();
        let replies: Vec<_> = (1..=request.get_ref().up_to)
            .map(|n| {
                Ok(CountReply {
                    n,
                    key_id: key_id.clone(),
                })
            })
            .collect();
        Ok(Response::new(futures_util::stream::iter(replies)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mount {
    /// tonic's own server, the gate as its layer.
    TonicAlone,
    /// tonic's routes merged into an axum router beside REST routes.
    RestAndGrpc,
}

/// One emulator, one server in front of it, a channel to the server.
struct Fixture {
    emulator: Emulator,
    echo: EchoService,
    channel: Channel,
    url: String,
}

async fn whoami(principal: ApiKeyPrincipal) -> String {
    principal.id().to_string()
}

impl Fixture {
    async fn start(mount: Mount) -> Result<Self, BoxError> {
        let emulator = Emulator::builder()
            .organization_permissions(["echo:say", "echo:count", "posts:read"])
            .start()
            .await?;
        let client = Client::builder()
            .secret(emulator.secret().clone())
            .base_url(emulator.base_url())
            .max_retries(0)
            .build()?;
        let echo = EchoService::default();
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<EchoServer<EchoService>>().await;
        let limit = RateLimit::builder(Quota::per_minute(CALLS_PER_MINUTE))
            .headers_on_success(false)
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        match mount {
            Mount::TonicAlone => {
                let auth = ApiKeyAuth::builder(client)
                    .on_rejection(GrpcRejection)
                    .build();
                let router = Server::builder()
                    .layer(rules(GrpcGate::new(auth)))
                    .layer(limit.grpc())
                    .add_service(health_service)
                    .add_service(EchoServer::new(echo.clone()));
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                tokio::spawn(router.serve_with_incoming(incoming));
            }
            Mount::RestAndGrpc => {
                let grpc = tonic::service::Routes::new(health_service)
                    .add_service(EchoServer::new(echo.clone()))
                    .into_axum_router();
                let app = axum::Router::new()
                    .route("/whoami", get(whoami))
                    .route(
                        "/posts",
                        get(|| async { "posts" }).route_layer(RequirePermission("posts:read")),
                    )
                    .merge(grpc)
                    .layer(limit)
                    .layer(rules(GrpcGate::new(ApiKeyAuth::new(client))));
                tokio::spawn(axum::serve(listener, app).into_future());
            }
        }
        let channel = Channel::from_shared(url.clone())?.connect().await?;
        Ok(Self {
            emulator,
            echo,
            channel,
            url,
        })
    }

    /// A fresh organization key with `permissions`: (id, value).
    fn key(&self, permissions: &[&str]) -> Result<(String, String), BoxError> {
        let org = self.emulator.create_organization("Acme")?;
        let key = self
            .emulator
            .create_organization_key(&org.id, "grpc", permissions)?;
        Ok((key.id.to_string(), key.value.expose_secret().to_owned()))
    }

    async fn say(&self, key: Option<&str>) -> Result<SayReply, Status> {
        let mut request = Request::new(SayRequest {
            message: "hello".into(),
        });
        authorize(&mut request, key);
        EchoClient::new(self.channel.clone())
            .say(request)
            .await
            .map(Response::into_inner)
    }

    async fn count(&self, key: Option<&str>, up_to: u32) -> Result<Vec<CountReply>, Status> {
        let mut request = Request::new(CountRequest { up_to });
        authorize(&mut request, key);
        let mut stream = EchoClient::new(self.channel.clone())
            .count(request)
            .await?
            .into_inner();
        let mut replies = Vec::new();
        while let Some(reply) = stream.message().await? {
            replies.push(reply);
        }
        Ok(replies)
    }

    fn reached(&self) -> usize {
        self.echo.reached.load(Ordering::SeqCst)
    }
}

/// The same rules on both servers: each method's permission, health checks
/// open, every other method closed.
fn rules<V, R>(gate: GrpcGate<V, R>) -> GrpcGate<V, R> {
    gate.open("grpc.health.v1.Health")
        .open("grpc.reflection.v1.ServerReflection")
        .require("/keygate.echo.v1.Echo/Say", RequirePermission("echo:say"))
        .require(
            "/keygate.echo.v1.Echo/Count",
            RequirePermission("echo:count"),
        )
        .deny_undeclared()
}

fn authorize<T>(request: &mut Request<T>, key: Option<&str>) {
    if let Some(key) = key {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {key}").parse().expect("an ASCII key"),
        );
    }
}

const MOUNTS: [Mount; 2] = [Mount::TonicAlone, Mount::RestAndGrpc];

#[tokio::test]
async fn a_valid_key_reaches_the_handler_with_its_principal() -> Result<(), BoxError> {
    for mount in MOUNTS {
        let app = Fixture::start(mount).await?;
        let (id, key) = app.key(&["echo:say", "echo:count"])?;
        let reply = app.say(Some(&key)).await?;
        assert_eq!(
            (reply.message.as_str(), reply.key_id.as_str()),
            ("hello", id.as_str()),
            "{mount:?}"
        );
        assert!(reply.organization_id.starts_with("org_"));
        let replies = app.count(Some(&key), 3).await?;
        let numbers: Vec<u32> = replies.iter().map(|r| r.n).collect();
        assert_eq!(numbers, [1, 2, 3], "{mount:?}");
        assert!(replies.iter().all(|r| r.key_id == id));
        assert_eq!(app.reached(), 2);
    }
    Ok(())
}

#[tokio::test]
async fn no_key_and_an_unknown_key_are_unauthenticated_and_never_reach_the_handler()
-> Result<(), BoxError> {
    for mount in MOUNTS {
        let app = Fixture::start(mount).await?;
        for key in [None, Some("sk_test_unknown0000000000000000")] {
            let status = app.say(key).await.unwrap_err();
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "{mount:?} {key:?}: {status:?}"
            );
            let status = app.count(key, 3).await.unwrap_err();
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "{mount:?} {key:?}: {status:?}"
            );
        }
        let status = app.say(None).await.unwrap_err();
        assert!(
            status.message().contains("no API key was sent"),
            "{}",
            status.message()
        );
        assert_eq!(
            app.reached(),
            0,
            "{mount:?}: a refused call reached the handler"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_missing_permission_is_permission_denied_unary_and_streaming() -> Result<(), BoxError> {
    for mount in MOUNTS {
        let app = Fixture::start(mount).await?;
        let (_, sayer) = app.key(&["echo:say"])?;
        app.say(Some(&sayer)).await?;
        let status = app.count(Some(&sayer), 3).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "{mount:?}: {status:?}"
        );
        assert!(
            status.message().contains("echo:count"),
            "{}",
            status.message()
        );
        assert_eq!(
            app.reached(),
            1,
            "{mount:?}: the refused stream reached the handler"
        );
    }
    Ok(())
}

#[tokio::test]
async fn an_undeclared_method_is_denied() -> Result<(), BoxError> {
    for mount in MOUNTS {
        let app = Fixture::start(mount).await?;
        let (_, key) = app.key(&["echo:say", "echo:count"])?;
        // A method the rules do not name, called through the raw client.
        let mut grpc = tonic::client::Grpc::new(app.channel.clone());
        grpc.ready().await?;
        let mut request = Request::new(SayRequest::default());
        authorize(&mut request, Some(&key));
        let status = grpc
            .unary::<SayRequest, SayReply, _>(
                request,
                http::uri::PathAndQuery::from_static("/keygate.echo.v1.Echo/Shout"),
                tonic_prost::ProstCodec::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "{mount:?}: {status:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_key_service_down_is_unavailable_with_retry_info() -> Result<(), BoxError> {
    for mount in MOUNTS {
        let app = Fixture::start(mount).await?;
        let (_, key) = app.key(&["echo:say", "echo:count"])?;
        app.emulator.inject_fault(
            Fault::new("POST", "/api_keys/validations")
                .status(500)
                .times(None),
        );
        let status = app.say(Some(&key)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{mount:?}: {status:?}");
        let retry = status
            .get_details_retry_info()
            .expect("RetryInfo in the details");
        assert_eq!(
            retry.retry_delay,
            Some(keygate::upstream::DEFAULT_RETRY_AFTER)
        );
        assert_eq!(
            status.metadata().get("grpc-retry-pushback-ms").unwrap(),
            "5000"
        );
        let status = app.count(Some(&key), 3).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{mount:?}: {status:?}");
        assert_eq!(app.reached(), 0);
        app.emulator.clear_faults();
        app.say(Some(&key)).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_rate_limited_key_is_resource_exhausted_with_retry_info() -> Result<(), BoxError> {
    for mount in MOUNTS {
        let app = Fixture::start(mount).await?;
        let (_, key) = app.key(&["echo:say", "echo:count"])?;
        for _ in 0..CALLS_PER_MINUTE {
            app.say(Some(&key)).await?;
        }
        let status = app.say(Some(&key)).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::ResourceExhausted,
            "{mount:?}: {status:?}"
        );
        let retry = status
            .get_details_retry_info()
            .expect("RetryInfo in the details");
        let delay = retry.retry_delay.unwrap();
        assert!(
            delay > Duration::ZERO && delay <= Duration::from_secs(15),
            "{delay:?}"
        );
        assert!(status.metadata().get("grpc-retry-pushback-ms").is_some());
        assert!(status.metadata().get("ratelimit-policy").is_some());
        let status = app.count(Some(&key), 3).await.unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{mount:?}");
        assert_eq!(app.reached(), CALLS_PER_MINUTE as usize, "{mount:?}");
        // Another key has its own budget.
        let (_, other) = app.key(&["echo:say"])?;
        app.say(Some(&other)).await?;
    }
    Ok(())
}

#[tokio::test]
async fn health_checks_are_open() -> Result<(), BoxError> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    for mount in MOUNTS {
        let app = Fixture::start(mount).await?;
        let reply = HealthClient::new(app.channel.clone())
            .check(HealthCheckRequest {
                service: "keygate.echo.v1.Echo".into(),
            })
            .await?
            .into_inner();
        assert_eq!(reply.status(), ServingStatus::Serving, "{mount:?}");
        assert_eq!(
            app.emulator.request_count("POST", "/api_keys/validations"),
            0
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_refusal_is_trailers_only() -> Result<(), BoxError> {
    use http_body_util::BodyExt;
    for mount in MOUNTS {
        let app = Fixture::start(mount).await?;
        let http2 =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .http2_only(true)
                .build_http::<http_body_util::Empty<axum::body::Bytes>>();
        let request = http::Request::post(format!("{}/keygate.echo.v1.Echo/Say", app.url))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(http_body_util::Empty::new())?;
        let response = http2.request(request).await?;
        assert_eq!(response.status(), 200, "{mount:?}");
        assert_eq!(response.headers()["content-type"], "application/grpc");
        assert_eq!(response.headers()["grpc-status"], "16", "{mount:?}");
        let body = response.into_body().collect().await?;
        assert!(
            body.trailers().is_none(),
            "{mount:?}: the status came in trailers"
        );
        assert!(body.to_bytes().is_empty());
    }
    Ok(())
}

#[tokio::test]
async fn rest_beside_grpc_keeps_rfc_6750() -> Result<(), BoxError> {
    let app = Fixture::start(Mount::RestAndGrpc).await?;
    let (id, key) = app.key(&["echo:say"])?;
    let http = reqwest::Client::new();
    let response = http.get(format!("{}/whoami", app.url)).send().await?;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="api""#
    );
    let response = http
        .get(format!("{}/whoami", app.url))
        .bearer_auth(&key)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await?, id);
    let response = http
        .get(format!("{}/posts", app.url))
        .bearer_auth(&key)
        .send()
        .await?;
    assert_eq!(response.status(), 403);
    // One cache for both: the gRPC call after the REST ones validates nothing.
    app.say(Some(&key)).await?;
    assert_eq!(
        app.emulator.request_count("POST", "/api_keys/validations"),
        1
    );
    Ok(())
}
