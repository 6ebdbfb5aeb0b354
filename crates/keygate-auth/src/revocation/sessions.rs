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

    /// Denies session `sid` here until its tokens have expired, and says
    /// until when; `None` when no verifier follows sessions.
    pub(crate) fn revoke(&self, sid: &str) -> Option<keygate_types::Timestamp> {
        #[cfg(feature = "jwt")]
        if let Some(verifier) = &self.verifier {
            let until = verifier.deny_until();
            verifier.session_denylist().deny(sid, until);
            return Some(until);
        }
        let _ = sid;
        None
    }
}
