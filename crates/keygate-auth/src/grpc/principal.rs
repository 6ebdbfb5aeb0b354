//! The principal in a tonic handler, as the axum extractors give it.

use tonic::Status;

use crate::extract::principal_or_rejection;
use crate::rejection::InsufficientScope;
use crate::{ApiKeyPrincipal, AuthRejection, PermissionSlug};

/// Reads the [`ApiKeyPrincipal`] that [`ApiKeyAuth`](crate::ApiKeyAuth) put in
/// a tonic request's extensions, with the refusals of the axum extractors as
/// gRPC statuses.
///
/// ```
/// use keygate_auth::ApiKeyPrincipal;
/// use keygate_auth::grpc::RequestPrincipal;
/// use tonic::{Code, Request};
///
/// // In a handler: `let principal = request.principal()?;`
/// let request = Request::new(());
/// // No layer ran: a misconfiguration, 13 INTERNAL.
/// assert_eq!(request.principal().unwrap_err().code(), Code::Internal);
/// ```
pub trait RequestPrincipal {
    /// The principal; 16 `UNAUTHENTICATED` for a request the layer's
    /// optional mode (or a [`GrpcGate`](super::GrpcGate)'s open path) let
    /// through without a key, 13 `INTERNAL` (logged once) when no layer ran.
    fn principal(&self) -> Result<&ApiKeyPrincipal, Status>;

    /// The principal, `None` only when the request sent no key at all.
    fn optional_principal(&self) -> Result<Option<&ApiKeyPrincipal>, Status>;

    /// The principal, when its key grants the permission `P` (declared with
    /// [`permission!`](crate::permission)); otherwise 7 `PERMISSION_DENIED`.
    fn authorized<P: PermissionSlug>(&self) -> Result<&ApiKeyPrincipal, Status>;
}

impl<T> RequestPrincipal for tonic::Request<T> {
    fn principal(&self) -> Result<&ApiKeyPrincipal, Status> {
        principal_or_rejection(self.extensions(), "RequestPrincipal::principal")
            .map_err(|rejection| rejection.grpc_status())
    }

    fn optional_principal(&self) -> Result<Option<&ApiKeyPrincipal>, Status> {
        match principal_or_rejection(self.extensions(), "RequestPrincipal::optional_principal") {
            Ok(principal) => Ok(Some(principal)),
            Err(AuthRejection::MissingCredential) => Ok(None),
            Err(rejection) => Err(rejection.grpc_status()),
        }
    }

    fn authorized<P: PermissionSlug>(&self) -> Result<&ApiKeyPrincipal, Status> {
        let principal = self.principal()?;
        if principal.has_permission(P::SLUG) {
            Ok(principal)
        } else {
            Err(
                AuthRejection::InsufficientScope(InsufficientScope::new(&[P::SLUG], false))
                    .grpc_status(),
            )
        }
    }
}
