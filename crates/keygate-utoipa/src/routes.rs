//! Guarding a utoipa-axum route and documenting it in one call.

use std::convert::Infallible;

use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::Route;
use tower::{Layer, Service};
use utoipa::openapi::path::Paths;
use utoipa_axum::router::UtoipaMethodRouter;

use crate::{Authenticated, RouteSecurity, operation, requirement};

/// Guards and documents the routes of utoipa-axum's
/// [`routes!`](utoipa_axum::routes) with one value, so what a route enforces
/// and what its document says cannot drift apart.
///
/// ```
/// use keygate_auth::{ApiKeyAuth, InMemoryValidator, RequirePermission};
/// use keygate_utoipa::GuardedRoutes;
/// use utoipa_axum::{router::OpenApiRouter, routes};
///
/// #[utoipa::path(post, path = "/posts", responses((status = 201, description = "created")))]
/// async fn create_post() {}
///
/// let (app, openapi): (axum::Router, _) = OpenApiRouter::new()
///     // The guard is layered on the route and written in its operation.
///     .routes(routes!(create_post).require(RequirePermission("posts:write")))
///     .layer(ApiKeyAuth::new(InMemoryValidator::new()))
///     .split_for_parts();
/// let document = serde_json::to_value(&openapi).unwrap();
/// assert_eq!(
///     document["paths"]["/posts"]["post"]["security"],
///     serde_json::json!([{"api_key": ["posts:write"]}])
/// );
/// ```
///
/// Like a route layer, a guard covers every handler of the `routes!` it is
/// called on; calling `require` twice stacks two guards, and the operation
/// then requires both.
pub trait GuardedRoutes: Sized {
    /// Layers `guard` on these routes (as
    /// [`MethodRouter::route_layer`](axum::routing::MethodRouter::route_layer))
    /// and adds its requirements to each of their operations.
    ///
    /// # Panics
    ///
    /// As the guard does when it wraps a route: if one of its permissions is
    /// invalid or it names none.
    fn require<G>(self, guard: G) -> Self
    where
        G: RouteSecurity + Layer<Route> + Clone + Send + Sync + 'static,
        G::Service: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
        <G::Service as Service<Request>>::Response: IntoResponse + 'static,
        <G::Service as Service<Request>>::Future: Send + 'static;

    /// Documents these routes as needing a valid key and no permission, as
    /// they do behind [`ApiKeyAuth`](keygate_auth::ApiKeyAuth) without a guard.
    /// Layers nothing: the authentication layer does the enforcing.
    fn authenticated(self) -> Self;
}

impl<S> GuardedRoutes for UtoipaMethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn require<G>(self, guard: G) -> Self
    where
        G: RouteSecurity + Layer<Route> + Clone + Send + Sync + 'static,
        G::Service: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
        <G::Service as Service<Request>>::Response: IntoResponse + 'static,
        <G::Service as Service<Request>>::Future: Send + 'static,
    {
        let (schemas, mut paths, method_router) = self;
        document(&mut paths, &guard);
        (schemas, paths, method_router.route_layer(guard))
    }

    fn authenticated(self) -> Self {
        let (schemas, mut paths, method_router) = self;
        document(&mut paths, &Authenticated);
        (schemas, paths, method_router)
    }
}

fn document(paths: &mut Paths, route: &impl RouteSecurity) {
    for item in paths.paths.values_mut() {
        for operation in operation::all(item) {
            requirement::require(operation, route);
        }
    }
}
