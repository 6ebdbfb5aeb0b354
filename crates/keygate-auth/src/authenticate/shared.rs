//! What a layer and all the services it makes share.

use std::sync::Arc;

use crate::credential::{CredentialConfig, Precheck};
use crate::rejection::Refusals;
use crate::verdicts::Verdicts;

/// What the layer's services share.
pub(crate) struct Shared<V, R> {
    /// Where verdicts come from: cache, upstream guard, validator.
    pub(crate) verdicts: Arc<Verdicts<V>>,
    pub(crate) refusals: Arc<Refusals<R>>,
    pub(crate) credentials: CredentialConfig,
    pub(crate) precheck: Option<Precheck>,
    pub(crate) optional: bool,
    /// Verifies M2M and session access tokens, when the layer accepts them.
    #[cfg(feature = "jwt")]
    pub(crate) tokens: Option<crate::jwt::JwtVerifier>,
    /// Stops the revocation listener when the last layer or service goes.
    #[cfg(feature = "client")]
    pub(crate) listener: Option<crate::revocation::ListenerHandle>,
}
