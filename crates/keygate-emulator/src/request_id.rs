//! `X-Request-ID` on every response: the caller's, or a new one.
//!
//! A hand-written tower service around the whole router (one boxed future
//! per request) rather than `axum::middleware::from_fn` (which also boxes a
//! `Next` and its future on every request).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use http::HeaderValue;
use http::header::HeaderName;
use tower::Service;
use tracing::Level;

/// The header's name.
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest caller-chosen id echoed back; longer ones are replaced.
const MAX_LEN: usize = 200;

/// `inner`, answering with an `X-Request-ID` and logging each request at
/// DEBUG.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds<S>(pub(crate) S);

impl<S> Service<Request> for RequestIds<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let id = request
            .headers()
            .get(&X_REQUEST_ID)
            .filter(|v| !v.is_empty() && v.len() <= MAX_LEN && v.to_str().is_ok())
            .cloned()
            .unwrap_or_else(generate);
        // Method and path only: values travel in bodies, which are never
        // logged. Copied only when the line will be written.
        let logged = tracing::enabled!(Level::DEBUG)
            .then(|| (request.method().clone(), request.uri().path().to_owned()));
        let answer = self.0.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
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
            Ok(response)
        })
    }
}

fn generate() -> HeaderValue {
    let mut text = [0; ulid::ULID_LEN];
    match HeaderValue::from_str(ulid::Ulid::new().array_to_str(&mut text)) {
        Ok(v) => v,
        Err(_) => HeaderValue::from_static("req_unknown"),
    }
}
