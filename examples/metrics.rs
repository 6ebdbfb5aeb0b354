//! keygate's metrics on a Prometheus endpoint, with the embedded emulator as
//! the key service.
//!
//! ```sh
//! cargo run --example metrics --features metrics,emulator
//! curl -s http://127.0.0.1:9000/metrics | grep keygate_auth
//! ```
//!
//! keygate records through the `metrics` facade (feature `metrics`) and
//! ships no exporter: here `metrics-exporter-prometheus` is installed as the
//! recorder, serving `GET /metrics` on its own loopback port. It is installed
//! **before** the layer is built, so the metrics carry their descriptions.
//!
//! The example starts the emulator, seeds two keys, serves a small API
//! (`GET /me` for any key, `POST /posts` with `posts:write`), sends a few
//! requests itself so the counters have moved (accepted, 401 without a key,
//! 401 for an unknown key, 403 at the guard), and prints `curl` lines for
//! both ports.
//!
//! `KEYGATE_ADDR` (default `127.0.0.1:3000`) and `METRICS_ADDR` (default
//! `127.0.0.1:9000`) change the addresses.

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use keygate::emulator::Emulator;
use keygate::{ApiKeyAuth, ApiKeyPrincipal, Client, RequirePermission};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Buckets for the key service's latency, in seconds.
const LATENCY_BUCKETS: [f64; 8] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5];

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let app_addr = address("KEYGATE_ADDR", "127.0.0.1:3000")?;
    let metrics_addr = address("METRICS_ADDR", "127.0.0.1:9000")?;
    install_exporter(metrics_addr)?;

    let demo = Demo::start().await?;
    let listener = tokio::net::TcpListener::bind(app_addr)
        .await
        .map_err(|e| format!("cannot listen on {app_addr}: {e} (set KEYGATE_ADDR)"))?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(axum::serve(listener, demo.app.clone()).into_future());

    for (request, status) in demo.tour(&base).await? {
        println!("{request:<28} -> {status}");
    }
    println!();
    println!("curl -s http://{metrics_addr}/metrics | grep keygate_auth");
    println!(
        "curl -i -H 'Authorization: Bearer {}' {base}/me",
        demo.reader
    );
    println!("(Ctrl-C to stop)");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

fn address(variable: &str, default: &str) -> Result<SocketAddr, BoxError> {
    let value = std::env::var(variable).unwrap_or_else(|_| default.to_owned());
    Ok(value
        .parse()
        .map_err(|e| format!("{variable} must be host:port, such as {default}: {e}"))?)
}

/// Installs the Prometheus recorder, serving `GET /metrics` on `addr`
/// (on the current Tokio runtime).
fn install_exporter(addr: SocketAddr) -> Result<(), BoxError> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(
            Matcher::Full("keygate_auth_key_service_call_duration_seconds".to_owned()),
            &LATENCY_BUCKETS,
        )?
        .install()?;
    Ok(())
}

/// The emulator, the API behind keygate, and two keys of one organization.
struct Demo {
    app: Router,
    reader: String,
    writer: String,
    _emulator: Emulator,
}

async fn me(principal: ApiKeyPrincipal) -> String {
    format!("{} of {}\n", principal.name(), principal.organization_id())
}

impl Demo {
    async fn start() -> Result<Self, BoxError> {
        let emulator = Emulator::builder()
            .organization_permissions(["posts:read", "posts:write"])
            .start()
            .await?;
        let acme = emulator.create_organization("Acme")?;
        let reader = emulator.create_organization_key(&acme.id, "reader", &["posts:read"])?;
        let writer =
            emulator.create_organization_key(&acme.id, "writer", &["posts:read", "posts:write"])?;
        let client = Client::builder()
            .secret(emulator.secret().clone())
            .base_url(emulator.base_url())
            .build()?;
        let auth = ApiKeyAuth::builder(client)
            // Label at most 50 organizations; the rest are counted as `other`.
            .organization_metrics(50)
            .build();
        let app = Router::new()
            .route("/me", get(me))
            .route(
                "/posts",
                post(|| async { StatusCode::CREATED })
                    .route_layer(RequirePermission("posts:write")),
            )
            .layer(auth);
        Ok(Self {
            app,
            reader: reader.value.expose_secret().to_owned(),
            writer: writer.value.expose_secret().to_owned(),
            _emulator: emulator,
        })
    }

    /// A few requests, so that the counters have something to show.
    async fn tour(&self, base: &str) -> Result<Vec<(String, StatusCode)>, BoxError> {
        let http = reqwest::Client::new();
        let unknown = "sk_test_never_issued_0000000000000000";
        let requests = [
            ("GET /me (reader)", "GET", "/me", Some(self.reader.as_str())),
            ("GET /me (reader, again)", "GET", "/me", Some(&self.reader)),
            ("POST /posts (writer)", "POST", "/posts", Some(&self.writer)),
            ("POST /posts (reader)", "POST", "/posts", Some(&self.reader)),
            ("GET /me (no key)", "GET", "/me", None),
            ("GET /me (unknown key)", "GET", "/me", Some(unknown)),
        ];
        let mut statuses = Vec::new();
        for (label, method, path, key) in requests {
            let mut request = match method {
                "POST" => http.post(format!("{base}{path}")),
                _ => http.get(format!("{base}{path}")),
            };
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let status = request.send().await?.status();
            statuses.push((label.to_owned(), StatusCode::from_u16(status.as_u16())?));
        }
        Ok(statuses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tour, then a scrape of the exporter: the layer's counters are on
    /// it with the values the tour implies.
    #[tokio::test]
    async fn the_prometheus_endpoint_serves_the_layers_metrics() -> Result<(), BoxError> {
        // The exporter takes an address, not a listener: find a free port.
        let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        install_exporter(metrics_addr)?;
        let demo = Demo::start().await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(axum::serve(listener, demo.app.clone()).into_future());

        let statuses: Vec<u16> = demo
            .tour(&base)
            .await?
            .into_iter()
            .map(|(_, status)| status.as_u16())
            .collect();
        assert_eq!(statuses, [200, 200, 201, 403, 401, 401]);

        let scrape = reqwest::get(format!("http://{metrics_addr}/metrics"))
            .await?
            .text()
            .await?;
        for line in [
            r#"keygate_auth_requests_total{outcome="accepted"} 3"#,
            r#"keygate_auth_requests_total{outcome="forbidden"} 1"#,
            r#"keygate_auth_requests_total{outcome="missing_credential"} 1"#,
            r#"keygate_auth_requests_total{outcome="invalid_credential"} 1"#,
            // The reader once, the writer once, the unknown key once.
            r#"keygate_auth_cache_total{outcome="miss"} 3"#,
            r#"keygate_auth_cache_total{outcome="hit"} 2"#,
            r#"keygate_auth_key_service_calls_total{result="valid"} 2"#,
            r#"keygate_auth_key_service_calls_total{result="invalid"} 1"#,
            r#"keygate_auth_key_service_call_duration_seconds_count{result="valid"} 2"#,
            "keygate_auth_breaker_state 0",
            "# HELP keygate_auth_requests_total Requests through the keygate layer, by final outcome.",
        ] {
            assert!(
                scrape.contains(line),
                "{line:?} not in the scrape:\n{scrape}"
            );
        }
        let organization = scrape
            .lines()
            .find(|line| line.starts_with("keygate_auth_organization_requests_total{"))
            .expect("a per-organization count");
        assert!(organization.ends_with(" 4"), "{organization}");
        Ok(())
    }
}
