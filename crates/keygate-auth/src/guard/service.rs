//! The guards' service.

use std::fmt;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use super::Requirement;
use super::future::GuardFuture;

/// The service of [`RequirePermission`](crate::RequirePermission),
/// [`RequireAllPermissions`](crate::RequireAllPermissions) and
/// [`RequireAnyPermission`](crate::RequireAnyPermission).
#[derive(Clone)]
pub struct GuardService<S> {
    inner: S,
    requirement: Requirement,
}

impl<S> GuardService<S> {
    pub(crate) fn new(inner: S, requirement: Requirement) -> Self {
        Self { inner, requirement }
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

impl<S: fmt::Debug> fmt::Debug for GuardService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardService")
            .field("inner", &self.inner)
            .field("requirement", &self.requirement)
            .finish()
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for GuardService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Default,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = GuardFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        match self
            .requirement
            .judge(request.extensions(), "a permission guard")
        {
            Ok(()) => GuardFuture::inner(self.inner.call(request)),
            Err(rejection) => GuardFuture::refused(rejection.unrendered_empty()),
        }
    }
}
