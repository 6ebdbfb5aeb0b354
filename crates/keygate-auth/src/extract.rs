//! axum extractors: [`Principal`], `Option<Principal>`, and
//! [`Authorized<P>`] for a permission declared once as a type.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::Extensions;
use http::request::Parts;

use crate::principal::Anonymous;
use crate::rejection::InsufficientScope;
use crate::{AuthRejection, Principal};

/// Logs a missing layer once per process: it is a setup bug, and a log line
/// per request would bury everything else.
fn report_missing_layer(user: &'static str) {
    static REPORTED: AtomicBool = AtomicBool::new(false);
    if !REPORTED.swap(true, Ordering::Relaxed) {
        tracing::error!(
            user,
            "keygate misconfiguration: {user} found no ApiKeyAuth layer in front of it; \
             add `.layer(ApiKeyAuth::new(..))` around the routes (answering 500)"
        );
    }
}

/// The principal the layer left in `extensions`, or why there is none: 401
/// when the layer's optional mode let a credential-less request through, 500
/// (logged once) when no layer ran at all.
pub(crate) fn principal_or_rejection<'a>(
    extensions: &'a Extensions,
    user: &'static str,
) -> Result<&'a Principal, AuthRejection> {
    if let Some(principal) = extensions.get::<Principal>() {
        return Ok(principal);
    }
    if extensions.get::<Anonymous>().is_some() {
        return Err(AuthRejection::MissingCredential);
    }
    report_missing_layer(user);
    Err(AuthRejection::Misconfigured(
        "no ApiKeyAuth layer ran before this route",
    ))
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        principal_or_rejection(&parts.extensions, "the Principal extractor").cloned()
    }
}

/// `Option<Principal>` is `None` only when the request sent no
/// credential at all (which needs the layer's
/// [optional mode](crate::ApiKeyAuthBuilder::optional)); an invalid key never
/// reaches the handler, and a missing layer is still a 500.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match principal_or_rejection(&parts.extensions, "the Option<Principal> extractor") {
            Ok(principal) => Ok(Some(principal.clone())),
            Err(AuthRejection::MissingCredential) => Ok(None),
            Err(rejection) => Err(rejection),
        }
    }
}

/// A permission declared once as a type, for [`Authorized<P>`]. Declare one
/// with [`permission!`](crate::permission).
pub trait PermissionSlug: Send + Sync + 'static {
    /// The slug, such as `"posts:write"`.
    const SLUG: &'static str;
}

/// Declares a [`PermissionSlug`] type; the slug is checked at compile time.
///
/// ```
/// keygate_auth::permission!(
///     /// May publish posts.
///     pub PostsWrite = "posts:write"
/// );
/// use keygate_auth::PermissionSlug;
/// assert_eq!(PostsWrite::SLUG, "posts:write");
/// ```
///
/// An invalid slug does not compile:
///
/// ```compile_fail
/// keygate_auth::permission!(pub Bad = "Posts/Write");
/// ```
#[macro_export]
macro_rules! permission {
    ($(#[$meta:meta])* $vis:vis $name:ident = $slug:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        $vis struct $name;

        impl $crate::PermissionSlug for $name {
            const SLUG: &'static str = {
                assert!(
                    $crate::__private::is_valid_permission($slug),
                    "not a valid permission slug"
                );
                $slug
            };
        }

        const _: &str = <$name as $crate::PermissionSlug>::SLUG;
    };
}

/// The principal, when its key grants the permission `P`; otherwise 403
/// `insufficient_scope` (or 401/500 as for [`Principal`]).
///
/// ```
/// use keygate_auth::{permission, Authorized};
///
/// permission!(pub PostsWrite = "posts:write");
///
/// async fn create_post(who: Authorized<PostsWrite>) -> String {
///     format!("created by {}", who.id())
/// }
/// # let _ = create_post;
/// ```
pub struct Authorized<P> {
    principal: Principal,
    permission: PhantomData<fn() -> P>,
}

impl<P> Authorized<P> {
    /// The principal.
    pub fn into_inner(self) -> Principal {
        self.principal
    }
}

impl<P> Deref for Authorized<P> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<P> Clone for Authorized<P> {
    fn clone(&self) -> Self {
        Self {
            principal: self.principal.clone(),
            permission: PhantomData,
        }
    }
}

impl<P: PermissionSlug> fmt::Debug for Authorized<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorized")
            .field("permission", &P::SLUG)
            .field("principal", &self.principal)
            .finish()
    }
}

impl<S: Send + Sync, P: PermissionSlug> FromRequestParts<S> for Authorized<P> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let principal = principal_or_rejection(&parts.extensions, "the Authorized<P> extractor")?;
        if principal.has_permission(P::SLUG) {
            Ok(Self {
                principal: principal.clone(),
                permission: PhantomData,
            })
        } else {
            Err(AuthRejection::InsufficientScope(InsufficientScope::new(
                &[P::SLUG],
                false,
            )))
        }
    }
}
