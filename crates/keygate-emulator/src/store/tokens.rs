//! What the environment's tokens rest on: its client id, the signing keys,
//! M2M applications (with their client secrets' digests) and sessions.
//!
//! Kept like the rest of the state, so a state file keeps them: an
//! application's secret still works after a restart, a revoked session stays
//! revoked, and a token signed before it still verifies against the key set
//! served after it. A reset forgets applications and sessions, not the
//! client id nor the keys: tokens already issued keep their `aud` and `kid`.

use std::collections::BTreeMap;

use keygate_types::{ErrorBody, EventPayload, OrganizationId, Session, Timestamp};
use serde::{Deserialize, Serialize};

use super::{Row, State};
use crate::Error;
use crate::tokens::SigningKey;

/// An M2M application as listed: everything but its client secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Application {
    /// `client_…`: an M2M token's `sub` and `client_id`.
    pub(crate) client_id: String,
    /// A name for people, when one was given.
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// The organization it acts for: a token's `org_id`.
    pub(crate) organization_id: OrganizationId,
    /// The scopes it may be granted.
    pub(crate) scopes: Vec<String>,
    pub(crate) created_at: Timestamp,
}

/// An application and the SHA-256 digest of its client secret (never the secret).
#[derive(Debug, Clone)]
pub(crate) struct ApplicationRecord {
    pub(crate) application: Application,
    pub(crate) secret_digest: [u8; 32],
}

/// An application to register, its secret already digested.
#[derive(Debug)]
pub(crate) struct NewApplication {
    pub(crate) organization_id: String,
    pub(crate) name: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) secret_digest: [u8; 32],
}

/// The token records.
#[derive(Debug, Default)]
pub(crate) struct TokenRecords {
    /// The environment's client id, made on the first start and kept.
    pub(crate) client_id: Option<String>,
    /// Oldest first; the last one signs.
    pub(crate) signing_keys: Vec<SigningKey>,
    pub(crate) applications: BTreeMap<String, ApplicationRecord>,
    /// Every session started, revoked ones included (`status: inactive`).
    pub(crate) sessions: BTreeMap<String, Session>,
}

/// Whether `scope` is an OAuth scope token (RFC 6749 § 3.3): printable
/// ASCII without space, `"` or `\`, since a token's `scope` claim is the
/// scopes joined by spaces.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl State {
    /// The environment's client id, made (and marked to be kept) when there
    /// is none yet.
    pub(crate) fn client_id_or_new(&mut self) -> String {
        if let Some(id) = &self.tokens.client_id {
            return id.clone();
        }
        let id = format!("client_{}", ulid::Ulid::new());
        self.tokens.client_id = Some(id.clone());
        self.changes.settings = true;
        id
    }

    /// Signs with `key` from now on; the older keys stay published.
    pub(crate) fn add_signing_key(&mut self, key: SigningKey) {
        self.changes.touch(Row::SigningKey(key.kid().to_owned()));
        self.tokens.signing_keys.push(key);
    }

    /// Registers an M2M application of an existing organization, with
    /// well-formed scopes and a name that is not blank.
    pub(crate) fn create_application(
        &mut self,
        new: NewApplication,
        now: Timestamp,
    ) -> Result<Application, Error> {
        let organization_id = self
            .directory
            .organization(&new.organization_id)?
            .id
            .clone();
        if new.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(Error::invalid_field(
                "name",
                "name_required",
                "name must not be empty.",
            ));
        }
        if let Some((i, bad)) = new
            .scopes
            .iter()
            .enumerate()
            .find(|(_, s)| !is_scope_token(s))
        {
            return Err(Error::invalid_field(
                &format!("scopes[{i}]"),
                "invalid_scope",
                format!(
                    "scopes[{i}]: '{}' is not an OAuth scope: use printable ASCII without spaces, quotes or backslashes.",
                    bad.escape_debug()
                ),
            ));
        }
        let application = Application {
            client_id: format!("client_{}", ulid::Ulid::new()),
            name: new.name,
            organization_id,
            scopes: new.scopes,
            created_at: now,
        };
        self.changes
            .touch(Row::M2mApplication(application.client_id.clone()));
        self.tokens.applications.insert(
            application.client_id.clone(),
            ApplicationRecord {
                application: application.clone(),
                secret_digest: new.secret_digest,
            },
        );
        Ok(application)
    }

    /// The M2M applications, oldest first, of `organization` when given
    /// (which must exist).
    pub(crate) fn applications(
        &self,
        organization: Option<&str>,
    ) -> Result<Vec<Application>, Error> {
        if let Some(org) = organization {
            self.directory.organization(org)?;
        }
        let mut list: Vec<Application> = self
            .tokens
            .applications
            .values()
            .map(|r| &r.application)
            .filter(|a| organization.is_none_or(|org| a.organization_id.as_str() == org))
            .cloned()
            .collect();
        list.sort_by(|a, b| (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id)));
        Ok(list)
    }

    /// Keeps a session just started.
    pub(crate) fn start_session(&mut self, session: Session) {
        self.changes.touch(Row::Session(session.id.clone()));
        self.tokens.sessions.insert(session.id.clone(), session);
    }

    /// Ends session `id` and records `session.revoked` (so webhooks get it),
    /// in one step. **decision**: revoking a revoked session is refused
    /// (400 `session_already_revoked`) and records no second event.
    pub(crate) fn revoke_session(&mut self, id: &str, now: Timestamp) -> Result<(), Error> {
        let Some(session) = self.tokens.sessions.get_mut(id) else {
            return Err(Error::BadRequest(ErrorBody::new(
                "session_not_found",
                format!("Session not found: '{id}'."),
            )));
        };
        if session.status != "active" {
            return Err(Error::BadRequest(ErrorBody::new(
                "session_already_revoked",
                format!("Session '{id}' is already revoked."),
            )));
        }
        session.status = "inactive".to_owned();
        session.updated_at = now;
        let revoked = session.clone();
        self.changes.touch(Row::Session(id.to_owned()));
        self.record(EventPayload::SessionRevoked(revoked), now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_scope_token;

    #[test]
    fn scope_tokens_are_printable_ascii_without_space_quote_or_backslash() {
        for good in ["posts:read", "a", "https://api.example.com/read", "!#[]~"] {
            assert!(is_scope_token(good), "{good}");
        }
        for bad in ["", "posts read", "a\"b", "a\\b", "é", "tab\t", "new\nline"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }
}
