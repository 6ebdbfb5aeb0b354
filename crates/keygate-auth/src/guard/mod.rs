//! Permission guards: route layers that let a request through only if its
//! key grants the permissions they name.
//!
//! Guards are synchronous and cheap: they read the
//! [`ApiKeyPrincipal`] that [`ApiKeyAuth`](crate::ApiKeyAuth) put in the
//! request's extensions, compare strings, and either call the inner service
//! (the principal left in place) or answer 403 `insufficient_scope` naming
//! the missing scope. Without the layer in front they answer 500 and log the
//! misconfiguration once; behind the layer's optional mode, a request that
//! sent no key gets 401.

mod service;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use keygate_types::validate_permission;
use tower::Layer;

pub use service::{GuardFuture, GuardService};

use crate::{ApiKeyPrincipal, DefaultRejection};

/// What a guard asks of a principal.
#[derive(Clone)]
pub(crate) struct Requirement {
    pub(crate) permissions: Arc<[Cow<'static, str>]>,
    pub(crate) any: bool,
}

impl Requirement {
    fn new<P: Into<Cow<'static, str>>>(
        permissions: impl IntoIterator<Item = P>,
        any: bool,
    ) -> Self {
        let permissions: Arc<[Cow<'static, str>]> =
            permissions.into_iter().map(Into::into).collect();
        for permission in permissions.iter() {
            if let Err(error) = validate_permission(permission) {
                panic!("invalid permission {permission:?} in a keygate guard: {error}");
            }
        }
        assert!(
            !permissions.is_empty(),
            "a keygate guard needs at least one permission"
        );
        Self { permissions, any }
    }

    pub(crate) fn is_met_by(&self, principal: &ApiKeyPrincipal) -> bool {
        let mut granted = self.permissions.iter().map(|p| principal.has_permission(p));
        if self.any {
            granted.any(|g| g)
        } else {
            granted.all(|g| g)
        }
    }
}

impl fmt::Debug for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Requirement")
            .field("permissions", &self.permissions)
            .field("any", &self.any)
            .finish()
    }
}

macro_rules! guard_layer {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name<R = DefaultRejection> {
            requirement: Requirement,
            on_rejection: R,
        }

        impl $name {
            fn from_requirement(requirement: Requirement) -> Self {
                Self {
                    requirement,
                    on_rejection: DefaultRejection::without_realm(),
                }
            }
        }

        impl<R> $name<R> {
            /// Builds refusals with `on_rejection`, any [`OnRejection`](crate::OnRejection)
            /// such as a closure, instead of the RFC 6750 defaults.
            pub fn on_rejection<R2>(self, on_rejection: R2) -> $name<R2> {
                $name {
                    requirement: self.requirement,
                    on_rejection,
                }
            }
        }

        impl<S, R: Clone> Layer<S> for $name<R> {
            type Service = GuardService<S, R>;

            fn layer(&self, inner: S) -> Self::Service {
                GuardService::new(inner, self.requirement.clone(), self.on_rejection.clone())
            }
        }
    };
}

guard_layer!(
    /// Lets a request through only if its key grants one permission.
    ///
    /// `RequirePermission("posts:write")` for a literal, `RequirePermission::new(slug)`
    /// for a runtime `String`.
    ///
    /// ```
    /// use axum::{Router, routing::{get, post}};
    /// use keygate_auth::{ApiKeyAuth, InMemoryValidator, RequirePermission};
    ///
    /// async fn list_posts() {}
    /// async fn create_post() {}
    ///
    /// let app: Router = Router::new()
    ///     .route("/posts", get(list_posts))
    ///     .route("/posts/new", post(create_post).route_layer(RequirePermission("posts:write")))
    ///     .layer(ApiKeyAuth::new(InMemoryValidator::new()));
    /// # let _ = app;
    /// ```
    ///
    /// # Panics
    ///
    /// When the slug is not a valid permission (see
    /// [`Permission`](keygate_types::Permission)): such a guard could never be met.
    RequirePermission
);

guard_layer!(
    /// Lets a request through only if its key grants **every** permission named.
    ///
    /// ```
    /// use keygate_auth::RequireAllPermissions;
    /// let guard = RequireAllPermissions(["posts:read", "posts:write"]);
    /// # let _ = guard;
    /// ```
    ///
    /// # Panics
    ///
    /// When a slug is invalid, or none is given.
    RequireAllPermissions
);

guard_layer!(
    /// Lets a request through if its key grants **at least one** of the permissions named.
    ///
    /// ```
    /// use keygate_auth::RequireAnyPermission;
    /// let guard = RequireAnyPermission(["posts:admin", "posts:write"]);
    /// # let _ = guard;
    /// ```
    ///
    /// # Panics
    ///
    /// When a slug is invalid, or none is given.
    RequireAnyPermission
);

impl RequirePermission {
    /// A guard for `permission`, known at run time.
    ///
    /// # Panics
    ///
    /// When `permission` is not a valid slug.
    pub fn new(permission: impl Into<Cow<'static, str>>) -> Self {
        Self::from_requirement(Requirement::new([permission.into()], false))
    }
}

impl RequireAllPermissions {
    /// A guard requiring every one of `permissions`.
    ///
    /// # Panics
    ///
    /// When a slug is invalid, or none is given.
    pub fn new<P: Into<Cow<'static, str>>>(permissions: impl IntoIterator<Item = P>) -> Self {
        Self::from_requirement(Requirement::new(permissions, false))
    }
}

impl RequireAnyPermission {
    /// A guard requiring at least one of `permissions`.
    ///
    /// # Panics
    ///
    /// When a slug is invalid, or none is given.
    pub fn new<P: Into<Cow<'static, str>>>(permissions: impl IntoIterator<Item = P>) -> Self {
        Self::from_requirement(Requirement::new(permissions, true))
    }
}

/// `RequirePermission("posts:write")`: the guard for one permission.
#[allow(non_snake_case)]
pub fn RequirePermission(permission: &'static str) -> RequirePermission {
    RequirePermission::new(permission)
}

/// `RequireAllPermissions(["a", "b"])`: the guard requiring every permission.
#[allow(non_snake_case)]
pub fn RequireAllPermissions<P: Into<Cow<'static, str>>>(
    permissions: impl IntoIterator<Item = P>,
) -> RequireAllPermissions {
    RequireAllPermissions::new(permissions)
}

/// `RequireAnyPermission(["a", "b"])`: the guard requiring at least one permission.
#[allow(non_snake_case)]
pub fn RequireAnyPermission<P: Into<Cow<'static, str>>>(
    permissions: impl IntoIterator<Item = P>,
) -> RequireAnyPermission {
    RequireAnyPermission::new(permissions)
}

#[cfg(test)]
mod tests;
