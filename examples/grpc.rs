//! keygate in front of tonic: the same layer, permissions per gRPC method,
//! rate limits, and REST beside gRPC on one port.
//!
//! ```sh
//! cargo run --example grpc --features tonic,ratelimit,emulator
//! ```
//!
//! It starts the emulator in-process, mints three keys, and serves the
//! `keygate.echo.v1.Echo` service of `examples/proto/echo.proto` twice:
//!
//! - **tonic alone**: `Server::builder().layer(gate).layer(limit.grpc())`,
//!   the layer built with `GrpcRejection`;
//! - **REST and gRPC on one port**: tonic's `Routes` merged into an axum
//!   router beside `GET /whoami`, behind the same kind of gate with the
//!   default RFC 6750 rendering (gRPC calls are answered in gRPC, REST
//!   requests in HTTP).
//!
//! Then it calls both with a tonic client and prints each status. The
//! generated code (`examples/proto/keygate.echo.v1.rs`) is committed, so
//! building needs no `protoc`; it was made by `tonic-prost-build` 0.14 on a
//! `protox` 0.10 descriptor set, and can be made again the same way
//! (`tonic_prost_build::configure().build_transport(false).compile_fds(protox::compile(["echo.proto"], ["."])?)`).

use std::time::Duration;

use axum::routing::get;
use keygate::emulator::Emulator;
use keygate::grpc::{GrpcGate, GrpcRejection, RequestPrincipal};
use keygate::ratelimit::{Quota, RateLimit};
use keygate::{ApiKeyAuth, ApiKeyPrincipal, Client, RequirePermission};
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};

#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod echo {
    include!("proto/keygate.echo.v1.rs");
}
use echo::echo_client::EchoClient;
use echo::echo_server::{Echo, EchoServer};
use echo::{CountReply, CountRequest, SayReply, SayRequest};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ----- the service ---------------------------------------------------------

/// Echoes, and says which key called: the principal is in the request's
/// extensions, read with `RequestPrincipal`.
#[derive(Clone, Copy, Default)]
struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn say(&self, request: Request<SayRequest>) -> Result<Response<SayReply>, Status> {
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

// ----- the two servers -----------------------------------------------------

/// Declared once: each method's permission, the health service open, and
/// any method not named here closed.
fn rules<V, R>(gate: GrpcGate<V, R>) -> GrpcGate<V, R> {
    gate.open("grpc.health.v1.Health")
        .require("/keygate.echo.v1.Echo/Say", RequirePermission("echo:say"))
        .require(
            "/keygate.echo.v1.Echo/Count",
            RequirePermission("echo:count"),
        )
        .deny_undeclared()
}

/// Five calls a minute per key: the tour reaches the limit.
fn limit() -> RateLimit {
    RateLimit::per_key(Quota::per_minute(5))
}

/// tonic alone; answers on `listener` until the process ends.
async fn serve_tonic(client: Client, listener: tokio::net::TcpListener) {
    // tonic's body cannot hold the default JSON refusal: render in gRPC.
    let auth = ApiKeyAuth::builder(client)
        .on_rejection(GrpcRejection)
        .build();
    let (_health, health_service) = tonic_health::server::health_reporter();
    let router = Server::builder()
        .layer(rules(GrpcGate::new(auth)))
        .layer(limit().grpc())
        .add_service(health_service)
        .add_service(EchoServer::new(EchoService));
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    if let Err(error) = router.serve_with_incoming(incoming).await {
        eprintln!("the tonic server stopped: {error}");
    }
}

async fn whoami(principal: ApiKeyPrincipal) -> String {
    principal.id().to_string()
}

/// REST and gRPC on one axum router; answers on `listener`.
async fn serve_rest_and_grpc(client: Client, listener: tokio::net::TcpListener) {
    let (_health, health_service) = tonic_health::server::health_reporter();
    let grpc = tonic::service::Routes::new(health_service)
        .add_service(EchoServer::new(EchoService))
        .into_axum_router();
    let app = axum::Router::new()
        .route("/whoami", get(whoami))
        .merge(grpc)
        .layer(limit())
        .layer(rules(GrpcGate::new(ApiKeyAuth::new(client))));
    if let Err(error) = axum::serve(listener, app).await {
        eprintln!("the REST + gRPC server stopped: {error}");
    }
}

// ----- the tour --------------------------------------------------------------

/// Which key a call sends.
#[derive(Clone, Copy, Debug)]
enum Caller {
    None,
    Unknown,
    Sayer,
    Counter,
}

/// A call of the tour and the code it gets.
struct Step {
    caller: Caller,
    method: &'static str,
    code: Code,
}

const TOUR: &[Step] = &[
    Step {
        caller: Caller::None,
        method: "Say",
        code: Code::Unauthenticated,
    },
    Step {
        caller: Caller::Unknown,
        method: "Say",
        code: Code::Unauthenticated,
    },
    Step {
        caller: Caller::Sayer,
        method: "Say",
        code: Code::Ok,
    },
    Step {
        caller: Caller::Sayer,
        method: "Count",
        code: Code::PermissionDenied,
    },
    Step {
        caller: Caller::Counter,
        method: "Count",
        code: Code::Ok,
    },
    Step {
        caller: Caller::None,
        method: "Health",
        code: Code::Ok,
    },
    // The sayer has spent 1 call of 5: the permission is checked before the
    // rate limit, so the refused Count spent nothing. Four more pass.
    Step {
        caller: Caller::Sayer,
        method: "Say",
        code: Code::Ok,
    },
    Step {
        caller: Caller::Sayer,
        method: "Say",
        code: Code::Ok,
    },
    Step {
        caller: Caller::Sayer,
        method: "Say",
        code: Code::Ok,
    },
    Step {
        caller: Caller::Sayer,
        method: "Say",
        code: Code::Ok,
    },
    Step {
        caller: Caller::Sayer,
        method: "Say",
        code: Code::ResourceExhausted,
    },
];

struct Keys {
    sayer: String,
    counter: String,
}

impl Keys {
    fn value(&self, caller: Caller) -> Option<&str> {
        match caller {
            Caller::None => None,
            Caller::Unknown => Some("sk_test_unknown0000000000000000"),
            Caller::Sayer => Some(&self.sayer),
            Caller::Counter => Some(&self.counter),
        }
    }
}

async fn call(channel: &Channel, step: &Step, keys: &Keys) -> Status {
    fn authorized<T>(message: T, key: Option<&str>) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(key) = key {
            let value = format!("Bearer {key}").parse().expect("an ASCII key");
            request.metadata_mut().insert("authorization", value);
        }
        request
    }
    let key = keys.value(step.caller);
    let mut echo = EchoClient::new(channel.clone());
    let result = match step.method {
        "Say" => echo
            .say(authorized(
                SayRequest {
                    message: "hi".into(),
                },
                key,
            ))
            .await
            .map(drop),
        "Count" => match echo.count(authorized(CountRequest { up_to: 3 }, key)).await {
            Ok(response) => {
                let mut stream = response.into_inner();
                let mut last = Ok(());
                while let Some(reply) = stream.message().await.transpose() {
                    last = reply.map(drop);
                }
                last
            }
            Err(status) => Err(status),
        },
        _ => tonic_health::pb::health_client::HealthClient::new(channel.clone())
            .check(authorized(
                tonic_health::pb::HealthCheckRequest::default(),
                key,
            ))
            .await
            .map(drop),
    };
    result.err().unwrap_or_else(|| Status::ok(""))
}

/// Starts the emulator and both servers, mints the keys, and runs the tour
/// on each server: `(server, step, status)` in order.
async fn tour() -> Result<Vec<(&'static str, &'static Step, Status)>, BoxError> {
    let emulator = Emulator::builder()
        .organization_permissions(["echo:say", "echo:count"])
        .start()
        .await?;
    let org = emulator.create_organization("Acme")?;
    let sayer = emulator.create_organization_key(&org.id, "sayer", &["echo:say"])?;
    let counter = emulator.create_organization_key(&org.id, "counter", &["echo:count"])?;
    let client = Client::builder()
        .secret(emulator.secret().clone())
        .base_url(emulator.base_url())
        .build()?;

    let mut results = Vec::new();
    for server in ["tonic alone", "REST + gRPC"] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        if server == "tonic alone" {
            tokio::spawn(serve_tonic(client.clone(), listener));
        } else {
            tokio::spawn(serve_rest_and_grpc(client.clone(), listener));
        }
        let channel = Channel::from_shared(url)?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await?;
        let keys = Keys {
            sayer: sayer.value.expose_secret().to_owned(),
            counter: counter.value.expose_secret().to_owned(),
        };
        for step in TOUR {
            results.push((server, step, call(&channel, step, &keys).await));
        }
    }
    drop(emulator);
    Ok(results)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    for (server, step, status) in tour().await? {
        let method = match step.method {
            "Health" => "/grpc.health.v1.Health/Check".to_owned(),
            method => format!("/keygate.echo.v1.Echo/{method}"),
        };
        let surprise = if status.code() == step.code {
            ""
        } else {
            " (the tour expected another code)"
        };
        println!(
            "{server:<12} {:<8} {method:<32} -> {:?} {}{surprise}",
            format!("{:?}", step.caller),
            status.code(),
            status.message()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tour gets the codes it states, on both servers.
    #[tokio::test]
    async fn each_call_of_the_tour_gets_its_code() -> Result<(), BoxError> {
        let results = tour().await?;
        assert_eq!(results.len(), 2 * TOUR.len());
        for (server, step, status) in results {
            assert_eq!(
                status.code(),
                step.code,
                "{server}: {:?} {}: {status:?}",
                step.caller,
                step.method
            );
        }
        Ok(())
    }
}
