//! `X-Request-ID` on every response: the caller's, or a new one.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use http::header::HeaderName;
use tracing::Level;

/// The header's name.
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest caller-chosen id echoed back; longer ones are replaced.
const MAX_LEN: usize = 200;

pub(crate) async fn request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= MAX_LEN && v.to_str().is_ok())
        .cloned()
        .unwrap_or_else(generate);
    // Method and path only: values travel in bodies, which are never logged.
    // Copied only when the line will be written: this runs on every request.
    let logged = tracing::enabled!(Level::DEBUG)
        .then(|| (request.method().clone(), request.uri().path().to_owned()));
    let mut response = next.run(request).await;
    if let Some((method, path)) = logged {
        tracing::debug!(
            %method,
            path,
            status = response.status().as_u16(),
            request_id = id.to_str().unwrap_or_default(),
            "request"
        );
    }
    response.headers_mut().insert(X_REQUEST_ID.clone(), id);
    response
}

fn generate() -> HeaderValue {
    let mut text = [0; ulid::ULID_LEN];
    match HeaderValue::from_str(ulid::Ulid::new().array_to_str(&mut text)) {
        Ok(v) => v,
        Err(_) => HeaderValue::from_static("req_unknown"),
    }
}
