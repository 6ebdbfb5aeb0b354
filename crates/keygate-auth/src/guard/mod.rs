//! Permission guards: layers that let a request through only if its key
//! grants the permissions they name.
//!
//! Guards are synchronous and cheap: they read the [`ApiKeyPrincipal`] that
//! [`ApiKeyAuth`](crate::ApiKeyAuth) put in the request's extensions,
//! compare strings, and either call the inner service (the principal left in
//! place) or refuse with 403 `insufficient_scope` naming the missing scope,
//! rendered by the layer in front with its realm. Without the layer in front
//! they answer 500 and log the misconfiguration once; behind the layer's
//! optional mode, a request that sent no key gets 401.
//!
//! Their response body need only be `Default` (tonic's is): the refusal
//! they leave has an empty body, rendered by the layer in front; without a
//! layer, the 500 stands with its status and headers and no body.
//!
//! A guard's slugs are checked when it wraps a service (when the router is
//! built): an invalid one panics there, since such a guard could never be met.

mod future;
mod service;

use tower::Layer;

pub use future::GuardFuture;
pub use service::GuardService;

use crate::extract::principal_or_rejection;
use crate::rejection::InsufficientScope;
use crate::{ApiKeyPrincipal, AuthRejection};
use keygate_types::is_valid_permission;

/// What a guard asks of a principal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Requirement {
    permissions: Permissions,
    pub(crate) any: bool,
}

#[derive(Debug, Clone, Copy)]
enum Permissions {
    One(&'static str),
    Many(&'static [&'static str]),
}

impl Requirement {
    fn checked(permissions: Permissions, any: bool) -> Self {
        let requirement = Self { permissions, any };
        let permissions = requirement.permissions();
        assert!(
            !permissions.is_empty(),
            "a keygate guard needs at least one permission"
        );
        for permission in permissions {
            assert!(
                is_valid_permission(permission),
                "invalid permission {permission:?} in a keygate guard: permissions are 1 to 48 \
                 lowercase letters, digits and `:` `-` `_` `.`"
            );
        }
        requirement
    }

    pub(crate) fn permissions(&self) -> &[&'static str] {
        match &self.permissions {
            Permissions::One(permission) => std::slice::from_ref(permission),
            Permissions::Many(permissions) => permissions,
        }
    }

    /// Lets the request behind `extensions` through, or says why not: 403
    /// for a missing permission, or what [`principal_or_rejection`] says
    /// when there is no principal. `user` names the guard in the
    /// misconfiguration log.
    pub(crate) fn judge(
        &self,
        extensions: &http::Extensions,
        user: &'static str,
    ) -> Result<(), AuthRejection> {
        let principal = principal_or_rejection(extensions, user)?;
        if self.is_met_by(principal) {
            return Ok(());
        }
        tracing::debug!(
            key_id = %principal.id(),
            required = ?self.permissions(),
            "permission missing"
        );
        Err(AuthRejection::InsufficientScope(InsufficientScope::new(
            self.permissions(),
            self.any,
        )))
    }

    pub(crate) fn is_met_by(&self, principal: &ApiKeyPrincipal) -> bool {
        let mut granted = self
            .permissions()
            .iter()
            .map(|p| principal.has_permission(p));
        if self.any {
            granted.any(|g| g)
        } else {
            granted.all(|g| g)
        }
    }
}

/// Lets a request through only if its key grants one permission.
///
/// ```
/// use axum::{Router, routing::{get, post}};
/// use keygate_auth::{ApiKeyAuth, InMemoryValidator, RequirePermission};
///
/// async fn list_posts() {}
/// async fn create_post() {}
///
/// let app: Router = Router::new()
///     .route("/posts", get(list_posts).post(create_post).route_layer(RequirePermission("posts:write")))
///     .layer(ApiKeyAuth::new(InMemoryValidator::new()));
/// # let _ = app;
/// ```
///
/// # Panics
///
/// When it wraps a service, if the slug is not a valid permission (see
/// [`Permission`](keygate_types::Permission)).
#[derive(Debug, Clone, Copy)]
pub struct RequirePermission(pub &'static str);

/// Lets a request through only if its key grants **every** permission named.
///
/// ```
/// use keygate_auth::RequireAllPermissions;
/// let guard = RequireAllPermissions(&["posts:read", "posts:write"]);
/// # let _ = guard;
/// ```
///
/// # Panics
///
/// When it wraps a service, if a slug is invalid or none is given.
#[derive(Debug, Clone, Copy)]
pub struct RequireAllPermissions(pub &'static [&'static str]);

/// Lets a request through if its key grants **at least one** of the permissions named.
///
/// ```
/// use keygate_auth::RequireAnyPermission;
/// let guard = RequireAnyPermission(&["posts:admin", "posts:write"]);
/// # let _ = guard;
/// ```
///
/// # Panics
///
/// When it wraps a service, if a slug is invalid or none is given.
#[derive(Debug, Clone, Copy)]
pub struct RequireAnyPermission(pub &'static [&'static str]);

/// What each guard asks, checked: for the guards' own services and for
/// rules that name a guard, such as gRPC methods' (feature `tonic`).
impl From<RequirePermission> for Requirement {
    fn from(guard: RequirePermission) -> Self {
        Self::checked(Permissions::One(guard.0), false)
    }
}

impl From<RequireAllPermissions> for Requirement {
    fn from(guard: RequireAllPermissions) -> Self {
        Self::checked(Permissions::Many(guard.0), false)
    }
}

impl From<RequireAnyPermission> for Requirement {
    fn from(guard: RequireAnyPermission) -> Self {
        Self::checked(Permissions::Many(guard.0), true)
    }
}

impl<S> Layer<S> for RequirePermission {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService::new(inner, Requirement::from(*self))
    }
}

impl<S> Layer<S> for RequireAllPermissions {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService::new(inner, Requirement::from(*self))
    }
}

impl<S> Layer<S> for RequireAnyPermission {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService::new(inner, Requirement::from(*self))
    }
}

#[cfg(test)]
mod tests;
