//! [`ApiKeyAuthService`], the service [`ApiKeyAuth`](super::ApiKeyAuth) wraps around yours.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use keygate_types::SecretString;
use tower::Service;

use super::future::ResponseFuture;
use super::shared::Shared;
use super::span;
use crate::cache::{CacheOutcome, digest};
use crate::principal::Anonymous;
use crate::rejection::OnRejection;
use crate::verdicts::Lookup;
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
            .field("cache", &self.shared.verdicts.cache)
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
        // A JWT goes to the token verifier (before the pre-check, which is
        // for keys); everything else down the key path.
        #[cfg(feature = "jwt")]
        if let Some(tokens) = &shared.tokens
            && crate::credential::is_jwt_shaped(&token)
        {
            let tokens = tokens.clone();
            // A token verified before is judged here, while `token` borrows
            // the request; only a new one is copied for the slow path.
            let judged = tokens
                .verify_seen(&token)
                .map(|verdict| shared.verdicts.vouch_token(verdict))
                .ok_or_else(|| SecretString::from(&*token));
            drop(token);
            return self.call_with_token(tokens, judged, source, request);
        }
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
        let verdicts = &shared.verdicts;
        let span = match verdicts.lookup(&digest) {
            Lookup::Hit(Ok(principal)) => {
                drop(token);
                let span = span::hit(source, &principal);
                request.extensions_mut().insert(principal);
                return ResponseFuture::inner(self.inner.call(request), refusals, span);
            }
            Lookup::Hit(Err(rejection)) => {
                let span = span::pending(Some(source));
                span.record("cache", CacheOutcome::Hit.as_str());
                return ResponseFuture::refused(rejection, refusals, span);
            }
            Lookup::Refused(rejection) => {
                return ResponseFuture::refused(rejection, refusals, span::pending(Some(source)));
            }
            Lookup::Miss => span::pending(Some(source)),
        };
        // The slow path owns what it needs: the key (redacted), the ready
        // inner service (a clone stays behind, as tower advises).
        let key = SecretString::from(&*token);
        drop(token);
        let load = Box::pin(Arc::clone(verdicts).load(digest, key));
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::loading(load, request, inner, refusals, span)
    }
}

#[cfg(feature = "jwt")]
impl<S, V: KeyValidator, R> ApiKeyAuthService<S, V, R> {
    /// The access-token path: a token verified before is answered at once;
    /// otherwise the verification runs as the slow path does.
    fn call_with_token<ReqB, ResB>(
        &mut self,
        tokens: crate::jwt::JwtVerifier,
        judged: Result<Result<crate::Principal, AuthRejection>, SecretString>,
        source: crate::credential::CredentialSource,
        mut request: Request<ReqB>,
    ) -> ResponseFuture<S, ReqB, R>
    where
        S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
        ReqB: Send + 'static,
    {
        let refusals = Arc::clone(&self.shared.refusals);
        match judged {
            Ok(Ok(principal)) => {
                let span = span::hit(source, &principal);
                request.extensions_mut().insert(principal);
                ResponseFuture::inner(self.inner.call(request), refusals, span)
            }
            Ok(Err(rejection)) => {
                ResponseFuture::refused(rejection, refusals, span::pending(Some(source)))
            }
            Err(token) => {
                let verdicts = Arc::clone(&self.shared.verdicts);
                let load = Box::pin(async move {
                    let verdict = tokens.verify(token.expose_secret()).await;
                    crate::verdicts::Loaded {
                        verdict: verdicts.vouch_token(verdict),
                        outcome: None,
                    }
                });
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::loading(load, request, inner, refusals, span::pending(Some(source)))
            }
        }
    }
}
