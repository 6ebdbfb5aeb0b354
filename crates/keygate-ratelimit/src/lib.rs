//! Per-key rate limits for keygate: a tower layer that runs behind
//! [`ApiKeyAuth`](keygate_auth::ApiKeyAuth) and holds each API key, owner
//! or organization to a quota.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use keygate_auth::{ApiKeyAuth, InMemoryValidator};
//! use keygate_ratelimit::{Quota, RateLimit, RateLimited};
//! use keygate_types::{OrganizationId, Owner};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let keys = InMemoryValidator::new();
//! let org = Owner::Organization { id: OrganizationId::new_unchecked("org_01HZY3K2J5QW8N7X6V4T3R2P1M") };
//! let (key, _) = keys.issue("ci", org, ["posts:read"]);
//!
//! let app = Router::new()
//!     .route("/posts", get(|| async { "posts" }))
//!     .layer(RateLimit::per_key(Quota::per_second(10))) // runs second
//!     .layer(ApiKeyAuth::new(keys));                    // runs first
//!
//! let get = || {
//!     Request::get("/posts")
//!         .header("authorization", format!("Bearer {}", key.expose_secret()))
//!         .body(Body::empty())
//!         .unwrap()
//! };
//! for _ in 0..10 {
//!     let response = app.clone().oneshot(get()).await.unwrap();
//!     assert_eq!(response.status(), StatusCode::OK);
//! }
//! let refused = app.clone().oneshot(get()).await.unwrap();
//! assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(refused.headers()["retry-after"], "1");
//! assert_eq!(refused.headers()["ratelimit-policy"], r#""per-key";q=10;w=1"#);
//! assert_eq!(refused.headers()["ratelimit"], r#""per-key";r=0;t=1"#);
//! // The refusal itself, for an outer layer to inspect.
//! let limited = refused.extensions().get::<RateLimited>().unwrap();
//! assert_eq!(limited.quota(), Quota::per_second(10));
//! # }
//! ```
//!
//! # Where it goes
//!
//! Behind authentication: it reads the [`ApiKeyPrincipal`](keygate_auth::ApiKeyPrincipal)
//! that `ApiKeyAuth` put in the request's extensions. In axum the last
//! `.layer` runs first, so add the rate limit before `ApiKeyAuth`, as
//! above. A request that reaches it with neither a principal nor
//! `ApiKeyAuth`'s anonymous mark is answered 500 (and logged once as a
//! misconfiguration), never let through unlimited. Refusals of `ApiKeyAuth`
//! itself (400, 401, 503) never reach it, so they spend no budget. Guards
//! mounted with `.route_layer(…)` run after it: a request refused 403 for a
//! missing permission has spent one request of its budget. Requests it
//! refuses never reach your handler.
//!
//! # Quotas and partitions
//!
//! A [`Quota`] is a GCRA rate (`Quota::per_second(10)`, `per_minute`,
//! `per_hour`, `Quota::new(count, window_secs)`) with a burst (by default
//! the count). A [`Partition`] says whose budget a request spends: the key's
//! (default), the owner's, or the organization's. A closure
//! ([`quota_for`](RateLimitBuilder::quota_for)) may choose each principal's
//! quota, from its permissions or its key, or `None` for no limit.
//!
//! Anonymous requests (an `ApiKeyAuth` in
//! [optional mode](keygate_auth::ApiKeyAuthBuilder::optional) let them
//! through without a key) are not limited, unless
//! [`anonymous`](RateLimitBuilder::anonymous) gives them one quota, shared
//! by all of them.
//!
//! # What callers get back
//!
//! The IETF `RateLimit-Policy` and `RateLimit` fields of
//! draft-ietf-httpapi-ratelimit-headers (the form of drafts 09 to 11:
//! Structured Field lists, a quoted policy name with parameters):
//!
//! | response | headers | body |
//! |---|---|---|
//! | accepted | `RateLimit-Policy: "per-key";q=10;w=1`, `RateLimit: "per-key";r=7;t=1` (`r`: requests left now; `t`: seconds until the budget is whole) | yours |
//! | refused | 429, `Retry-After: 1`, `RateLimit-Policy: …`, `RateLimit: "per-key";r=0;t=1` | `{"error":"rate_limited","error_description":"…"}` |
//!
//! The 429 carries a [`RateLimited`] in its extensions. Accepted responses
//! carry the headers by default, as most APIs that limit do (clients slow
//! down before they are refused);
//! [`headers_on_success(false)`](RateLimitBuilder::headers_on_success)
//! turns them off.
//!
//! # gRPC (feature `tonic`)
//!
//! In front of tonic services alone, `RateLimit::grpc` refuses with a
//! trailers-only 8 `RESOURCE_EXHAUSTED` (`RateLimited::grpc_status`: when
//! to retry as `google.rpc.RetryInfo` and `grpc-retry-pushback-ms`, the
//! `RateLimit` fields as metadata); its body need only be `Default`. On a
//! server that answers REST and gRPC alike, keep the `RateLimit` itself
//! behind keygate-auth's `grpc::GrpcGate`: each 429 carries the same status
//! in its extensions, and the gate answers gRPC calls with it.
//!
//! # Cost
//!
//! In process, on a shared 2-core VM (`benches/limiter_cost`, 31 paired
//! rounds against `ApiKeyAuth` alone on a cache hit, two runs), the limiter
//! adds 0.15 to 0.26 µs to an accepted request, and the two headers about
//! 0.1 µs more: up to a burst of 256 their values are made once per quota,
//! not per request. A refusal (429 with its JSON body) costs about 2.5 µs
//! in all, authentication included.
//!
//! # Memory
//!
//! In process, each quota has one `governor` keyed limiter (a `DashMap`
//! from each partition's id to 8 bytes of GCRA state). Only authenticated principals
//! reach it, so the partitions are bounded by the keys, owners or
//! organizations that exist. Partitions whose budget is whole again are
//! indistinguishable from new ones, and are pruned: every 256th check on a
//! limiter looks at the clock and, once the
//! [prune interval](RateLimitBuilder::prune_interval) (30 s by default) has
//! passed, that request runs the pass (`retain_recent`, then
//! `shrink_to_fit`: one walk over the limiter's partitions, one pass at a
//! time). No timer, no task: memory follows the partitions active within
//! one interval. [`RateLimit::tracked_partitions`] says how many are held.
//!
//! # One budget across replicas
//!
//! With a [`SharedBudget`] ([`shared_budget`](RateLimitBuilder::shared_budget)),
//! every replica spends the same budget: keygate-redis's `RedisBudget`
//! keeps it in Redis, one atomic GCRA script per request, clocked by
//! Redis. The layer asks it about every limited request; when it cannot
//! decide (Redis down, frozen, slow), the layer decides alone until it
//! can again, from a fallback that starts every partition **empty** and
//! refills it at the quota's steady rate, one request per replenish
//! interval `T = window / count`:
//!
//! - **Worst case:** in a spell of length `D` without the shared budget,
//!   each replica accepts at most `⌊D / T⌋` requests per partition on top
//!   of what the shared budget counted; a fleet of N replicas, at most
//!   `N·⌊D / T⌋`. Never a burst: the shared budget may have counted the
//!   whole of it.
//! - **The price:** for the first `T` of a spell every partition is
//!   refused, and its burst is back only after `burst·T` of it.
//!
//! The rules, with an example, are on [`SharedBudget`]. What the shared
//! store holds is not signed: whoever can write it can make the layer
//! refuse requests or accept more than the quota, never authenticate one.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod budget;
mod future;
mod headers;
mod layer;
mod limiter;
mod partition;
mod quota;
mod refusal;
mod service;

pub use budget::{BudgetFuture, BudgetStats, BudgetUnavailable, Decision, SharedBudget};
pub use future::ResponseFuture;
pub use headers::{RATELIMIT, RATELIMIT_POLICY};
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub use layer::GrpcRateLimit;
pub use layer::{DEFAULT_PRUNE_INTERVAL, RateLimit, RateLimitBuilder};
pub use partition::Partition;
pub use quota::Quota;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub use refusal::GrpcRefusals;
pub use refusal::{HttpRefusals, RateLimited, Refusals};
pub use service::RateLimitService;
