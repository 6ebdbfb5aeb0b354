//! The response future of [`ApiKeyAuthService`](crate::ApiKeyAuthService):
//! a small state machine, so a cache hit or a refusal costs no allocation.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use crate::cache::CacheOutcome;
use crate::rejection::respond;
use crate::service::{log_refusal, record_principal};
use crate::{ApiKeyPrincipal, AuthRejection, OnRejection};

/// What the slow path found.
pub(crate) struct LoadOutput {
    pub(crate) verdict: Result<ApiKeyPrincipal, AuthRejection>,
    pub(crate) outcome: Option<CacheOutcome>,
}

type Load = Pin<Box<dyn Future<Output = LoadOutput> + Send>>;

pin_project! {
    /// Response future of [`ApiKeyAuthService`](crate::ApiKeyAuthService).
    pub struct ResponseFuture<S, ReqB, R>
    where
        S: Service<Request<ReqB>>,
    {
        #[pin]
        state: State<S, ReqB, R>,
        span: tracing::Span,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqB, R>
    where
        S: Service<Request<ReqB>>,
    {
        // Authenticated (or let through anonymously): the inner service runs.
        Inner { #[pin] future: S::Future },
        // Refused without a call.
        Rejected { response: Option<S::Response> },
        // A cache miss: waiting for the key service. Boxed, request and
        // all: a network call dwarfs the allocation, and a small future
        // spares every hit the copying of a large one.
        Loading { load: Load, pending: Option<Box<(Request<ReqB>, S, R)>> },
    }
}

impl<S, ReqB, R> ResponseFuture<S, ReqB, R>
where
    S: Service<Request<ReqB>>,
{
    pub(crate) fn inner(future: S::Future, span: tracing::Span) -> Self {
        Self {
            state: State::Inner { future },
            span,
        }
    }

    pub(crate) fn rejected(response: S::Response, span: tracing::Span) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
            span,
        }
    }

    pub(crate) fn loading(
        load: Load,
        request: Request<ReqB>,
        inner: S,
        on_rejection: R,
        span: tracing::Span,
    ) -> Self {
        Self {
            state: State::Loading {
                load,
                pending: Some(Box::new((request, inner, on_rejection))),
            },
            span,
        }
    }
}

impl<S, ReqB, ResB, R> Future for ResponseFuture<S, ReqB, R>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    R: OnRejection<ResB>,
{
    type Output = Result<Response<ResB>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future } => return future.poll(cx),
                StateProj::Rejected { response } => {
                    return match response.take() {
                        Some(response) => Poll::Ready(Ok(response)),
                        None => panic!("ResponseFuture polled after completion"),
                    };
                }
                StateProj::Loading { load, pending } => {
                    let output = ready!(load.as_mut().poll(cx));
                    let Some(pending) = pending.take() else {
                        panic!("ResponseFuture polled after completion");
                    };
                    let (mut request, mut inner, on_rejection) = *pending;
                    if let Some(outcome) = output.outcome {
                        this.span.record("cache", outcome.as_str());
                    }
                    match output.verdict {
                        Ok(principal) => {
                            record_principal(this.span, &principal);
                            request.extensions_mut().insert(principal);
                            let future = inner.call(request);
                            this.state.set(State::Inner { future });
                        }
                        Err(rejection) => {
                            log_refusal(&rejection);
                            let response = respond(&on_rejection, rejection);
                            this.state.set(State::Rejected {
                                response: Some(response),
                            });
                        }
                    }
                }
            }
        }
    }
}

impl<S, ReqB, R> fmt::Debug for ResponseFuture<S, ReqB, R>
where
    S: Service<Request<ReqB>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
