//! Without the `metrics` feature: the same calls, doing nothing.

use http::Response;

use super::{CallResult, Caller, Source};
use crate::cache::CacheOutcome;
use crate::upstream::BreakerState;
use crate::{ApiKeyPrincipal, AuthRejection};

/// Nothing to configure (braced, so that `MetricsConfig::default()` reads
/// the same with and without the feature).
#[derive(Debug, Clone, Default)]
pub(crate) struct MetricsConfig {}

/// Nothing to keep.
#[derive(Debug, Clone, Default)]
pub(crate) struct LayerMetrics;

impl LayerMetrics {
    #[inline(always)]
    pub(crate) fn new(_config: &MetricsConfig) -> Self {
        Self
    }

    #[inline(always)]
    pub(crate) fn authenticated(&self, _principal: &ApiKeyPrincipal) {}
}

#[inline(always)]
pub(crate) fn refused(_rejection: &AuthRejection) {}

#[inline(always)]
pub(crate) fn answered<B>(_response: &Response<B>, _caller: Caller) {}

#[inline(always)]
pub(crate) fn cache(_outcome: CacheOutcome) {}

#[inline(always)]
pub(crate) fn invalidation(_source: Source) {}

#[inline(always)]
pub(crate) fn breaker_built() {}

#[inline(always)]
pub(crate) fn breaker_moved(_to: BreakerState) {}

/// No clock read.
#[derive(Debug)]
pub(crate) struct TimedCall;

impl TimedCall {
    #[inline(always)]
    pub(crate) fn start() -> Self {
        Self
    }

    #[inline(always)]
    pub(crate) fn finish(self, _result: CallResult) {}
}
