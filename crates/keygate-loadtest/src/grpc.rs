//! gRPC (feature `tonic`): a unary call through keygate against the same
//! call without authentication, side by side in one run.
//!
//! Two tonic servers on loopback serve the same `keygate.echo.v1.Echo`
//! service (the example's, `examples/proto/echo.proto`): one bare, one
//! behind a [`GrpcGate`] whose `ApiKeyAuth` validates through the typed
//! client against the emulator, with the method's permission declared. The
//! driver is a tonic client: `concurrency` calls in a closed loop over
//! `connections` HTTP/2 connections, a warm-up, then a measured period; the
//! key's verdict is cached after its first call, so the keygate side
//! measures what a cache hit, the permission check and the rendering cost a
//! gRPC call. Servers and driver share this process (and its runtime): the
//! figures compare the two sides of one run, not a server alone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use keygate_auth::grpc::{GrpcGate, GrpcRejection};
use keygate_auth::{ApiKeyAuth, RequirePermission};
use keygate_emulator::Emulator;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

use crate::Latencies;
use crate::compare::Tally;
use crate::drive::Run;

#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]
mod echo {
    include!("../../../examples/proto/keygate.echo.v1.rs");
}
use echo::echo_client::EchoClient;
use echo::echo_server::{Echo, EchoServer};
use echo::{CountReply, CountRequest, SayReply, SayRequest};

/// The permission the keygate side's method requires.
pub const PERMISSION: &str = "echo:say";

/// The unary call both sides answer.
pub const METHOD: &str = "/keygate.echo.v1.Echo/Say";

/// Why the servers could not start or a call failed to connect.
pub type GrpcError = Box<dyn std::error::Error + Send + Sync>;

/// Echoes the message; says which key called when there is one.
#[derive(Debug, Clone, Copy)]
struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn say(&self, request: Request<SayRequest>) -> Result<Response<SayReply>, Status> {
        let key_id = request
            .extensions()
            .get::<keygate_auth::ApiKeyPrincipal>()
            .map(|principal| principal.id().to_string())
            .unwrap_or_default();
        Ok(Response::new(SayReply {
            message: request.into_inner().message,
            key_id,
            organization_id: String::new(),
        }))
    }

    type CountStream = futures_util::stream::Empty<Result<CountReply, Status>>;

    async fn count(
        &self,
        _request: Request<CountRequest>,
    ) -> Result<Response<Self::CountStream>, Status> {
        Ok(Response::new(futures_util::stream::empty()))
    }
}

/// The two servers, the emulator behind the keygate one, and a key that
/// holds [`PERMISSION`]. Dropping it stops the emulator; the servers stop
/// with the runtime.
#[derive(Debug)]
pub struct GrpcServers {
    /// The bare service.
    pub bare: SocketAddr,
    /// The service behind keygate.
    pub keygate: SocketAddr,
    /// The key the driver sends (to both: the bare side ignores it).
    pub key: String,
    _emulator: Emulator,
}

impl GrpcServers {
    /// Starts the emulator and both servers on loopback.
    pub async fn start() -> Result<Self, GrpcError> {
        let emulator = Emulator::builder()
            .organization_permissions([PERMISSION])
            .start()
            .await?;
        let org = emulator.create_organization("Load")?;
        let key = emulator.create_organization_key(&org.id, "grpc load", &[PERMISSION])?;
        let client = keygate_client::Client::builder()
            .base_url(emulator.base_url())
            .secret(emulator.secret().clone())
            .build()?;
        let auth = ApiKeyAuth::builder(client)
            .on_rejection(GrpcRejection)
            .build();
        let gate = GrpcGate::new(auth)
            .require(METHOD, RequirePermission(PERMISSION))
            .deny_undeclared();

        let bare_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let bare = bare_listener.local_addr()?;
        let bare_router = Server::builder().add_service(EchoServer::new(EchoService));
        tokio::spawn(
            bare_router
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(bare_listener)),
        );

        let keygate_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let keygate = keygate_listener.local_addr()?;
        let keygate_router = Server::builder()
            .layer(gate)
            .add_service(EchoServer::new(EchoService));
        tokio::spawn(keygate_router.serve_with_incoming(
            tonic::transport::server::TcpIncoming::from(keygate_listener),
        ));
        Ok(Self {
            bare,
            keygate,
            key: key.value.expose_secret().to_owned(),
            _emulator: emulator,
        })
    }
}

/// How hard and how long to drive one side.
#[derive(Debug, Clone, Copy)]
pub struct GrpcLoad {
    /// Calls in flight at once.
    pub concurrency: usize,
    /// HTTP/2 connections they share.
    pub connections: usize,
    /// Unmeasured warm-up.
    pub warmup: Duration,
    /// Measured period.
    pub duration: Duration,
}

/// Drives unary `Say` calls at `addr` with `key`: `ok` counts `OK` answers,
/// `failed` every other status.
pub async fn drive(addr: SocketAddr, key: &str, load: GrpcLoad) -> Result<Run, GrpcError> {
    let mut channels = Vec::with_capacity(load.connections.max(1));
    for _ in 0..load.connections.max(1) {
        channels.push(
            Channel::from_shared(format!("http://{addr}"))?
                .connect()
                .await?,
        );
    }
    let authorization: tonic::metadata::MetadataValue<tonic::metadata::Ascii> =
        format!("Bearer {key}").parse()?;
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::with_capacity(load.concurrency);
    for n in 0..load.concurrency.max(1) {
        let mut client = EchoClient::new(channels[n % channels.len()].clone());
        let authorization = authorization.clone();
        let (measuring, stop) = (Arc::clone(&measuring), Arc::clone(&stop));
        workers.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut answered) = (0u64, 0u64, 0u64);
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let mut request = Request::new(SayRequest {
                    message: "load".into(),
                });
                request
                    .metadata_mut()
                    .insert("authorization", authorization.clone());
                let started = Instant::now();
                let result = client.say(request).await;
                let took = started.elapsed();
                answered += 1;
                if measuring.load(Ordering::Relaxed) {
                    if result.is_ok() {
                        ok += 1;
                        latencies.push(took);
                    } else {
                        failed += 1;
                    }
                }
            }
            (ok, failed, answered, latencies)
        }));
    }
    tokio::time::sleep(load.warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(load.duration).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut run = Run {
        ok: 0,
        failed: 0,
        elapsed,
        latencies: Latencies::new(Vec::new()),
        answered: 0,
        server_cpu: None,
    };
    let mut samples = Vec::new();
    for worker in workers {
        let (ok, failed, answered, latencies) = worker.await?;
        run.ok += ok;
        run.failed += failed;
        run.answered += answered;
        samples.extend(latencies);
    }
    run.latencies = Latencies::new(samples);
    Ok(run)
}

/// Drives the bare side and the keygate side in turn for `rounds` rounds
/// (the order alternating), after one call that caches the key's verdict:
/// `[bare, keygate]`.
pub async fn compare(
    servers: &GrpcServers,
    load: GrpcLoad,
    rounds: usize,
) -> Result<[Tally; 2], GrpcError> {
    let mut first = EchoClient::new(
        Channel::from_shared(format!("http://{}", servers.keygate))?
            .connect()
            .await?,
    );
    let mut request = Request::new(SayRequest::default());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {}", servers.key).parse()?);
    let reply = first.say(request).await?.into_inner();
    if reply.key_id.is_empty() {
        return Err("the keygate side's handler saw no principal".into());
    }
    let mut bare = Tally {
        label: "gRPC unary, no auth".to_owned(),
        runs: Vec::new(),
    };
    let mut keygate = Tally {
        label: "gRPC unary, keygate".to_owned(),
        runs: Vec::new(),
    };
    for round in 0..rounds {
        let sides: [(&mut Tally, SocketAddr); 2] = if round % 2 == 0 {
            [(&mut bare, servers.bare), (&mut keygate, servers.keygate)]
        } else {
            [(&mut keygate, servers.keygate), (&mut bare, servers.bare)]
        };
        for (tally, addr) in sides {
            tally.runs.push(drive(addr, &servers.key, load).await?);
        }
    }
    Ok([bare, keygate])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_sides_answer_ok_and_a_call_without_a_key_is_refused() {
        let servers = GrpcServers::start().await.unwrap();
        let load = GrpcLoad {
            concurrency: 4,
            connections: 1,
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(200),
        };
        let [bare, keygate] = compare(&servers, load, 1).await.unwrap();
        for tally in [&bare, &keygate] {
            assert!(tally.runs[0].ok > 0, "{}", tally.label);
            assert_eq!(tally.failed(), 0, "{}", tally.label);
        }
        let refused = drive(servers.keygate, "sk_test_unknown000000000000", load)
            .await
            .unwrap();
        assert_eq!(refused.ok, 0);
        assert!(refused.failed > 0);
    }
}
