//! The claims keygate reads, and the principal they make.
//!
//! | claim | M2M token | session token |
//! |---|---|---|
//! | `iss` | one of the trusted issuers for M2M | one of the trusted issuers for sessions |
//! | `aud` | must name the configured client id | not checked (as WorkOS's SDKs), unless configured |
//! | `sub` | the application's client id → [`Principal::id`] | the user, `user_…` → [`Principal::user_id`] |
//! | `sid` | absent (its absence makes a token M2M) | the session → [`Principal::session_id`] |
//! | `org_id` | required → [`Principal::organization_id`] | required → [`Principal::organization_id`] |
//! | permissions | `scope`, split on spaces | `permissions` |
//! | `exp` | required, with the leeway | required, with the leeway; at most the maximum lifetime after `iat` |
//! | `nbf`, `iat` | if present, not in the future beyond the leeway | the same |
//!
//! A token without `org_id` is refused: a keygate principal always acts for
//! an organization, whatever its credential.

use keygate_types::{OrganizationId, Timestamp, UserId};
use serde::Deserialize;

use crate::TokenRefusal;
use crate::principal::{Principal, PrincipalKind};

/// `aud`: one string or a list of them.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub(crate) fn names(&self, audience: &str) -> bool {
        match self {
            Audience::None => false,
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

/// The registered and WorkOS claims keygate reads; the others are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct Claims {
    pub(crate) iss: Option<String>,
    pub(crate) sub: Option<String>,
    #[serde(default)]
    pub(crate) aud: Audience,
    pub(crate) exp: Option<f64>,
    pub(crate) nbf: Option<f64>,
    pub(crate) iat: Option<f64>,
    pub(crate) sid: Option<String>,
    pub(crate) org_id: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) permissions: Option<Vec<String>>,
}

impl Claims {
    pub(crate) fn read(payload: &[u8]) -> Result<Self, TokenRefusal> {
        serde_json::from_slice(payload).map_err(|_| TokenRefusal::Malformed)
    }

    /// Which kind of token: a `sid` makes it a session's.
    pub(crate) fn kind(&self) -> PrincipalKind {
        if self.sid.is_some() {
            PrincipalKind::Session
        } else {
            PrincipalKind::M2m
        }
    }

    /// `exp` as a timestamp (whole seconds).
    pub(crate) fn expires_at(&self) -> Result<Timestamp, TokenRefusal> {
        self.exp.and_then(seconds).ok_or(TokenRefusal::Claim("exp"))
    }

    /// The principal these (verified) claims describe.
    pub(crate) fn principal(self) -> Result<Principal, TokenRefusal> {
        let expires_at = self.expires_at()?;
        let organization = self
            .org_id
            .filter(|o| !o.is_empty())
            .map(OrganizationId::new_unchecked)
            .ok_or(TokenRefusal::Claim("org_id"))?;
        let subject = self
            .sub
            .filter(|s| !s.is_empty())
            .ok_or(TokenRefusal::Claim("sub"))?;
        match self.sid {
            Some(sid) => {
                if sid.is_empty() {
                    return Err(TokenRefusal::Claim("sid"));
                }
                let user = UserId::new_unchecked(subject);
                let permissions = self.permissions.unwrap_or_default();
                Ok(Principal::session(
                    user,
                    organization,
                    sid,
                    permissions,
                    expires_at,
                ))
            }
            None => {
                let permissions = self
                    .scope
                    .as_deref()
                    .unwrap_or("")
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                Ok(Principal::m2m(
                    subject,
                    organization,
                    permissions,
                    expires_at,
                ))
            }
        }
    }
}

/// A NumericDate (seconds since the epoch, maybe fractional) as a timestamp.
pub(crate) fn seconds(at: f64) -> Option<Timestamp> {
    if !at.is_finite() {
        return None;
    }
    // Truncation is what RFC 7519 § 2 allows for a NumericDate's fraction.
    #[allow(clippy::cast_possible_truncation)]
    Timestamp::from_unix_timestamp(at.floor() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Claims {
        Claims::read(json.as_bytes()).unwrap()
    }

    #[test]
    fn an_m2m_scope_is_split_into_permissions() {
        let principal = claims(
            r#"{"sub":"client_1","org_id":"org_1","scope":"posts:read  posts:write","exp":2000000000}"#,
        )
        .principal()
        .unwrap();
        assert_eq!(principal.kind(), PrincipalKind::M2m);
        assert_eq!(principal.id(), "client_1");
        assert_eq!(principal.organization_id(), "org_1");
        assert_eq!(principal.permissions(), ["posts:read", "posts:write"]);
        assert!(principal.has_permission("posts:write"));
        assert!(!principal.has_permission("posts"));
        assert_eq!(principal.session_id(), None);
        assert_eq!(principal.user_id(), None);
    }

    #[test]
    fn a_session_carries_its_user_session_and_permissions() {
        let principal = claims(
            r#"{"sub":"user_1","sid":"session_1","org_id":"org_1","permissions":["posts:read"],
                "role":"member","exp":2000000000}"#,
        )
        .principal()
        .unwrap();
        assert_eq!(principal.kind(), PrincipalKind::Session);
        assert_eq!(principal.id(), "user_1");
        assert_eq!(principal.user_id().unwrap(), "user_1");
        assert_eq!(principal.session_id(), Some("session_1"));
        assert_eq!(principal.permissions(), ["posts:read"]);
        // A session's scope is not its permissions.
        let principal = claims(
            r#"{"sub":"user_1","sid":"s","org_id":"o","scope":"posts:write","exp":2000000000}"#,
        )
        .principal()
        .unwrap();
        assert!(!principal.has_permission("posts:write"));
    }

    #[test]
    fn a_token_without_organization_subject_or_expiry_is_refused() {
        let refused = |json: &str| claims(json).principal().unwrap_err();
        assert_eq!(
            refused(r#"{"sub":"client_1","exp":2000000000}"#),
            TokenRefusal::Claim("org_id")
        );
        assert_eq!(
            refused(r#"{"org_id":"org_1","exp":2000000000}"#),
            TokenRefusal::Claim("sub")
        );
        assert_eq!(
            refused(r#"{"sub":"client_1","org_id":"org_1"}"#),
            TokenRefusal::Claim("exp")
        );
        assert_eq!(
            Claims::read(br#"{"sub":1}"#).unwrap_err(),
            TokenRefusal::Malformed
        );
    }
}
