//! Where `session.revoked` events go: the token verifier's session
//! denylist, when the layer accepts session tokens.

/// The verifier whose session denylist a `session.revoked` event feeds, if any.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sessions {
    #[cfg(feature = "jwt")]
    verifier: Option<crate::jwt::JwtVerifier>,
}

impl Sessions {
    /// Revocations go to `verifier`'s denylist.
    #[cfg(feature = "jwt")]
    pub(crate) fn new(verifier: &crate::jwt::JwtVerifier) -> Self {
        Self {
            verifier: Some(verifier.clone()),
        }
    }

    /// Denies session `sid` until its tokens have expired; `false` when no
    /// verifier follows sessions.
    pub(crate) fn revoke(&self, sid: &str) -> bool {
        #[cfg(feature = "jwt")]
        if let Some(verifier) = &self.verifier {
            verifier.revoke_session(sid);
            return true;
        }
        let _ = sid;
        false
    }
}
