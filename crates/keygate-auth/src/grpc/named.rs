//! tonic's [`NamedService`] for keygate's services, so that a service
//! wrapped in a guard (or in an `ApiKeyAuth` of its own) is added to a
//! tonic `Server` or `Routes` under its own name.

use tonic::server::NamedService;

use super::gate::GrpcGateService;
use crate::{ApiKeyAuthService, GuardService};

/// A guard around one tonic service: `add_service(RequirePermission("echo:say").layer(EchoServer::new(echo)))`.
impl<S: NamedService> NamedService for GuardService<S> {
    const NAME: &'static str = S::NAME;
}

impl<S: NamedService, V, R> NamedService for ApiKeyAuthService<S, V, R> {
    const NAME: &'static str = S::NAME;
}

impl<S: NamedService, V, R> NamedService for GrpcGateService<S, V, R> {
    const NAME: &'static str = S::NAME;
}
