//! What the layer counts, through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`). No exporter comes with it: install the
//! recorder of your choice (Prometheus, StatsD, OpenTelemetry…) and the
//! layer's metrics go there. Without the feature, every call below compiles
//! to nothing.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `keygate_auth_requests_total` | counter | `outcome` | each request through the layer, by its final outcome (below) |
//! | `keygate_auth_cache_total` | counter | `outcome`: `hit`, `miss`, `coalesced`, `stale` | how the request's verdict was found (as on its span); a request whose key service call failed, or that the open breaker refused, records none |
//! | `keygate_auth_key_service_calls_total` | counter | `result`: `valid`, `invalid`, `error` | calls to the key service, each attempt of a retried validation counted; `error` includes timeouts |
//! | `keygate_auth_key_service_call_duration_seconds` | histogram | `result` | how long each of those calls took |
//! | `keygate_auth_breaker_state` | gauge | – | the circuit breaker: `0` closed, `1` half-open, `2` open (set when the layer is built, then on each transition) |
//! | `keygate_auth_breaker_transitions_total` | counter | `to`: `open`, `half_open`, `closed` | the breaker's changes of state |
//! | `keygate_auth_invalidations_total` | counter | `source`: `listener`, `webhook`, `api` | invalidations received: revocation events acted on by the [listener](crate::RevocationListener), deliveries acted on by the [webhook receiver](crate::WebhookReceiver), calls to the layer's `invalidate_*` methods |
//! | `keygate_auth_organization_requests_total` | counter | `organization`: an organization id, or `other` | authenticated requests per organization, under at most [`organization_metrics`](crate::ApiKeyAuthBuilder::organization_metrics) distinct ids per layer (default 100), the rest as `other` |
//!
//! The request outcomes (`outcome` of `keygate_auth_requests_total`):
//!
//! | outcome | status | when |
//! |---|---|---|
//! | `accepted` | your service's | authenticated, and your service answered anything but 403 or 429 |
//! | `anonymous` | your service's | no credential, let through by [optional mode](crate::ApiKeyAuthBuilder::optional) |
//! | `missing_credential` | 401 | no credential (or a scheme other than `Bearer`) |
//! | `malformed_credential` | 400 | a credential that cannot be read |
//! | `invalid_credential` | 401 | unknown, revoked or expired key, or refused by the pre-check |
//! | `forbidden` | 403 | a guard refused the key's permissions, or your service answered 403 |
//! | `rate_limited` | 429 | a rate limiter or your service answered 429 |
//! | `unavailable` | 503 | the key service could not be asked |
//! | `misconfigured` | 500 | a guard or extractor found no principal where one was due |
//!
//! A guard's or extractor's refusal is told apart by the [`AuthRejection`]
//! it carries, so an [`OnRejection`](crate::OnRejection) that answers with
//! other statuses does not change the outcomes.
//!
//! **Cost.** The names and labels are static, built at compile time; each
//! event is one look-up of the installed recorder. An organization's label is
//! built once, when the organization is first seen, and kept with the layer.

#[cfg(feature = "metrics")]
mod organizations;
#[cfg(feature = "metrics")]
mod recorded;
#[cfg(feature = "metrics")]
pub use recorded::DEFAULT_ORGANIZATION_LABELS;
#[cfg(feature = "metrics")]
pub(crate) use recorded::{
    KeyServiceCall, LayerMetrics, MetricsConfig, answered, breaker_built, breaker_moved, cache,
    invalidation, refused,
};

#[cfg(not(feature = "metrics"))]
mod off;
#[cfg(not(feature = "metrics"))]
pub(crate) use off::{
    KeyServiceCall, LayerMetrics, MetricsConfig, answered, breaker_built, breaker_moved, cache,
    invalidation, refused,
};

/// Who a request that reached the inner service came as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    /// With a valid key.
    Key,
    /// Without a credential, in optional mode.
    Anonymous,
}

/// What the key service answered one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallResult {
    /// The key is valid.
    Valid,
    /// The key is definitely not valid.
    Invalid,
    /// No verdict: an error or a timeout.
    Error,
}

/// Where an invalidation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The Events API listener.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    Listener,
    /// The webhook receiver.
    #[cfg_attr(not(feature = "webhooks"), allow(dead_code))]
    Webhook,
    /// The layer's own `invalidate_*` methods.
    Api,
}

#[cfg(test)]
#[cfg(feature = "metrics")]
mod tests;
