//! What one event does to the cache, for the listener and the webhook
//! receiver alike: one rule for both.

use keygate_types::{
    API_KEY_REVOKED, API_KEY_UPDATED, Event, EventPayload, ORGANIZATION_MEMBERSHIP_DELETED,
    ORGANIZATION_MEMBERSHIP_UPDATED, SESSION_REVOKED,
};

use super::sessions::Sessions;

use crate::VerdictCache;
use crate::tier::{Invalidation, NotPassedOn};

/// The events that can end a cached verdict: a key deleted or re-expired,
/// a membership deactivated or deleted (which ends its user's keys in that
/// organization), a session revoked (which ends its access tokens).
pub(crate) const FOLLOWED: [&str; 5] = [
    API_KEY_REVOKED,
    API_KEY_UPDATED,
    ORGANIZATION_MEMBERSHIP_UPDATED,
    ORGANIZATION_MEMBERSHIP_DELETED,
    SESSION_REVOKED,
];

/// What [`apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// A key's verdict, by id.
    Key,
    /// The verdicts of a member's keys in an organization (how many).
    Membership(usize),
    /// A session's access tokens, by `sid`.
    Session,
    /// A followed event whose data could not be read: every verdict, since
    /// which key it ended cannot be known.
    Everything,
    /// Nothing: the event ends no verdict.
    Nothing,
}

/// Invalidates what `event` ends, here and (in fleet mode) on every replica.
/// An error means the fleet may not have heard of it; this process has.
pub(crate) async fn apply(
    cache: &VerdictCache,
    sessions: &Sessions,
    event: &Event,
) -> Result<Effect, NotPassedOn> {
    let payload = &event.payload;
    let name = payload.name();
    if name == SESSION_REVOKED {
        return revoke_session(cache, sessions, event).await;
    }
    if let Some(key) = payload.api_key()
        && matches!(name, API_KEY_REVOKED | API_KEY_UPDATED)
    {
        cache.invalidate(Invalidation::Id(key.id.clone())).await?;
        tracing::debug!(event_id = %event.id, key_id = %key.id, event = name, "revocation event: cache invalidated");
        return Ok(Effect::Key);
    }
    if let Some(membership) = payload.ended_membership() {
        let forgotten = cache
            .invalidate(Invalidation::Membership {
                user: membership.user_id.clone(),
                organization: membership.organization_id.clone(),
            })
            .await?;
        tracing::debug!(
            event_id = %event.id,
            membership_id = %membership.id,
            user_id = %membership.user_id,
            organization_id = %membership.organization_id,
            status = ?membership.status,
            event = name,
            forgotten,
            "membership ended: its user's keys in that organization invalidated"
        );
        return Ok(Effect::Membership(forgotten));
    }
    if let EventPayload::Malformed { error, .. } = payload
        && FOLLOWED.contains(&name)
    {
        tracing::warn!(
            event_id = %event.id,
            event = name,
            error = %error,
            "revocation event with unreadable data: skipped, and every cached verdict forgotten"
        );
        cache.invalidate(Invalidation::All).await?;
        return Ok(Effect::Everything);
    }
    Ok(Effect::Nothing)
}

/// Denies a revoked session's tokens. A `session.revoked` whose data cannot
/// be read names no session to deny: it is logged, and API-key verdicts are
/// left alone (they do not depend on sessions).
/// Denied here first, then logged for the fleet ([`Invalidation::Session`]).
async fn revoke_session(
    cache: &VerdictCache,
    sessions: &Sessions,
    event: &Event,
) -> Result<Effect, NotPassedOn> {
    let Some(session) = event.payload.revoked_session() else {
        tracing::warn!(event_id = %event.id, "session.revoked with unreadable data: skipped");
        return Ok(Effect::Nothing);
    };
    let Some(until) = sessions.revoke(&session.id) else {
        return Ok(Effect::Nothing);
    };
    cache
        .invalidate(Invalidation::Session {
            sid: session.id.clone(),
            until,
        })
        .await?;
    tracing::debug!(event_id = %event.id, session_id = %session.id, "session revoked: its tokens are denied");
    Ok(Effect::Session)
}
