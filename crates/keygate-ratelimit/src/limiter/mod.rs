//! What decides: the configuration, the in-process limiter and, with the
//! `redis` feature, the shared budget.

#[cfg(feature = "redis")]
pub(crate) mod fallback;
pub(crate) mod local;
#[cfg(feature = "redis")]
pub(crate) mod shared;

use std::sync::Arc;
use std::time::Duration;

use http::{Extensions, HeaderValue};
use keygate_auth::{Anonymous, ApiKeyPrincipal};

use self::local::{Bucket, LocalLimiter, PartitionId};
use crate::headers;
use crate::{Partition, Quota, RateLimited};

/// A limiter's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Accepted; `remaining` more requests fit now, and the budget is whole
    /// again after `reset`.
    Accepted { remaining: u32, reset: Duration },
    /// Refused; the next request fits after `retry_after`.
    Limited { retry_after: Duration },
}

/// The user's closure from a principal to its quota.
pub(crate) type QuotaFn = Arc<dyn Fn(&ApiKeyPrincipal) -> Option<Quota> + Send + Sync>;

/// Where a request's quota comes from.
#[derive(Clone)]
pub(crate) enum QuotaSource {
    Fixed(Quota),
    Per(QuotaFn),
}

/// Whose budget a request spends, and how large it is.
pub(crate) enum Target {
    /// No limit applies.
    Unlimited,
    /// `id`'s budget under `quota`; `partition` is `None` for anonymous requests.
    Limit {
        partition: Option<Partition>,
        id: PartitionId,
        quota: Quota,
    },
    /// Neither a principal nor the anonymous mark: the layer is in front of
    /// authentication.
    Misconfigured,
}

/// The partition id of every anonymous request: one budget for them all.
pub(crate) const ANONYMOUS_ID: &str = "anonymous";

/// What the layer's services share.
pub(crate) struct Limits {
    pub(crate) partition: Partition,
    pub(crate) quoted_name: String,
    pub(crate) quota: QuotaSource,
    pub(crate) anonymous: Option<Quota>,
    pub(crate) headers_on_success: bool,
    pub(crate) local: LocalLimiter,
    #[cfg(feature = "redis")]
    pub(crate) shared: Option<shared::RedisBudget>,
    #[cfg(feature = "redis")]
    pub(crate) fallback: fallback::Fallback,
}

/// What the response future adds to an accepted response, or the refusal.
pub(crate) enum Verdict {
    Accepted(Option<(HeaderValue, HeaderValue)>),
    Limited(Refusal),
}

/// A 429 to be: the refusal and its `RateLimit-Policy` and `RateLimit` values.
pub(crate) struct Refusal {
    refusal: RateLimited,
    policy: HeaderValue,
    remaining: HeaderValue,
}

impl Refusal {
    pub(crate) fn into_response<B: From<bytes::Bytes>>(self) -> http::Response<B> {
        self.refusal.to_response(self.policy, self.remaining)
    }
}

impl Limits {
    /// Whose budget the request behind `extensions` spends.
    pub(crate) fn target(&self, extensions: &Extensions) -> Target {
        if let Some(principal) = extensions.get::<ApiKeyPrincipal>() {
            let quota = match &self.quota {
                QuotaSource::Fixed(quota) => *quota,
                QuotaSource::Per(quota_of) => match quota_of(principal) {
                    Some(quota) => quota,
                    None => return Target::Unlimited,
                },
            };
            return Target::Limit {
                partition: Some(self.partition),
                id: PartitionId(self.partition.id_of(principal).to_owned()),
                quota,
            };
        }
        if extensions.get::<Anonymous>().is_some() {
            return match self.anonymous {
                Some(quota) => Target::Limit {
                    partition: None,
                    id: PartitionId(ANONYMOUS_ID.to_owned()),
                    quota,
                },
                None => Target::Unlimited,
            };
        }
        Target::Misconfigured
    }

    /// The in-process decision.
    pub(crate) fn check_local(
        &self,
        partition: Option<Partition>,
        id: &PartitionId,
        quota: Quota,
    ) -> Verdict {
        let bucket = self.local.bucket(&quota);
        let outcome = bucket.check(id, self.local.prune_interval);
        self.verdict(partition, quota, outcome, &bucket)
    }

    /// The outcome as the response will say it.
    fn verdict(
        &self,
        partition: Option<Partition>,
        quota: Quota,
        outcome: Outcome,
        bucket: &Bucket,
    ) -> Verdict {
        let policy = || bucket.policy.clone();
        match outcome {
            Outcome::Accepted { remaining, reset } => Verdict::Accepted(
                self.headers_on_success
                    .then(|| (policy(), bucket.remaining_value(remaining, reset))),
            ),
            Outcome::Limited { retry_after } => {
                let refusal = RateLimited::new(partition, quota, retry_after);
                let remaining = headers::remaining(
                    &self.quoted_name,
                    0,
                    Duration::from_secs(refusal.retry_after_secs()),
                );
                Verdict::Limited(Refusal {
                    refusal,
                    policy: policy(),
                    remaining,
                })
            }
        }
    }
}

#[cfg(feature = "redis")]
impl Limits {
    /// The shared decision, or the local one when Redis does not answer in time.
    pub(crate) async fn check_shared(
        self: Arc<Self>,
        partition: Option<Partition>,
        id: PartitionId,
        quota: Quota,
    ) -> Verdict {
        let budget = self
            .shared
            .as_ref()
            .expect("only called with a shared budget");
        let outcome = match budget.check(&id.0, &quota).await {
            Some(outcome) => {
                self.fallback.shared_decided();
                outcome
            }
            None => self.fallback.decide(&id, &quota, &"Redis did not answer"),
        };
        let bucket = self.local.bucket(&quota);
        self.verdict(partition, quota, outcome, &bucket)
    }

    /// The fallback's decision, while Redis is left alone.
    pub(crate) fn check_fallback(
        &self,
        partition: Option<Partition>,
        id: &PartitionId,
        quota: Quota,
    ) -> Verdict {
        let outcome = self
            .fallback
            .decide(id, &quota, &"Redis is left alone after a failure");
        let bucket = self.local.bucket(&quota);
        self.verdict(partition, quota, outcome, &bucket)
    }
}
