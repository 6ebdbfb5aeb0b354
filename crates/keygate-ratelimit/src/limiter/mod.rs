//! What decides: the configuration, the in-process limiter and, with a
//! shared budget, that budget and the local fallback.

pub(crate) mod fallback;
pub(crate) mod local;

use std::sync::Arc;
use std::time::Duration;

use http::{Extensions, HeaderValue};
use keygate_auth::{Anonymous, ApiKeyPrincipal};

use self::fallback::Fallback;
use self::local::{Bucket, LocalLimiter, PartitionId};
use crate::headers;
use crate::{Decision, Partition, Quota, RateLimited, SharedBudget};

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
    pub(crate) shared: Option<Arc<dyn SharedBudget>>,
    pub(crate) fallback: Fallback,
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
    pub(crate) fn into_response<B, T: crate::Refusals<B>>(self) -> http::Response<B> {
        T::limited(&self.refusal, self.policy, self.remaining)
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
        let decision = bucket.check(id, self.local.prune_interval);
        self.verdict(partition, quota, decision, &bucket)
    }

    /// The decision as the response will say it.
    fn verdict(
        &self,
        partition: Option<Partition>,
        quota: Quota,
        decision: Decision,
        bucket: &Bucket,
    ) -> Verdict {
        let policy = || bucket.policy.clone();
        match decision {
            Decision::Accepted { remaining, reset } => Verdict::Accepted(
                self.headers_on_success
                    .then(|| (policy(), bucket.remaining_value(remaining, reset))),
            ),
            Decision::Limited { retry_after } => {
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

impl Limits {
    /// The shared budget's decision, or the fallback's when it cannot decide.
    pub(crate) async fn check_shared(
        self: Arc<Self>,
        budget: Arc<dyn SharedBudget>,
        partition: Option<Partition>,
        id: PartitionId,
        quota: Quota,
    ) -> Verdict {
        let decision = match budget.spend(&id.0, quota).await {
            Ok(decision) => {
                self.fallback.shared_decided();
                decision
            }
            Err(unavailable) => self.fallback.decide(&id, &quota, &unavailable),
        };
        let bucket = self.local.bucket(&quota);
        self.verdict(partition, quota, decision, &bucket)
    }
}
