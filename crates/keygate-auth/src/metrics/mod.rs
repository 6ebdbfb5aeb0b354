//! What the layer counts, through the `metrics` facade (feature
//! `metrics`). The names and label values live in `recorded.rs`; without the
//! feature the same calls do nothing (`off.rs`). The table of metrics, what
//! each counts and the outcomes, is `docs/metrics.md`: the crate docs'
//! "Metrics" section, and the one place to change when a metric changes.

#[cfg(feature = "metrics")]
mod organizations;
#[cfg(feature = "metrics")]
mod recorded;
#[cfg(feature = "metrics")]
pub use recorded::DEFAULT_ORGANIZATION_LABELS;
#[cfg(feature = "metrics")]
pub(crate) use recorded::{
    LayerMetrics, MetricsConfig, TimedCall, answered, breaker_built, breaker_moved, cache,
    invalidation, refused,
};

#[cfg(not(feature = "metrics"))]
mod off;
#[cfg(not(feature = "metrics"))]
pub(crate) use off::{
    LayerMetrics, MetricsConfig, TimedCall, answered, breaker_built, breaker_moved, cache,
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
