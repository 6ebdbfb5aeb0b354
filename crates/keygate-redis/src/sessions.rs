//! Revoked sessions in Redis. A session's denial must outlive its log entry:
//! a key verdict a follower missed is fetched again after a flush, but an
//! access token is verified in the replica alone, so a denial it missed
//! would be missed until the token expires. Each session's entry is
//! therefore also kept in a sorted set, written with it in one step and
//! never trimmed with the log; a follower that cannot prove it read every
//! entry reads the set after flushing.

use keygate_auth::tier::Invalidation;
use keygate_types::Timestamp;
use redis::Value;

use crate::entry;
use crate::health::Failure;
use crate::tier::{Core, text};

/// `APPEND`'s session arguments for `invalidation`: the session and the end
/// of its denial, or two empty strings.
pub(crate) fn append_args(invalidation: &Invalidation) -> (String, String) {
    match invalidation {
        Invalidation::Session { sid, until } => (sid.clone(), entry::seconds(*until).to_string()),
        _ => (String::new(), String::new()),
    }
}

impl Core {
    /// Every session the fleet denies now, as the invalidation that denies it.
    pub(crate) async fn denied_sessions(&self) -> Result<Vec<Invalidation>, Failure> {
        let now = Timestamp::now().as_offset_date_time().unix_timestamp();
        let mut conn = self.conn.clone();
        let answer: Vec<Value> = self
            .run(
                redis::cmd("ZRANGEBYSCORE")
                    .arg(self.names.sessions())
                    .arg(format!("({now}"))
                    .arg("+inf")
                    .arg("WITHSCORES")
                    .query_async(&mut conn),
            )
            .await?;
        answer
            .chunks(2)
            .map(|pair| {
                let (Some(sid), Some(until)) = (text(pair.first()), text(pair.get(1))) else {
                    return Err(Failure::Unreadable);
                };
                // Written as whole seconds, read back as Redis prints them.
                let until = until
                    .parse()
                    .ok()
                    .and_then(Timestamp::from_unix_timestamp)
                    .ok_or(Failure::Unreadable)?;
                Ok(Invalidation::Session { sid, until })
            })
            .collect()
    }
}
