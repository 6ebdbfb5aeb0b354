//! The Events lease: one replica of the fleet at a time follows the Events
//! API, and the cursor it leaves is where the next holder resumes.

use std::sync::Arc;
use std::time::Duration;

use keygate_auth::tier::{EventsLease, TierFuture};

use crate::scripts;
use crate::tier::{Core, millis};

/// How long the fleet's cursor is kept: a fleet stopped for longer starts
/// again "from now" (and forgets every verdict).
const CURSOR_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The lease of one replica, from [`RedisTier`](crate::RedisTier).
#[derive(Debug)]
pub(crate) struct FleetLease(pub(crate) Arc<Core>);

impl FleetLease {
    /// The lease's lifetime for a listener polling every `interval`: the
    /// configured lifetime, and at least three intervals, so the holder
    /// renews it at least twice before it lapses.
    fn lifetime(&self, interval: Duration) -> Duration {
        self.0.config.lease_ttl.max(interval.saturating_mul(3))
    }
}

impl EventsLease for FleetLease {
    fn hold(&self, interval: Duration) -> TierFuture<'_, bool> {
        Box::pin(async move {
            let core = &*self.0;
            let mut conn = core.conn.clone();
            let held: Result<i64, _> = core
                .run(
                    scripts::HOLD_LEASE
                        .key(core.names.lease())
                        .arg(&core.replica)
                        .arg(millis(self.lifetime(interval)))
                        .invoke_async(&mut conn),
                )
                .await;
            match held {
                Ok(held) => held == 1,
                // Without Redis no replica can know who polls: each one
                // follows the Events API itself, as a single process would.
                Err(failure) => {
                    core.health.failed(&failure);
                    true
                }
            }
        })
    }

    fn cursor(&self) -> TierFuture<'_, Option<String>> {
        Box::pin(async move {
            let core = &*self.0;
            let mut conn = core.conn.clone();
            let cursor: Result<Option<String>, _> = core
                .run(
                    redis::cmd("GET")
                        .arg(core.names.cursor())
                        .query_async(&mut conn),
                )
                .await;
            cursor.unwrap_or_else(|failure| {
                core.health.failed(&failure);
                None
            })
        })
    }

    fn advance(&self, cursor: &str) -> TierFuture<'_, ()> {
        let cursor = cursor.to_owned();
        Box::pin(async move {
            let core = &*self.0;
            let mut conn = core.conn.clone();
            let advanced: Result<i64, _> = core
                .run(
                    scripts::ADVANCE_CURSOR
                        .key(core.names.lease())
                        .key(core.names.cursor())
                        .arg(&core.replica)
                        .arg(cursor)
                        .arg(millis(CURSOR_LIFETIME))
                        .invoke_async(&mut conn),
                )
                .await;
            if let Err(failure) = advanced {
                core.health.failed(&failure);
            }
        })
    }
}
