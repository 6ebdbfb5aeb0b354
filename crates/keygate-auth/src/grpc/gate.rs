//! [`GrpcGate`]: the layer, its service and its response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::methods::{MethodRequirement, Rule, Rules, SharedRules};
use super::status::{is_grpc, refusal_as_grpc};
use crate::guard::GuardFuture;
use crate::principal::Anonymous;
use crate::rejection::OnRejection;
use crate::{ApiKeyAuth, ApiKeyAuthService, AuthRejection, KeyValidator};

/// One layer in front of gRPC services, or of REST and gRPC on one port:
/// an [`ApiKeyAuth`], each gRPC method's permissions declared once, the
/// paths left open (health checks, reflection), and refusals that each
/// client can read.
///
/// - A path declared [`open`](Self::open) skips authentication: it reaches
///   the service marked [`Anonymous`](crate::Anonymous), as the layer's
///   optional mode marks a request without a key.
/// - Every other request goes through the `ApiKeyAuth`, then through its
///   method's rule: [`require`](Self::require) names a guard's permissions
///   (7 `PERMISSION_DENIED` without them), [`authenticated`](Self::authenticated)
///   any valid key. A gRPC call to a method with no rule is let through with
///   any valid key, or refused with 7 after [`deny_undeclared`](Self::deny_undeclared).
///   Other requests (REST) are never refused for want of a rule: their
///   routes have their own guards.
/// - A gRPC request (`content-type: application/grpc…`) that keygate refuses
///   gets a trailers-only gRPC response ([`AuthRejection::grpc_status`]:
///   16, 7, 14 with when to retry; the rate limit's 8): whatever the
///   `ApiKeyAuth`'s [`OnRejection`] or an inner layer rendered, it is
///   rendered again from the refusal in its extensions. Other requests get
///   the `ApiKeyAuth`'s own rendering (RFC 6750 by default).
///
/// A rule is checked right behind authentication, in front of the layers
/// the gate wraps: a call refused for a missing permission spends no rate
/// limit.
///
/// REST and gRPC on one axum router, one port:
///
/// ```
/// use axum::{Router, routing::get};
/// use keygate_auth::grpc::GrpcGate;
/// use keygate_auth::{ApiKeyAuth, InMemoryValidator, RequirePermission};
///
/// let gate = GrpcGate::new(ApiKeyAuth::new(InMemoryValidator::new()))
///     .open("grpc.health.v1.Health")
///     .open("grpc.reflection.v1.ServerReflection")
///     .open("/healthz")
///     .require("/keygate.echo.v1.Echo/Say", RequirePermission("echo:say"))
///     .authenticated("keygate.echo.v1.Echo")
///     .deny_undeclared();
/// let grpc: Router = Router::new(); // tonic: `Routes::new(EchoServer::new(echo)).into_axum_router()`
/// let app: Router = Router::new()
///     .route("/healthz", get(|| async { "ok" }))
///     .route("/posts", get(|| async { "posts" }))
///     .merge(grpc)
///     .layer(gate);
/// # let _ = app;
/// ```
///
/// In front of tonic services alone (`Server::builder().layer(gate)`),
/// build the `ApiKeyAuth` with [`GrpcRejection`](super::GrpcRejection):
/// tonic's body cannot hold the default JSON refusal.
///
/// Cloning it is cheap; clones share the `ApiKeyAuth`'s cache and the rules.
///
/// # Panics
///
/// Each declaring method, when given a name that is neither a path
/// (`/package.Service/Method`, or any HTTP path) nor a service name
/// (`package.Service`), or a name declared already; [`require`](Self::require)
/// as a guard would, for an invalid slug. All of them run when the server is
/// built, never on a request.
pub struct GrpcGate<V, R> {
    auth: ApiKeyAuth<V, R>,
    rules: SharedRules,
}

impl<V, R> GrpcGate<V, R> {
    /// A gate around `auth`, with no rules yet: every request needs a valid key.
    pub fn new(auth: ApiKeyAuth<V, R>) -> Self {
        Self {
            auth,
            rules: Arc::new(Rules::default()),
        }
    }

    fn declare(mut self, name: &str, rule: Rule) -> Self {
        Arc::make_mut(&mut self.rules).declare(name, rule);
        self
    }

    /// Leaves a service (`grpc.health.v1.Health`: all its methods) or a path
    /// (`/grpc.health.v1.Health/Check`, `/healthz`) open: no key is asked for.
    pub fn open(self, name: &str) -> Self {
        self.declare(name, Rule::Open)
    }

    /// Any valid key may call this service or method.
    pub fn authenticated(self, name: &str) -> Self {
        self.declare(name, Rule::Authenticated)
    }

    /// Only a key that grants `requirement`'s permissions may call this
    /// service or method; a method's own rule comes before its service's.
    pub fn require(self, name: &str, requirement: impl Into<MethodRequirement>) -> Self {
        let MethodRequirement(requirement) = requirement.into();
        self.declare(name, Rule::Require(requirement))
    }

    /// Refuses gRPC calls to the methods that have no rule, their own or
    /// their service's, with 7 `PERMISSION_DENIED`
    /// ([`AuthRejection::UndeclaredMethod`]): a method added to the proto
    /// and forgotten here is closed, not open to every key.
    pub fn deny_undeclared(mut self) -> Self {
        Arc::make_mut(&mut self.rules).deny_undeclared = true;
        self
    }

    /// The `ApiKeyAuth` inside: its stats, its cache, its invalidations.
    pub fn auth(&self) -> &ApiKeyAuth<V, R> {
        &self.auth
    }
}

impl<V, R> Clone for GrpcGate<V, R> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
            rules: Arc::clone(&self.rules),
        }
    }
}

impl<V, R> fmt::Debug for GrpcGate<V, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcGate")
            .field("auth", &self.auth)
            .field("rules", &self.rules)
            .finish()
    }
}

impl<S, V, R> Layer<S> for GrpcGate<V, R> {
    type Service = GrpcGateService<S, V, R>;

    fn layer(&self, inner: S) -> Self::Service {
        let guarded = MethodGuard {
            inner,
            rules: Arc::clone(&self.rules),
        };
        GrpcGateService {
            gated: self.auth.layer(guarded),
            rules: Arc::clone(&self.rules),
        }
    }
}

/// The service of a [`GrpcGate`]: open paths straight to `S`, the others
/// through the `ApiKeyAuth` and their method's rule.
pub struct GrpcGateService<S, V, R> {
    // One `S`, inside: open paths call it through `get_mut`, so that one
    // `poll_ready` readies both ways.
    gated: ApiKeyAuthService<MethodGuard<S>, V, R>,
    rules: SharedRules,
}

impl<S: Clone, V, R> Clone for GrpcGateService<S, V, R> {
    fn clone(&self) -> Self {
        Self {
            gated: self.gated.clone(),
            rules: Arc::clone(&self.rules),
        }
    }
}

impl<S: fmt::Debug, V, R> fmt::Debug for GrpcGateService<S, V, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcGateService")
            .field("gated", &self.gated)
            .field("rules", &self.rules)
            .finish()
    }
}

impl<S, V, R, ReqB, ResB> Service<Request<ReqB>> for GrpcGateService<S, V, R>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    V: KeyValidator,
    R: OnRejection<ResB>,
    ReqB: Send + 'static,
    ResB: Default,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = GateFuture<S::Future, crate::ResponseFuture<MethodGuard<S>, ReqB, R>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.gated.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let grpc = is_grpc(request.headers());
        if let Some(Rule::Open) = self.rules.lookup(request.uri().path()) {
            request.extensions_mut().insert(Anonymous);
            let future = self.gated.get_mut().inner.call(request);
            return GateFuture::new(GateState::Open { future }, grpc);
        }
        let future = self.gated.call(request);
        GateFuture::new(GateState::Gated { future }, grpc)
    }
}

/// The rule check behind a [`GrpcGate`]'s authentication: a guard whose
/// permissions depend on the method called.
pub struct MethodGuard<S> {
    inner: S,
    rules: SharedRules,
}

impl<S: Clone> Clone for MethodGuard<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            rules: Arc::clone(&self.rules),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for MethodGuard<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodGuard")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for MethodGuard<S>
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
        let verdict = match self.rules.lookup(request.uri().path()) {
            Some(Rule::Require(requirement)) => {
                requirement.judge(request.extensions(), "a GrpcGate method rule")
            }
            Some(Rule::Open | Rule::Authenticated) => Ok(()),
            None if self.rules.deny_undeclared && is_grpc(request.headers()) => {
                tracing::debug!(path = request.uri().path(), "gRPC method not declared");
                Err(AuthRejection::UndeclaredMethod)
            }
            None => Ok(()),
        };
        match verdict {
            Ok(()) => GuardFuture::inner(self.inner.call(request)),
            // Rendered by the `ApiKeyAuth` in front, then as gRPC by the gate.
            Err(rejection) => GuardFuture::refused(rejection.unrendered_empty()),
        }
    }
}

pin_project! {
    /// Response future of [`GrpcGateService`].
    pub struct GateFuture<O, G> {
        #[pin]
        state: GateState<O, G>,
        grpc: bool,
    }
}

pin_project! {
    #[project = GateStateProj]
    enum GateState<O, G> {
        // An open path: the inner service alone.
        Open { #[pin] future: O },
        // Authentication, the rule, then the inner service.
        Gated { #[pin] future: G },
    }
}

impl<O, G> GateFuture<O, G> {
    fn new(state: GateState<O, G>, grpc: bool) -> Self {
        Self { state, grpc }
    }
}

impl<O, G, B, E> Future for GateFuture<O, G>
where
    O: Future<Output = Result<Response<B>, E>>,
    G: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.state.project() {
            GateStateProj::Open { future } => ready!(future.poll(cx))?,
            GateStateProj::Gated { future } => ready!(future.poll(cx))?,
        };
        Poll::Ready(Ok(if *this.grpc {
            refusal_as_grpc(response)
        } else {
            response
        }))
    }
}

impl<O, G> fmt::Debug for GateFuture<O, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateFuture")
            .field("grpc", &self.grpc)
            .finish_non_exhaustive()
    }
}
