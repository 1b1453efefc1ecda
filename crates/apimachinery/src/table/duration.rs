//! Human-readable ages, matching apimachinery's `duration.HumanDuration`.
//!
//! kubectl prints whatever string the server puts in the AGE cell, so the
//! exact rounding rules matter: a real cluster shows `3h2m` for 3 hours 2
//! minutes but `9h` for 9 hours 2 minutes, `2d3h` but `9d`, and `<invalid>`
//! for timestamps more than a second in the future.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MINUTE;

/// Formats a duration given in nanoseconds the way `duration.HumanDuration`
/// does (~2-3 significant figures).
///
/// Nanoseconds (Go's `time.Duration` unit) are used so truncation behaves like
/// upstream's `int(d.Seconds())` and `d / time.Minute` conversions: e.g.
/// `-1.5s` still renders as `0s` (clock-skew tolerance) while `-2s` is
/// `<invalid>`.
pub fn human_duration(nanos: i64) -> String {
    // Go: `int(d.Seconds())` truncates toward zero, as does Rust's `/`.
    let seconds = nanos / NANOS_PER_SECOND;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = nanos / NANOS_PER_MINUTE;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = nanos / NANOS_PER_HOUR;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

/// `later - earlier` in nanoseconds, saturating like Go's `Time.Sub` so absurd
/// timestamps cannot overflow.
pub(crate) fn nanos_between(later: OffsetDateTime, earlier: OffsetDateTime) -> i64 {
    let d = later - earlier;
    let n = d.whole_nanoseconds();
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

/// Parses a Kubernetes `Time`/`MicroTime` string (RFC 3339, optional
/// fraction). Empty or unparsable values are treated as the zero time, which
/// is what a Go client would hold after decoding `null`/absent fields.
pub(crate) fn parse_time(s: &str) -> Option<OffsetDateTime> {
    if s.is_empty() || s == "null" {
        return None;
    }
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Upstream's `translateTimestampSince`: `<unknown>` for a zero/absent
/// timestamp, otherwise the human duration since it.
pub(crate) fn since(ts: Option<&str>, now: OffsetDateTime) -> String {
    match ts.and_then(parse_time) {
        None => "<unknown>".to_string(),
        Some(t) => human_duration(nanos_between(now, t)),
    }
}

/// Human duration between two known instants, for cells that are not
/// "age since creation" (job duration, restart recency).
pub(crate) fn between(later: OffsetDateTime, earlier: OffsetDateTime) -> String {
    human_duration(nanos_between(later, earlier))
}

/// Formats a timestamp like Go's `t.UTC().Format(time.RFC3339)`: seconds
/// precision, `Z` suffix. An absent timestamp formats as Go's zero time,
/// which is what the default table convertor emits for objects without a
/// creation timestamp.
pub(crate) fn rfc3339_utc(ts: Option<&str>) -> String {
    match ts.and_then(parse_time) {
        None => "0001-01-01T00:00:00Z".to_string(),
        Some(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: i64) -> String {
        human_duration(secs * NANOS_PER_SECOND)
    }

    #[test]
    fn human_duration_table() {
        let day = 24 * 3600;
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1s"),
            (59, "59s"),
            (60, "60s"),
            (119, "119s"),
            (120, "2m"),
            (121, "2m1s"),
            (5 * 60, "5m"),
            (9 * 60 + 59, "9m59s"),
            (10 * 60, "10m"),
            (10 * 60 + 30, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 2 * 60, "3h2m"),
            (7 * 3600 + 59 * 60, "7h59m"),
            (8 * 3600, "8h"),
            (8 * 3600 + 30 * 60, "8h"),
            (25 * 3600, "25h"),
            (47 * 3600 + 59 * 60, "47h"),
            (2 * day, "2d"),
            (2 * day + 3 * 3600, "2d3h"),
            (7 * day + 23 * 3600, "7d23h"),
            (8 * day, "8d"),
            (400 * day, "400d"),
            (729 * day, "729d"),
            (730 * day, "2y"),
            (731 * day, "2y1d"),
            (3 * 365 * day + 10 * day, "3y10d"),
            (8 * 365 * day, "8y"),
            (20 * 365 * day + 100 * day, "20y"),
            (-1, "0s"),
            (-2, "<invalid>"),
            (-3600, "<invalid>"),
        ];
        for (secs, want) in cases {
            assert_eq!(s(*secs), *want, "{secs}s");
        }
        // Sub-second skew: -1.5s truncates to -1 => "0s".
        assert_eq!(human_duration(-1_500_000_000), "0s");
        assert_eq!(human_duration(-1_999_999_999), "0s");
        assert_eq!(human_duration(-2_000_000_000), "<invalid>");
        assert_eq!(human_duration(119_999_999_999), "119s");
    }

    #[test]
    fn rfc3339_formatting() {
        assert_eq!(rfc3339_utc(None), "0001-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_utc(Some("2024-03-01T10:00:00.123456+02:00")),
            "2024-03-01T08:00:00Z"
        );
        assert_eq!(rfc3339_utc(Some("garbage")), "0001-01-01T00:00:00Z");
    }
}
