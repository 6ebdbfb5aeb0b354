//! `keygate serve`'s front door: the key console at `/` (behind a login with
//! the environment secret), and every other request passed unchanged to the
//! emulator, which listens on a private loopback port. So the WorkOS routes,
//! `/health` and `/_emulator/…` answer exactly as before on the one port.

use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, HeaderName, TRANSFER_ENCODING};
use keygate_console::local::LocalConsole;
use keygate_emulator::Emulator;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The largest body passed on; the emulator applies its own, smaller cap.
const BODY_LIMIT: usize = 1024 * 1024;

/// Where the emulator itself listens: loopback, a free port.
pub(crate) const EMULATOR_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// The running front server.
#[derive(Debug)]
pub(crate) struct Front {
    pub(crate) url: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Why the front could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrontError {
    #[error("could not listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not build the console's client: {0}")]
    Client(#[from] keygate_client::Error),
    #[error("could not build the pass-through client: {0}")]
    Http(#[from] reqwest::Error),
}

#[derive(Clone)]
struct Upstream {
    http: reqwest::Client,
    base_url: String,
}

/// The front's socket, bound before the emulator starts so that the
/// emulator's tokens can name the front's address as their issuer.
#[derive(Debug)]
pub(crate) struct FrontListener {
    listener: TcpListener,
    /// `http://` and the address bound.
    pub(crate) url: String,
}

/// Listens on `addr`.
pub(crate) async fn bind(addr: SocketAddr) -> Result<FrontListener, FrontError> {
    let listen = |source| FrontError::Listen { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(listen)?;
    let local = listener.local_addr().map_err(listen)?;
    Ok(FrontListener {
        listener,
        url: format!("http://{local}"),
    })
}

/// Serves the console and the pass-through on `front` (from [`bind`]).
pub(crate) async fn start(
    emu: &Emulator,
    front: FrontListener,
    grantable: Vec<String>,
) -> Result<Front, FrontError> {
    let FrontListener { listener, url } = front;
    let client = keygate_client::Client::builder()
        .secret(emu.secret().clone())
        .base_url(emu.base_url())
        .build()?;
    let upstream = Upstream {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        base_url: emu.base_url().to_owned(),
    };
    let app: Router = LocalConsole::new(client, emu.secret().clone())
        .grantable(grantable)
        .router()
        .fallback(move |request: Request| pass_through(upstream.clone(), request));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the console server stopped with an error");
        }
    });
    Ok(Front {
        url,
        stop: Some(stop),
        task,
    })
}

impl Front {
    /// Stops accepting and waits for requests in flight.
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

/// Headers that belong to one connection, not to the request.
fn hop_by_hop(name: &HeaderName) -> bool {
    name == CONNECTION
        || name == TRANSFER_ENCODING
        || name == CONTENT_LENGTH
        || name == HOST
        || name.as_str() == "keep-alive"
        || name.as_str() == "upgrade"
}

async fn pass_through(upstream: Upstream, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut forwarded = upstream
        .http
        .request(parts.method, format!("{}{path}", upstream.base_url))
        .body(body);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            forwarded = forwarded.header(name, value);
        }
    }
    let answer = match forwarded.send().await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::error!(error = %e, "the emulator did not answer the front server");
            return StatusCode::BAD_GATEWAY.into_response();
        }
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let Ok(bytes) = answer.bytes().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if !hop_by_hop(name) {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}
