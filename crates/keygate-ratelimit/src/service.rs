//! [`RateLimitService`], the service [`RateLimit`](crate::RateLimit) wraps around yours.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use crate::future::ResponseFuture;
use crate::limiter::{Limits, Target, Verdict};
use crate::refusal::{HttpRefusals, Refusals};

/// The service built by [`RateLimit`](crate::RateLimit): spends one request
/// of the caller's budget, then calls the inner service `S` or answers 429
/// (or, built by `RateLimit::grpc` with the feature `tonic`, 8
/// `RESOURCE_EXHAUSTED`: `T` says how it refuses).
pub struct RateLimitService<S, T = HttpRefusals> {
    inner: S,
    limits: Arc<Limits>,
    refusals: PhantomData<fn() -> T>,
}

impl<S, T> RateLimitService<S, T> {
    pub(crate) fn new(inner: S, limits: Arc<Limits>) -> Self {
        Self {
            inner,
            limits,
            refusals: PhantomData,
        }
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

impl<S: Clone, T> Clone for RateLimitService<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limits: Arc::clone(&self.limits),
            refusals: PhantomData,
        }
    }
}

impl<S: fmt::Debug, T> fmt::Debug for RateLimitService<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitService")
            .field("inner", &self.inner)
            .field("partition", &self.limits.partition)
            .finish_non_exhaustive()
    }
}

impl<S, T, ReqB, ResB> Service<Request<ReqB>> for RateLimitService<S, T>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    ReqB: Send + 'static,
    T: Refusals<ResB>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB, T>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let limits = &*self.limits;
        let (partition, id, quota) = match limits.target(request.extensions()) {
            Target::Limit {
                partition,
                id,
                quota,
            } => (partition, id, quota),
            Target::Unlimited => return ResponseFuture::inner(self.inner.call(request), None),
            Target::Misconfigured => return ResponseFuture::ready(T::misconfigured()),
        };
        if let Some(budget) = &limits.shared {
            let check =
                Arc::clone(&self.limits).check_shared(Arc::clone(budget), partition, id, quota);
            // The ready inner service goes with the request; a clone stays
            // behind, as tower advises.
            let clone = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, clone);
            return ResponseFuture::checking(Box::pin(check), request, inner);
        }
        match limits.check_local(partition, &id, quota) {
            Verdict::Accepted(headers) => ResponseFuture::inner(self.inner.call(request), headers),
            Verdict::Limited(refusal) => ResponseFuture::ready(refusal.into_response::<ResB, T>()),
        }
    }
}

/// A rate limit around one tonic service keeps its name: `add_service`
/// accepts it.
#[cfg(feature = "tonic")]
impl<S: tonic::server::NamedService, T> tonic::server::NamedService for RateLimitService<S, T> {
    const NAME: &'static str = S::NAME;
}
