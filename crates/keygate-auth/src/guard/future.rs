//! The guards' response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

pin_project! {
    /// Response future of [`GuardService`](super::GuardService).
    pub struct GuardFuture<F, B> {
        #[pin]
        state: GuardState<F, B>,
    }
}

pin_project! {
    #[project = GuardStateProj]
    enum GuardState<F, B> {
        // The guard was met; the inner service runs.
        Inner { #[pin] future: F },
        // The guard refused.
        Refused { response: Option<Response<B>> },
    }
}

impl<F, B> GuardFuture<F, B> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            state: GuardState::Inner { future },
        }
    }

    pub(crate) fn refused(response: Response<B>) -> Self {
        Self {
            state: GuardState::Refused {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for GuardFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            GuardStateProj::Inner { future } => future.poll(cx),
            GuardStateProj::Refused { response } => Poll::Ready(Ok(response
                .take()
                .expect("GuardFuture polled after completion"))),
        }
    }
}

impl<F, B> fmt::Debug for GuardFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardFuture").finish_non_exhaustive()
    }
}
