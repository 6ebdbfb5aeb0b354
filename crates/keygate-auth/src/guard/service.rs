//! The guards' service and its response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use super::Requirement;
use crate::extract::principal_or_rejection;
use crate::rejection::{InsufficientScope, respond};
use crate::{AuthRejection, OnRejection};

/// The service of [`RequirePermission`](struct@crate::RequirePermission),
/// [`RequireAllPermissions`](struct@crate::RequireAllPermissions) and
/// [`RequireAnyPermission`](struct@crate::RequireAnyPermission).
#[derive(Clone)]
pub struct GuardService<S, R> {
    inner: S,
    requirement: Requirement,
    on_rejection: R,
}

impl<S, R> GuardService<S, R> {
    pub(crate) fn new(inner: S, requirement: Requirement, on_rejection: R) -> Self {
        Self {
            inner,
            requirement,
            on_rejection,
        }
    }
}

impl<S: fmt::Debug, R> fmt::Debug for GuardService<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardService")
            .field("inner", &self.inner)
            .field("requirement", &self.requirement)
            .finish_non_exhaustive()
    }
}

impl<S, R, ReqB, ResB> Service<Request<ReqB>> for GuardService<S, R>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    R: OnRejection<ResB>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = GuardFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let rejection = match principal_or_rejection(request.extensions(), "a permission guard") {
            Ok(principal) if self.requirement.is_met_by(principal) => {
                return GuardFuture::inner(self.inner.call(request));
            }
            Ok(principal) => {
                tracing::debug!(
                    key_id = %principal.id(),
                    required = ?self.requirement.permissions,
                    "permission missing"
                );
                AuthRejection::InsufficientScope(InsufficientScope::new(
                    self.requirement.permissions.clone(),
                    self.requirement.any,
                ))
            }
            Err(rejection) => rejection,
        };
        GuardFuture::rejected(respond(&self.on_rejection, rejection))
    }
}

pin_project! {
    /// Response future of [`GuardService`].
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
        Rejected { response: Option<Response<B>> },
    }
}

impl<F, B> GuardFuture<F, B> {
    fn inner(future: F) -> Self {
        Self {
            state: GuardState::Inner { future },
        }
    }

    fn rejected(response: Response<B>) -> Self {
        Self {
            state: GuardState::Rejected {
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
            GuardStateProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("GuardFuture polled after completion"),
            },
        }
    }
}

impl<F, B> fmt::Debug for GuardFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardFuture").finish_non_exhaustive()
    }
}
