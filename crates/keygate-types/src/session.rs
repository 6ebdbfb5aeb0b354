//! AuthKit sessions, as `session.*` events carry them.

use serde::{Deserialize, Serialize};

use crate::{OrganizationId, Timestamp, UserId};

/// A user's AuthKit session: the `data` of a `session.revoked` event. Its
/// `id` is the `sid` claim of every access token issued for the session.
///
/// ```
/// use keygate_types::Session;
///
/// let session: Session = serde_json::from_str(r#"{
///     "object": "session",
///     "id": "session_01HZY3K2J5QW8N7X6V4T3R2P1M",
///     "user_id": "user_01HZY3K2J5QW8N7X6V4T3R2P1M",
///     "organization_id": null,
///     "status": "inactive",
///     "created_at": "2026-01-15T12:00:00.000Z",
///     "updated_at": "2026-01-15T12:05:00.000Z"
/// }"#)?;
/// assert_eq!(session.id, "session_01HZY3K2J5QW8N7X6V4T3R2P1M");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "session")]
pub struct Session {
    /// `session_…`: the access tokens' `sid`.
    pub id: String,
    /// The signed-in user.
    pub user_id: UserId,
    /// The organization the session acts for, if any.
    #[serde(default)]
    pub organization_id: Option<OrganizationId>,
    /// `active`, `inactive` (revoked or signed out), or another state WorkOS adds.
    pub status: String,
    /// When the session started.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}
