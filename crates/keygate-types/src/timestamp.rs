//! RFC 3339 timestamps as the key service writes them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

/// A point in time, written on the wire as RFC 3339 UTC with milliseconds
/// (`2026-01-15T12:00:00.000Z`).
///
/// Parsing accepts any RFC 3339 timestamp (any offset, any precision) and
/// normalises it to UTC; formatting always writes milliseconds and `Z`, the
/// shape WorkOS writes.
///
/// ```
/// use keygate_types::Timestamp;
///
/// let t: Timestamp = "2026-01-15T13:00:00+01:00".parse()?;
/// assert_eq!(t.to_string(), "2026-01-15T12:00:00.000Z");
/// # Ok::<(), keygate_types::TimestampError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// Why a string is not an RFC 3339 timestamp.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not an RFC 3339 timestamp (expected e.g. 2026-01-15T12:00:00.000Z): {0}")]
pub struct TimestampError(String);

impl Timestamp {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Self = Self(OffsetDateTime::UNIX_EPOCH);

    /// The current time, from the system clock.
    pub fn now() -> Self {
        Self::from(OffsetDateTime::now_utc())
    }

    /// The wrapped [`OffsetDateTime`], in UTC.
    pub fn as_offset_date_time(&self) -> OffsetDateTime {
        self.0
    }

    /// Seconds since the Unix epoch.
    pub fn unix_timestamp(&self) -> i64 {
        self.0.unix_timestamp()
    }

    /// The same instant from whole seconds since the Unix epoch, if in range.
    pub fn from_unix_timestamp(seconds: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp(seconds).ok().map(Self)
    }

    /// This instant plus `duration`, saturating at the representable range.
    pub fn saturating_add(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(duration))
    }

    /// The signed duration from `earlier` to `self`.
    pub fn since(self, earlier: Self) -> Duration {
        self.0 - earlier.0
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(value: OffsetDateTime) -> Self {
        // The wire carries milliseconds; dropping finer precision here keeps a
        // value equal to itself after a round trip through JSON.
        let utc = value.to_offset(UtcOffset::UTC);
        let millis = utc.millisecond();
        Self(utc.replace_millisecond(millis).unwrap_or(utc))
    }
}

impl From<Timestamp> for OffsetDateTime {
    fn from(value: Timestamp) -> Self {
        value.0
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OffsetDateTime::parse(s, &Rfc3339)
            .map(Self::from)
            .map_err(|e| TimestampError(e.to_string()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        match self.0.format(&format) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_milliseconds_and_z() {
        let t: Timestamp = "2026-01-15T12:00:00Z".parse().unwrap();
        assert_eq!(t.to_string(), "2026-01-15T12:00:00.000Z");
        let t: Timestamp = "2026-01-15T12:00:00.123456789Z".parse().unwrap();
        assert_eq!(t.to_string(), "2026-01-15T12:00:00.123Z");
    }

    #[test]
    fn round_trips_through_json() {
        let t = Timestamp::now();
        let json = serde_json::to_string(&t).unwrap();
        let back: Timestamp = serde_json::from_str(&json).unwrap();
        assert_eq!(t, back);
    }

    #[test]
    fn rejects_garbage_with_a_message() {
        let err = "yesterday".parse::<Timestamp>().unwrap_err();
        assert!(err.to_string().contains("RFC 3339"));
    }

    #[test]
    fn orders_by_instant_across_offsets() {
        let a: Timestamp = "2026-01-15T12:00:00+01:00".parse().unwrap();
        let b: Timestamp = "2026-01-15T11:30:00Z".parse().unwrap();
        assert!(a < b);
    }
}
