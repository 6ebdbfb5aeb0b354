//! The request's span and the refusal log line: ids only, never the key.

use tracing::field::Empty;

use crate::cache::CacheOutcome;
use crate::credential::CredentialSource;
use crate::{ApiKeyPrincipal, AuthRejection};

/// The span of a request whose verdict is not known yet: the rest of its
/// fields are recorded as they are found. `DEBUG`, not `INFO`: under a
/// formatting subscriber a span costs a few microseconds, several times a
/// cache hit (`docs/BENCHMARKS.md`), too much to pay on every request by default.
pub(crate) fn pending(source: Option<CredentialSource>) -> tracing::Span {
    tracing::debug_span!(
        "keygate_auth",
        source = source.map(CredentialSource::as_str),
        cache = Empty,
        key_id = Empty,
        owner_id = Empty,
        organization_id = Empty,
    )
}

/// The span of a cache hit: every field is known, so it is made with all of
/// them at once (one formatting pass) rather than a record call each.
pub(crate) fn hit(source: CredentialSource, principal: &ApiKeyPrincipal) -> tracing::Span {
    tracing::debug_span!(
        "keygate_auth",
        source = source.as_str(),
        cache = CacheOutcome::Hit.as_str(),
        key_id = principal.id(),
        owner_id = principal.owner().id(),
        organization_id = principal.organization_id().as_str(),
    )
}

/// Records who is calling on a pending span.
pub(crate) fn record_principal(span: &tracing::Span, principal: &ApiKeyPrincipal) {
    span.record("key_id", principal.id());
    span.record("owner_id", principal.owner().id());
    span.record("organization_id", principal.organization_id().as_str());
}

/// Logs why a request was refused: the reason and status, never the key.
pub(crate) fn log_refusal(rejection: &AuthRejection) {
    tracing::debug!(
        reason = %rejection,
        status = rejection.status().as_u16(),
        "request refused"
    );
}
