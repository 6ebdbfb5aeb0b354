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

impl Timestamp {
    /// Formats through `time`'s format description: the reference, and the
    /// path for years outside 0..=9999.
    fn format_described(&self) -> Result<String, time::error::Format> {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        self.0.format(&format)
    }
}

/// Writes `value`'s last `digits.len()` decimal digits, zero-padded.
fn put_digits(digits: &mut [u8], mut value: u32) {
    for digit in digits.iter_mut().rev() {
        // `value % 10` is below 10, so the cast cannot truncate.
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written by hand into a fixed buffer: every key in every answer
        // carries two or three timestamps, and `time`'s general formatter
        // allocates and costs several times as much. Same output (tested
        // against it).
        let (year, month, day) = self.0.to_calendar_date();
        let Some(year) = u32::try_from(year).ok().filter(|y| *y <= 9999) else {
            let text = self.format_described().map_err(|_| fmt::Error)?;
            return f.write_str(&text);
        };
        let (hour, minute, second, milli) = self.0.to_hms_milli();
        let mut text = *b"0000-00-00T00:00:00.000Z";
        put_digits(&mut text[0..4], year);
        put_digits(&mut text[5..7], u32::from(u8::from(month)));
        put_digits(&mut text[8..10], u32::from(day));
        put_digits(&mut text[11..13], u32::from(hour));
        put_digits(&mut text[14..16], u32::from(minute));
        put_digits(&mut text[17..19], u32::from(second));
        put_digits(&mut text[20..23], u32::from(milli));
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
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
    fn writes_the_edges_of_the_four_digit_years() {
        for text in [
            "0000-01-01T00:00:00.000Z",
            "0999-12-31T23:59:59.999Z",
            "1970-01-01T00:00:00.000Z",
            "2024-02-29T07:08:09.010Z",
            "9999-12-31T23:59:59.999Z",
        ] {
            let t: Timestamp = text.parse().unwrap();
            assert_eq!(t.to_string(), text);
            assert_eq!(t.format_described().unwrap(), text);
        }
    }

    proptest::proptest! {
        /// The hand-written formatter writes what `time`'s does, for any
        /// instant `time` can hold (negative years take `time`'s path).
        #[test]
        fn formats_as_time_does(nanos in -377_705_116_800_000_000_000i128..253_402_300_800_000_000_000i128) {
            let t = Timestamp::from(OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap());
            proptest::prop_assert_eq!(t.to_string(), t.format_described().unwrap());
        }
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
