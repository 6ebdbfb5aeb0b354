//! With the `metrics` feature: each event goes to the installed recorder,
//! under keys built at compile time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::metrics::{Key, KeyName, Label, Level, Metadata, Recorder, SharedString, Unit};
use http::{Response, StatusCode};

use super::organizations::{ORGANIZATION_REQUESTS, Organizations};
use super::{CallResult, Caller, Source};
use crate::cache::CacheOutcome;
use crate::upstream::BreakerState;
use crate::{ApiKeyPrincipal, AuthRejection};

/// The default bound on distinct organization labels, per layer (see
/// [`organization_metrics`](crate::ApiKeyAuthBuilder::organization_metrics)).
pub const DEFAULT_ORGANIZATION_LABELS: usize = 100;

pub(super) const REQUESTS: &str = "keygate_auth_requests_total";
pub(super) const CACHE: &str = "keygate_auth_cache_total";
pub(super) const CALLS: &str = "keygate_auth_key_service_calls_total";
pub(super) const CALL_DURATION: &str = "keygate_auth_key_service_call_duration_seconds";
pub(super) const BREAKER_STATE: &str = "keygate_auth_breaker_state";
pub(super) const BREAKER_TRANSITIONS: &str = "keygate_auth_breaker_transitions_total";
pub(super) const INVALIDATIONS: &str = "keygate_auth_invalidations_total";
pub(super) const CREDENTIALS: &str = "keygate_auth_credentials_total";

pub(super) static METADATA: Metadata<'static> =
    Metadata::new("keygate_auth", Level::INFO, Some(module_path!()));

/// A key with one label, built at compile time.
macro_rules! key {
    ($name:expr, $label:literal => $value:literal) => {{
        static LABELS: [Label; 1] = [Label::from_static_parts($label, $value)];
        Key::from_static_parts($name, &LABELS)
    }};
}

/// One key per label value, in the order given.
macro_rules! keys {
    ($name:expr, $label:literal => [$($value:literal),+ $(,)?]) => {
        [$(key!($name, $label => $value)),+]
    };
}

/// A request's final outcome, in the order of [`OUTCOMES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Anonymous,
    MissingCredential,
    MalformedCredential,
    InvalidCredential,
    Forbidden,
    RateLimited,
    Unavailable,
    Misconfigured,
}

static OUTCOMES: [Key; 9] = keys!(REQUESTS, "outcome" => [
    "accepted",
    "anonymous",
    "missing_credential",
    "malformed_credential",
    "invalid_credential",
    "forbidden",
    "rate_limited",
    "unavailable",
    "misconfigured",
]);
static CACHE_OUTCOMES: [Key; 4] = keys!(CACHE, "outcome" => ["hit", "miss", "coalesced", "stale"]);
static CALL_RESULTS: [Key; 3] = keys!(CALLS, "result" => ["valid", "invalid", "error"]);
static CALL_DURATIONS: [Key; 3] = keys!(CALL_DURATION, "result" => ["valid", "invalid", "error"]);
static TRANSITIONS: [Key; 3] = keys!(BREAKER_TRANSITIONS, "to" => ["open", "half_open", "closed"]);
static SOURCES: [Key; 3] = keys!(INVALIDATIONS, "source" => ["listener", "webhook", "api"]);
/// By [`PrincipalKind`](crate::PrincipalKind), in its order.
static CREDENTIAL_KINDS: [Key; 3] =
    keys!(CREDENTIALS, "credential" => ["api_key", "m2m", "session"]);
static BREAKER: Key = Key::from_static_name(BREAKER_STATE);

pub(super) fn increment(key: &Key) {
    ::metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA).increment(1));
}

impl Outcome {
    /// By the rejection's own status, so an `OnRejection` answering with
    /// other statuses does not change it.
    fn of(rejection: &AuthRejection) -> Self {
        match rejection.status() {
            StatusCode::UNAUTHORIZED if matches!(rejection, AuthRejection::InvalidToken(_)) => {
                Self::InvalidCredential
            }
            StatusCode::UNAUTHORIZED => Self::MissingCredential,
            StatusCode::BAD_REQUEST => Self::MalformedCredential,
            StatusCode::FORBIDDEN => Self::Forbidden,
            StatusCode::TOO_MANY_REQUESTS => Self::RateLimited,
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable,
            _ => Self::Misconfigured,
        }
    }

    fn record(self) {
        increment(&OUTCOMES[self as usize]);
    }
}

/// The layer refused the request itself.
pub(crate) fn refused(rejection: &AuthRejection) {
    Outcome::of(rejection).record();
}

/// The inner service answered `response` (a guard's refusal rendered by the
/// layer included).
pub(crate) fn answered<B>(response: &Response<B>, caller: Caller) {
    let outcome = match response.extensions().get::<AuthRejection>() {
        Some(rejection) => Outcome::of(rejection),
        None => match (response.status(), caller) {
            (StatusCode::FORBIDDEN, _) => Outcome::Forbidden,
            (StatusCode::TOO_MANY_REQUESTS, _) => Outcome::RateLimited,
            (_, Caller::Key) => Outcome::Accepted,
            (_, Caller::Anonymous) => Outcome::Anonymous,
        },
    };
    outcome.record();
}

/// How a request's verdict was found.
pub(crate) fn cache(outcome: CacheOutcome) {
    let index = match outcome {
        CacheOutcome::Hit => 0,
        CacheOutcome::Miss => 1,
        CacheOutcome::Coalesced => 2,
        CacheOutcome::Stale => 3,
    };
    increment(&CACHE_OUTCOMES[index]);
}

/// An invalidation received from `source`.
pub(crate) fn invalidation(source: Source) {
    increment(&SOURCES[source as usize]);
}

fn breaker_gauge(state: BreakerState) {
    let value = match state {
        BreakerState::Closed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open => 2.0,
    };
    ::metrics::with_recorder(|recorder| recorder.register_gauge(&BREAKER, &METADATA).set(value));
}

/// A breaker was made: closed.
pub(crate) fn breaker_built() {
    breaker_gauge(BreakerState::Closed);
}

/// The breaker moved to `to`.
pub(crate) fn breaker_moved(to: BreakerState) {
    let index = match to {
        BreakerState::Open => 0,
        BreakerState::HalfOpen => 1,
        BreakerState::Closed => 2,
    };
    increment(&TRANSITIONS[index]);
    breaker_gauge(to);
}

/// One call to the key service, timed from [`start`](Self::start).
#[derive(Debug)]
pub(crate) struct TimedCall {
    started: Instant,
}

impl TimedCall {
    pub(crate) fn start() -> Self {
        Self {
            started: Instant::now(),
        }
    }

    pub(crate) fn finish(self, result: CallResult) {
        let took: Duration = self.started.elapsed();
        increment(&CALL_RESULTS[result as usize]);
        ::metrics::with_recorder(|recorder| {
            recorder
                .register_histogram(&CALL_DURATIONS[result as usize], &METADATA)
                .record(took.as_secs_f64());
        });
    }
}

/// The layer's metrics settings, from its builder.
#[derive(Debug, Clone)]
pub(crate) struct MetricsConfig {
    pub(crate) organizations: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            organizations: DEFAULT_ORGANIZATION_LABELS,
        }
    }
}

/// What one layer keeps for its metrics: the organizations it labels.
#[derive(Debug, Clone)]
pub(crate) struct LayerMetrics {
    organizations: Arc<Organizations>,
}

impl LayerMetrics {
    /// Describes the metrics to the recorder installed now, if any.
    pub(crate) fn new(config: &MetricsConfig) -> Self {
        ::metrics::with_recorder(describe);
        Self {
            organizations: Arc::new(Organizations::new(config.organizations)),
        }
    }

    /// A request authenticated as `principal`.
    pub(crate) fn authenticated(&self, principal: &ApiKeyPrincipal) {
        increment(
            &CREDENTIAL_KINDS[match principal.kind() {
                crate::PrincipalKind::ApiKey => 0,
                crate::PrincipalKind::M2m => 1,
                crate::PrincipalKind::Session => 2,
            }],
        );
        self.organizations
            .count(principal.organization_id().as_str(), increment);
    }
}

fn describe(recorder: &dyn Recorder) {
    let counters: [(&'static str, &'static str); 7] = [
        (
            REQUESTS,
            "Requests through the keygate layer, by final outcome.",
        ),
        (CACHE, "How each request's key verdict was found."),
        (CALLS, "Calls to the key service, by result."),
        (BREAKER_TRANSITIONS, "Circuit breaker changes of state."),
        (INVALIDATIONS, "Cache invalidations received, by source."),
        (
            CREDENTIALS,
            "Authenticated requests by credential: API key, M2M token, session token.",
        ),
        (
            ORGANIZATION_REQUESTS,
            "Authenticated requests per organization (bounded; the rest as `other`).",
        ),
    ];
    for (name, help) in counters {
        recorder.describe_counter(
            KeyName::from_const_str(name),
            Some(Unit::Count),
            SharedString::const_str(help),
        );
    }
    recorder.describe_histogram(
        KeyName::from_const_str(CALL_DURATION),
        Some(Unit::Seconds),
        SharedString::const_str("Duration of each call to the key service."),
    );
    recorder.describe_gauge(
        KeyName::from_const_str(BREAKER_STATE),
        None,
        SharedString::const_str("Circuit breaker: 0 closed, 1 half-open, 2 open."),
    );
}
