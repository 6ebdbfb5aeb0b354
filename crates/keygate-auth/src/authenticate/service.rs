//! [`ApiKeyAuthService`], the service [`ApiKeyAuth`](super::ApiKeyAuth) wraps around yours.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use keygate_types::SecretString;
use tower::Service;

use super::future::{Load, LoadOutput, ResponseFuture};
use super::layer::Shared;
use super::span;
use crate::cache::{Call, Lookup, digest};
use crate::principal::Anonymous;
use crate::rejection::OnRejection;
use crate::tier::{KeyDigest, KeyServiceCall, TierVerdict};
use crate::{AuthRejection, InvalidToken, KeyValidator};

/// The service built by [`ApiKeyAuth`](super::ApiKeyAuth): authenticates,
/// then calls the inner service `S` with the principal in the request's
/// extensions. Works for any `S` whose response body can be built from bytes
/// (or any body, with your own [`OnRejection`]).
pub struct ApiKeyAuthService<S, V, R> {
    inner: S,
    shared: Arc<Shared<V, R>>,
}

impl<S, V, R> ApiKeyAuthService<S, V, R> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<V, R>>) -> Self {
        Self { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, V, R> Clone for ApiKeyAuthService<S, V, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, V, R> fmt::Debug for ApiKeyAuthService<S, V, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyAuthService")
            .field("inner", &self.inner)
            .field("cache", &self.shared.cache)
            .finish_non_exhaustive()
    }
}

impl<S, V, R, ReqB, ResB> Service<Request<ReqB>> for ApiKeyAuthService<S, V, R>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    V: KeyValidator,
    R: OnRejection<ResB>,
    ReqB: Send + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let shared = &*self.shared;
        let refusals = Arc::clone(&shared.refusals);
        let found = match shared.credentials.extract(request.headers(), request.uri()) {
            Ok(found) => found,
            Err(error) => {
                return ResponseFuture::refused(error.into(), refusals, span::pending(None));
            }
        };
        let Some((token, source)) = found else {
            if shared.optional {
                request.extensions_mut().insert(Anonymous);
                return ResponseFuture::anonymous(
                    self.inner.call(request),
                    refusals,
                    span::pending(None),
                );
            }
            return ResponseFuture::refused(
                AuthRejection::MissingCredential,
                refusals,
                span::pending(None),
            );
        };
        if let Some(precheck) = &shared.precheck
            && !precheck.accepts(&token)
        {
            return ResponseFuture::refused(
                InvalidToken::Precheck.into(),
                refusals,
                span::pending(Some(source)),
            );
        }

        let digest = digest(&token);
        let cache = &shared.cache;
        if let Lookup::Hit(verdict) = cache.lookup(&digest) {
            drop(token);
            crate::metrics::cache(crate::cache::CacheOutcome::Hit);
            return match verdict.judge(cache.clock()) {
                Ok(principal) => {
                    shared.metrics.authenticated(&principal);
                    let span = span::hit(source, &principal);
                    request.extensions_mut().insert(principal);
                    ResponseFuture::inner(self.inner.call(request), refusals, span)
                }
                Err(rejection) => {
                    let span = span::pending(Some(source));
                    span.record("cache", crate::cache::CacheOutcome::Hit.as_str());
                    ResponseFuture::refused(rejection, refusals, span)
                }
            };
        }
        let span = span::pending(Some(source));
        // An open breaker answers at once, without a load, unless a stale
        // verdict or a shared tier might answer instead.
        if !cache.serves_stale()
            && cache.tier().is_none()
            && let Some(retry_after) = shared.upstream.refusing()
        {
            return ResponseFuture::refused(
                AuthRejection::Unavailable { retry_after },
                refusals,
                span,
            );
        }
        // The slow path owns what it needs: the key (redacted), the ready
        // inner service (a clone stays behind, as tower advises).
        let key = SecretString::from(&*token);
        drop(token);
        let load = load(Arc::clone(&self.shared), digest, key);
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let metrics = shared.metrics.clone();
        ResponseFuture::loading(load, request, inner, metrics, refusals, span)
    }
}

/// The slow path: the verdict through the cache, which asks the validator
/// at most once at a time per key.
fn load<V: KeyValidator, R: Send + Sync + 'static>(
    shared: Arc<Shared<V, R>>,
    digest: crate::cache::Digest,
    key: SecretString,
) -> Load {
    Box::pin(async move {
        let shared_tier = shared.cache.tier().cloned();
        let caller = Arc::clone(&shared);
        let call = move || -> Call {
            let validate: KeyServiceCall = Box::pin(async move {
                caller
                    .upstream
                    .validate(&caller.validator, key.expose_secret())
                    .await
            });
            match shared_tier {
                // Fleet mode: the shared tier answers, or makes the call.
                Some(tier) => tier.verdict(KeyDigest(digest), validate),
                None => Box::pin(async move { validate.await.map(TierVerdict::fresh) }),
            }
        };
        match shared.cache.load(digest, call).await {
            Ok((verdict, outcome)) => LoadOutput {
                verdict: verdict.judge(shared.cache.clock()),
                outcome: Some(outcome),
            },
            Err(error) => {
                let retry_after = error.retry_after().unwrap_or(shared.retry_after);
                tracing::warn!(error = %error, "key service unavailable; answering 503");
                LoadOutput {
                    verdict: Err(AuthRejection::Unavailable { retry_after }),
                    outcome: None,
                }
            }
        }
    })
}
