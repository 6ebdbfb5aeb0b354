//! [`ApiKeyAuthService`], the service [`ApiKeyAuth`](crate::ApiKeyAuth) wraps around yours.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use keygate_types::SecretString;
use tower::Service;
use tracing::field::Empty;

use crate::cache::{CacheOutcome, CachedVerdict, Lookup, VerdictCache, digest};
use crate::future::{LoadOutput, ResponseFuture};
use crate::layer::Shared;
use crate::principal::Anonymous;
use crate::rejection::respond;
use crate::{
    ApiKeyPrincipal, AuthRejection, Clock, CredentialSource, InvalidToken, KeyValidator,
    OnRejection,
};

/// The service built by [`ApiKeyAuth`](crate::ApiKeyAuth): authenticates,
/// then calls the inner service `S` with the principal in the request's
/// extensions. Works for any `S` whose response body can be built from bytes.
pub struct ApiKeyAuthService<S, V, R> {
    inner: S,
    shared: Arc<Shared<V, R>>,
    cache: VerdictCache,
}

impl<S, V, R> ApiKeyAuthService<S, V, R> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<V, R>>, cache: VerdictCache) -> Self {
        Self {
            inner,
            shared,
            cache,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, V, R> Clone for ApiKeyAuthService<S, V, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            cache: self.cache.clone(),
        }
    }
}

impl<S: fmt::Debug, V, R> fmt::Debug for ApiKeyAuthService<S, V, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyAuthService")
            .field("inner", &self.inner)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// Turns a cached verdict into a principal, checking `expires_at` against the
/// clock on every use: a cached entry never outlives its key.
pub(crate) fn judge(
    verdict: CachedVerdict,
    clock: &dyn Clock,
) -> Result<ApiKeyPrincipal, AuthRejection> {
    match verdict {
        CachedVerdict::Valid { principal } => {
            if principal.expires_at().is_some_and(|at| at <= clock.now()) {
                Err(InvalidToken::Expired.into())
            } else {
                Ok(principal)
            }
        }
        CachedVerdict::Invalid => Err(InvalidToken::Rejected.into()),
    }
}

/// Logs why a request was refused: the reason and status, never the key.
pub(crate) fn log_refusal(rejection: &AuthRejection) {
    tracing::debug!(
        reason = %rejection,
        status = rejection.status().as_u16(),
        "request refused"
    );
}

/// The request's span, before the verdict is known: the rest of its fields
/// are recorded as they are found. `DEBUG`, not `INFO`: under a formatting
/// subscriber a span costs a few microseconds, several times a cache hit
/// (`BENCHMARKS.md`), too much to pay on every request by default. Its
/// fields never include the key.
fn request_span(source: Option<CredentialSource>) -> tracing::Span {
    tracing::debug_span!(
        "keygate_auth",
        source = source.map(CredentialSource::as_str),
        cache = Empty,
        key_id = Empty,
        owner_id = Empty,
        organization_id = Empty,
    )
}

/// Records who is calling on the request's span: ids only, never the key.
pub(crate) fn record_principal(span: &tracing::Span, principal: &ApiKeyPrincipal) {
    span.record("key_id", principal.id().as_str());
    span.record("owner_id", principal.owner().id());
    span.record("organization_id", principal.organization_id().as_str());
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
        #[cfg(feature = "client")]
        if let Some(listener) = &shared.listener {
            listener.start();
        }
        let refuse = |rejection: AuthRejection, span: tracing::Span| {
            span.in_scope(|| log_refusal(&rejection));
            ResponseFuture::rejected(respond(&shared.on_rejection, rejection), span)
        };

        let found = match shared.credentials.extract(request.headers(), request.uri()) {
            Ok(found) => found,
            Err(error) => return refuse(error.into(), request_span(None)),
        };
        let Some((token, source)) = found else {
            if shared.optional {
                request.extensions_mut().insert(Anonymous);
                return ResponseFuture::inner(self.inner.call(request), request_span(None));
            }
            return refuse(AuthRejection::MissingCredential, request_span(None));
        };
        if let Some(precheck) = &shared.precheck
            && !precheck.accepts(&token)
        {
            return refuse(InvalidToken::Precheck.into(), request_span(Some(source)));
        }

        let digest = digest(&token);
        match self.cache.lookup_now(&digest) {
            Lookup::Hit(verdict) => {
                drop(token);
                match judge(verdict, self.cache.clock()) {
                    Ok(principal) => {
                        // Every field is known: one span with all of them,
                        // formatted once, rather than a record call each.
                        let span = tracing::debug_span!(
                            "keygate_auth",
                            source = source.as_str(),
                            cache = CacheOutcome::Hit.as_str(),
                            key_id = principal.id().as_str(),
                            owner_id = principal.owner().id(),
                            organization_id = principal.organization_id().as_str(),
                        );
                        request.extensions_mut().insert(principal);
                        ResponseFuture::inner(self.inner.call(request), span)
                    }
                    Err(rejection) => {
                        let span = request_span(Some(source));
                        span.record("cache", CacheOutcome::Hit.as_str());
                        refuse(rejection, span)
                    }
                }
            }
            Lookup::Miss => {
                let span = request_span(Some(source));
                // An open breaker answers at once: no load, no allocation.
                // (With stale-if-error on, the load still runs: it may find
                // a stale verdict, and the breaker refuses the call inside.)
                if !self.cache.serves_stale()
                    && let Some(retry_after) = shared.upstream.refusing()
                {
                    drop(token);
                    return refuse(AuthRejection::Unavailable { retry_after }, span);
                }
                // The slow path owns what it needs: the key (redacted), the
                // ready inner service (a clone stays behind, as tower advises).
                let key = SecretString::from(&*token);
                drop(token);
                let load = load(Arc::clone(&self.shared), self.cache.clone(), digest, key);
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::loading(load, request, inner, shared.on_rejection.clone(), span)
            }
        }
    }
}

/// The slow path: one call to the validator per key at a time, through the cache.
fn load<V: KeyValidator, R: Send + Sync + 'static>(
    shared: Arc<Shared<V, R>>,
    cache: VerdictCache,
    digest: [u8; 32],
    key: SecretString,
) -> std::pin::Pin<Box<dyn Future<Output = LoadOutput> + Send>> {
    Box::pin(async move {
        match cache
            .load(
                digest,
                key.expose_secret(),
                &shared.validator,
                &shared.upstream,
            )
            .await
        {
            Ok((entry, outcome)) => LoadOutput {
                verdict: judge(entry.verdict.clone(), cache.clock()),
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

#[cfg(test)]
mod tests;
