//! Answering refusals your own way: RFC 9457 `application/problem+json`
//! instead of keygate's default `{"error", "error_description"}` body.
//!
//! ```sh
//! cargo run --example custom_rejection
//! ```
//!
//! The closure receives the typed [`AuthRejection`]; starting from
//! [`AuthRejection::to_response`] keeps the parts that clients and proxies
//! rely on (status, `WWW-Authenticate`, `Retry-After`, the rejection in the
//! response's extensions) and replaces only the body. The layer renders the
//! refusals of the guards and extractors behind it with the same closure.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Response, header};
use axum::routing::get;
use keygate::emulator::Emulator;
use keygate::{ApiKeyAuth, AuthRejection, Client, RequirePermission};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Builds an RFC 9457 problem document for a refusal.
fn problem(rejection: &AuthRejection) -> Response<Body> {
    let mut response = rejection.to_response::<Body>(Some("posts"));
    let document = serde_json::json!({
        "type": format!("https://docs.example.com/errors/{}", rejection.body_error()),
        "title": rejection.status().canonical_reason().unwrap_or("error"),
        "status": rejection.status().as_u16(),
        "detail": rejection.to_string(),
    });
    *response.body_mut() = Body::from(document.to_string());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn app(client: Client) -> Router {
    let auth = ApiKeyAuth::builder(client).on_rejection(problem).build();
    Router::new()
        .route(
            "/posts",
            get(|| async { "[]" }).route_layer(RequirePermission("posts:write")),
        )
        .layer(auth)
}

/// Starts the emulator and the app, and shows three refusals.
async fn demo() -> Result<Vec<(u16, String)>, BoxError> {
    let emulator = Emulator::start().await?;
    let org = emulator.create_organization("Acme")?;
    let reader = emulator.create_organization_key(&org.id, "reader", &["posts:read"])?;
    let client = Client::builder()
        .secret(emulator.secret().clone())
        .base_url(emulator.base_url())
        .build()?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/posts", listener.local_addr()?);
    tokio::spawn(axum::serve(listener, app(client)).into_future());

    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    for key in [None, Some("sk_unknown"), Some(reader.value.expose_secret())] {
        let mut request = http.get(&url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        let body = response.text().await?;
        println!("{status}  WWW-Authenticate: {challenge}\n     {body}");
        seen.push((status, body));
    }
    Ok(seen)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    demo().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn every_refusal_is_a_problem_document() -> Result<(), super::BoxError> {
        let seen = super::demo().await?;
        let statuses: Vec<u16> = seen.iter().map(|(s, _)| *s).collect();
        assert_eq!(statuses, [401, 401, 403]);
        for (status, body) in seen {
            let doc: serde_json::Value = serde_json::from_str(&body)?;
            assert_eq!(doc["status"], status);
        }
        Ok(())
    }
}
