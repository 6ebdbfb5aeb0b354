//! The response future of [`RateLimitService`](crate::RateLimitService): a
//! small state machine, so an in-process decision costs no allocation.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use crate::headers::{RATELIMIT, RATELIMIT_POLICY};
use crate::limiter::Verdict;
use crate::refusal::{HttpRefusals, Refusals};

/// A shared-budget decision under way.
pub(crate) type Check = Pin<Box<dyn Future<Output = Verdict> + Send>>;

pin_project! {
    /// Response future of [`RateLimitService`](crate::RateLimitService).
    pub struct ResponseFuture<S, ReqB, T = HttpRefusals>
    where
        S: Service<Request<ReqB>>,
    {
        #[pin]
        state: State<S, ReqB>,
        // How a refusal decided by the shared budget is said.
        refusals: PhantomData<fn() -> T>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqB>
    where
        S: Service<Request<ReqB>>,
    {
        // Accepted (or not limited): the inner service runs; its response
        // gets the `RateLimit` headers, if any.
        Inner {
            #[pin]
            future: S::Future,
            headers: Option<(HeaderValue, HeaderValue)>,
        },
        // Answered without the inner service: a 429 or a 500.
        Ready { response: Option<S::Response> },
        // Waiting for the shared budget. Boxed, request and all: a network
        // round trip dwarfs the allocation.
        Checking { check: Check, pending: Option<Box<(Request<ReqB>, S)>> },
    }
}

impl<S, ReqB, T> ResponseFuture<S, ReqB, T>
where
    S: Service<Request<ReqB>>,
{
    pub(crate) fn inner(future: S::Future, headers: Option<(HeaderValue, HeaderValue)>) -> Self {
        Self {
            state: State::Inner { future, headers },
            refusals: PhantomData,
        }
    }

    pub(crate) fn ready(response: S::Response) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
            refusals: PhantomData,
        }
    }

    pub(crate) fn checking(check: Check, request: Request<ReqB>, inner: S) -> Self {
        Self {
            state: State::Checking {
                check,
                pending: Some(Box::new((request, inner))),
            },
            refusals: PhantomData,
        }
    }
}

fn add_headers<B>(response: &mut Response<B>, headers: Option<(HeaderValue, HeaderValue)>) {
    if let Some((policy, remaining)) = headers {
        // Appended: a rate limit nested in another adds its own policy to
        // the list (Structured Field lists may span several fields).
        let map = response.headers_mut();
        map.append(RATELIMIT_POLICY, policy);
        map.append(RATELIMIT, remaining);
    }
}

impl<S, ReqB, ResB, T> Future for ResponseFuture<S, ReqB, T>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    T: Refusals<ResB>,
{
    type Output = Result<Response<ResB>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future, headers } => {
                    let mut response = ready!(future.poll(cx))?;
                    add_headers(&mut response, headers.take());
                    return Poll::Ready(Ok(response));
                }
                StateProj::Ready { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response));
                }
                StateProj::Checking { check, pending } => {
                    let verdict = ready!(check.as_mut().poll(cx));
                    let (request, mut inner) = *pending
                        .take()
                        .expect("ResponseFuture polled after completion");
                    match verdict {
                        Verdict::Accepted(headers) => {
                            let future = inner.call(request);
                            this.state.set(State::Inner { future, headers });
                        }
                        Verdict::Limited(refusal) => {
                            this.state.set(State::Ready {
                                response: Some(refusal.into_response::<ResB, T>()),
                            });
                        }
                    }
                }
            }
        }
    }
}

impl<S, ReqB, T> fmt::Debug for ResponseFuture<S, ReqB, T>
where
    S: Service<Request<ReqB>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
