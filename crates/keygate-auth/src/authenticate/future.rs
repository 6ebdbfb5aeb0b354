//! The response future of [`ApiKeyAuthService`](super::ApiKeyAuthService):
//! a small state machine, so a cache hit or a refusal costs no allocation.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use super::span::{log_refusal, record_principal};
use crate::AuthRejection;
use crate::metrics::{self, Caller};
use crate::rejection::{OnRejection, Refusals};
use crate::verdicts::Loaded;

/// The slow path: [`Verdicts::load`](crate::verdicts::Verdicts::load).
pub(crate) type Load = Pin<Box<dyn Future<Output = Loaded> + Send>>;

pin_project! {
    /// Response future of [`ApiKeyAuthService`](super::ApiKeyAuthService).
    pub struct ResponseFuture<S, ReqB, R>
    where
        S: Service<Request<ReqB>>,
    {
        #[pin]
        state: State<S, ReqB>,
        // Renders this layer's refusals, and those of the guards and
        // extractors behind it (see `Refusals`).
        refusals: Arc<Refusals<R>>,
        span: tracing::Span,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqB>
    where
        S: Service<Request<ReqB>>,
    {
        // Authenticated (or let through anonymously): the inner service runs.
        Inner { #[pin] future: S::Future, caller: Caller },
        // Refused without a call.
        Refused { rejection: Option<AuthRejection> },
        // A cache miss: waiting for the key service. Boxed, request and
        // all: a network call dwarfs the allocation, and a small future
        // spares every hit the copying of a large one.
        Loading { load: Load, pending: Option<Box<(Request<ReqB>, S)>> },
    }
}

impl<S, ReqB, R> ResponseFuture<S, ReqB, R>
where
    S: Service<Request<ReqB>>,
{
    /// Authenticated with a key.
    pub(crate) fn inner(
        future: S::Future,
        refusals: Arc<Refusals<R>>,
        span: tracing::Span,
    ) -> Self {
        Self {
            state: State::Inner {
                future,
                caller: Caller::Key,
            },
            refusals,
            span,
        }
    }

    /// Let through without a credential, in optional mode.
    pub(crate) fn anonymous(
        future: S::Future,
        refusals: Arc<Refusals<R>>,
        span: tracing::Span,
    ) -> Self {
        Self {
            state: State::Inner {
                future,
                caller: Caller::Anonymous,
            },
            refusals,
            span,
        }
    }

    pub(crate) fn refused(
        rejection: AuthRejection,
        refusals: Arc<Refusals<R>>,
        span: tracing::Span,
    ) -> Self {
        span.in_scope(|| log_refusal(&rejection));
        Self {
            state: State::Refused {
                rejection: Some(rejection),
            },
            refusals,
            span,
        }
    }

    pub(crate) fn loading(
        load: Load,
        request: Request<ReqB>,
        inner: S,
        refusals: Arc<Refusals<R>>,
        span: tracing::Span,
    ) -> Self {
        Self {
            state: State::Loading {
                load,
                pending: Some(Box::new((request, inner))),
            },
            refusals,
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
                StateProj::Inner { future, caller } => {
                    let response = ready!(future.poll(cx))?;
                    let response = this.refusals.render_behind(response);
                    metrics::answered(&response, *caller);
                    return Poll::Ready(Ok(response));
                }
                StateProj::Refused { rejection } => {
                    let rejection = rejection
                        .take()
                        .expect("ResponseFuture polled after completion");
                    metrics::refused(&rejection);
                    return Poll::Ready(Ok(this.refusals.render(rejection)));
                }
                StateProj::Loading { load, pending } => {
                    let output = ready!(load.as_mut().poll(cx));
                    let (mut request, mut inner) = *pending
                        .take()
                        .expect("ResponseFuture polled after completion");
                    if let Some(outcome) = output.outcome {
                        this.span.record("cache", outcome.as_str());
                    }
                    match output.verdict {
                        Ok(principal) => {
                            record_principal(this.span, &principal);
                            request.extensions_mut().insert(principal);
                            let future = inner.call(request);
                            this.state.set(State::Inner {
                                future,
                                caller: Caller::Key,
                            });
                        }
                        Err(rejection) => {
                            log_refusal(&rejection);
                            this.state.set(State::Refused {
                                rejection: Some(rejection),
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
