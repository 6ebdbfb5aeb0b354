//! (c) The floor: the least work any API-key check must do on a hit, written
//! by hand. Parse `Authorization: Bearer`, SHA-256 the key, look the digest up
//! in a `HashMap` behind a read lock, insert an `Arc` principal, call the
//! handler. No expiry, no guard, no tracing, no counters, no eviction: what
//! is left when everything a production layer adds is taken away.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use axum::body::Body;
use futures_util::future::Either;
use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode};
use keygate_types::ApiKey;
use sha2::{Digest, Sha256};
use tower::{Layer, Service};

type Table = Arc<RwLock<HashMap<[u8; 32], Arc<ApiKey>>>>;

/// The floor's layer: a table of key digests to principals.
#[derive(Clone)]
pub struct FloorLayer {
    table: Table,
}

impl FloorLayer {
    /// A table holding each `(key value, principal)`.
    pub fn new<'a>(keys: impl IntoIterator<Item = (&'a [u8], ApiKey)>) -> Self {
        let table = keys
            .into_iter()
            .map(|(value, key)| (Sha256::digest(value).into(), Arc::new(key)))
            .collect();
        Self {
            table: Arc::new(RwLock::new(table)),
        }
    }
}

impl<S> Layer<S> for FloorLayer {
    type Service = Floor<S>;

    fn layer(&self, inner: S) -> Floor<S> {
        Floor {
            inner,
            table: Arc::clone(&self.table),
        }
    }
}

/// The floor's service.
#[derive(Clone)]
pub struct Floor<S> {
    inner: S,
    table: Table,
}

impl<S> Floor<S> {
    fn principal(&self, request: &Request<Body>) -> Option<Arc<ApiKey>> {
        let header = request.headers().get(AUTHORIZATION)?.as_bytes();
        let (scheme, key) = header.split_at_checked("Bearer ".len())?;
        if !scheme.eq_ignore_ascii_case(b"bearer ") {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(key).into();
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        table.get(&digest).cloned()
    }
}

impl<S> Service<Request<Body>> for Floor<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<Response<Body>, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        match self.principal(&request) {
            Some(principal) => {
                request.extensions_mut().insert(principal);
                Either::Left(self.inner.call(request))
            }
            None => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                Either::Right(ready(Ok(response)))
            }
        }
    }
}
