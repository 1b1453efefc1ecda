//! Kubernetes' two time formats: `Time` (seconds) and `MicroTime` (microseconds), both UTC.

/// Now as a `metav1.Time` string (`2024-05-01T10:00:00Z`).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Now as a `metav1.MicroTime` string (`2024-05-01T10:00:00.123456Z`).
pub fn now_micro() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// An RFC 3339 time at any precision, truncated to a `metav1.Time` string.
pub fn to_seconds(ts: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|_| ts.to_string())
}

/// Seconds since an RFC 3339 time (0 when it is unparsable or in the future).
pub fn seconds_since(ts: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_milliseconds() as f64 / 1000.0
        })
        .unwrap_or(0.0)
        .max(0.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncates_to_seconds() {
        assert_eq!(
            super::to_seconds("2024-05-01T10:00:00.999999999Z"),
            "2024-05-01T10:00:00Z"
        );
        assert!(super::seconds_since("2000-01-01T00:00:00Z") > 1e8);
    }
}
