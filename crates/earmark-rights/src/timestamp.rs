//! Unix seconds to and from RFC 3339 text, in UTC (through `jiff`).

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::error::{Error, Result};

/// The current time in unix seconds.
pub fn now_unix_s() -> i64 {
    Timestamp::now().as_second()
}

/// Parses RFC 3339 (`2024-01-31T12:00:00Z`, `2024-01-31T13:00:00+01:00`, a fraction of
/// a second rounded down) or a plain integer of unix seconds.
///
/// # Errors
/// [`Error::InvalidTimestamp`] for anything else, including impossible dates and times
/// without an offset (which would be local to somewhere unknown).
pub fn parse_timestamp(text: &str) -> Result<i64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs);
    }
    let at: Timestamp = text
        .parse()
        .map_err(|_| Error::InvalidTimestamp(text.to_owned()))?;
    // Whole seconds, rounded down also before 1970.
    Ok(at.as_second() - i64::from(at.subsec_nanosecond() < 0))
}

/// Formats unix seconds as RFC 3339 in UTC: `2024-01-31T12:00:00Z`. Seconds beyond
/// the years -9999 to 9999 are written as the plain integer, which
/// [`parse_timestamp`] reads back.
pub fn format_rfc3339(secs: i64) -> String {
    Timestamp::from_second(secs).map_or_else(|_| secs.to_string(), |at| at.to_string())
}

/// The UTC calendar day of unix seconds: `2024-01-31` (the plain integer of seconds
/// beyond the years -9999 to 9999).
pub fn format_date(secs: i64) -> String {
    Timestamp::from_second(secs).map_or_else(
        |_| secs.to_string(),
        |at| at.to_zoned(TimeZone::UTC).date().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z").ok(), Some(0));
        assert_eq!(
            parse_timestamp("2024-02-29T12:34:56Z").ok(),
            Some(1_709_210_096)
        );
        assert_eq!(
            parse_timestamp("2024-02-29T13:34:56.250+01:00").ok(),
            Some(1_709_210_096)
        );
        assert_eq!(parse_timestamp("1969-12-31T23:59:59.5Z").ok(), Some(-1));
        assert_eq!(parse_timestamp("1709210096").ok(), Some(1_709_210_096));
        assert_eq!(parse_timestamp("-86400").ok(), Some(-86_400));
        assert_eq!(format_rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(format_date(1_709_210_096), "2024-02-29");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn round_trips_over_centuries_and_beyond() {
        let mut secs = -5_000_000_000i64;
        while secs < 10_000_000_000 {
            assert_eq!(parse_timestamp(&format_rfc3339(secs)).ok(), Some(secs));
            secs += 7_777_777;
        }
        for far in [i64::MIN, -400_000_000_000, 400_000_000_000, i64::MAX] {
            assert_eq!(parse_timestamp(&format_rfc3339(far)).ok(), Some(far));
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "yesterday",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01",
            "２０２４-01-01T00:00:00Z",
        ] {
            assert!(
                matches!(parse_timestamp(bad), Err(Error::InvalidTimestamp(_))),
                "{bad}"
            );
        }
    }
}
