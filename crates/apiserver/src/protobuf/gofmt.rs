//! Reproductions of the Go formatting the apiserver's JSON encoder applies to
//! special types, so decoded objects match what a JSON client would have sent.

use serde_json::{Number, Value};

/// Unix seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z), which
/// metav1.Time and MicroTime marshal as `null`.
pub(crate) const GO_ZERO_UNIX: i64 = -62_135_596_800;

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's `civil_from_days`), valid for the whole i64 range we feed it.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Formats a UTC instant like Go's `time.RFC3339` (`micros: None`) or
/// metav1's `RFC3339Micro` layout (`micros: Some(..)`, always six digits).
/// Years keep at least four digits and a leading `-` when negative, as Go's
/// `AppendFormat` does; metav1.Time does not range-check them.
pub(crate) fn rfc3339(unix_seconds: i64, micros: Option<u32>) -> String {
    // i128 keeps the day arithmetic exact for any i64 second count.
    let secs = i128::from(unix_seconds);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(i64::MAX / 2));
    let (hh, mm, ss) = (rem / 3600, rem / 60 % 60, rem % 60);
    let year = if year < 0 {
        format!("-{:04}", year.unsigned_abs())
    } else {
        format!("{year:04}")
    };
    match micros {
        None => format!("{year}-{month:02}-{day:02}T{hh:02}:{mm:02}:{ss:02}Z"),
        Some(us) => format!("{year}-{month:02}-{day:02}T{hh:02}:{mm:02}:{ss:02}.{us:06}Z"),
    }
}

/// Go's `time.Duration.String()`: `0s`, `1.5s`, `2m0s`, `1h0m0s`, `1.2ms`, `3µs`, `7ns`.
pub(crate) fn go_duration(nanos: i64) -> String {
    /// Writes the fraction `v / 10^prec` (trailing zeros and an empty fraction omitted)
    /// and returns the integer part, like Go's `fmtFrac`.
    fn frac(out: &mut Vec<u8>, mut v: u64, prec: u32) -> u64 {
        let mut printed = false;
        for _ in 0..prec {
            let digit = (v % 10) as u8;
            printed = printed || digit != 0;
            if printed {
                out.push(b'0' + digit);
            }
            v /= 10;
        }
        if printed {
            out.push(b'.');
        }
        v
    }
    fn int(out: &mut Vec<u8>, mut v: u64) {
        loop {
            out.push(b'0' + (v % 10) as u8);
            v /= 10;
            if v == 0 {
                break;
            }
        }
    }
    const SECOND: u64 = 1_000_000_000;
    let mut u = nanos.unsigned_abs();
    // Built back to front, then reversed; the micro sign is pushed reversed too.
    let mut out: Vec<u8> = Vec::with_capacity(32);
    if u < SECOND {
        if u == 0 {
            return "0s".to_owned();
        }
        out.push(b's');
        let prec = if u < 1_000 {
            out.push(b'n');
            0
        } else if u < 1_000_000 {
            out.extend_from_slice(&[0xb5, 0xc2]); // "µ" (U+00B5) reversed
            3
        } else {
            out.push(b'm');
            6
        };
        u = frac(&mut out, u, prec);
        int(&mut out, u);
    } else {
        out.push(b's');
        u = frac(&mut out, u, 9);
        int(&mut out, u % 60);
        u /= 60;
        if u > 0 {
            out.push(b'm');
            int(&mut out, u % 60);
            u /= 60;
            if u > 0 {
                out.push(b'h');
                int(&mut out, u);
            }
        }
    }
    if nanos < 0 {
        out.push(b'-');
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `s` is a syntactically valid resource.Quantity (Go rejects the body
/// otherwise). Go would also canonicalize the value ("0.5" -> "500m"); Go
/// clients only ever send canonical strings, so they are passed through.
pub(crate) fn is_quantity(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let digits = number.bytes().filter(u8::is_ascii_digit).count();
    if digits == 0 || number.bytes().filter(|&b| b == b'.').count() > 1 {
        return false;
    }
    const SUFFIXES: [&str; 16] = [
        "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    ];
    if SUFFIXES.contains(&suffix) {
        return true;
    }
    // Decimal exponent form: e.g. 1e3, 12E-2.
    suffix
        .strip_prefix(['e', 'E'])
        .map(|exp| exp.strip_prefix(['+', '-']).unwrap_or(exp))
        .is_some_and(|exp| !exp.is_empty() && exp.bytes().all(|b| b.is_ascii_digit()))
}

/// A float64 as encoding/json writes it: integral values print without a
/// fraction, so they become JSON integers here, matching what parsing the Go
/// output would give. NaN and infinities are errors in Go too.
pub(crate) fn float_value(f: f64) -> Option<Value> {
    if !f.is_finite() {
        return None;
    }
    // `i64::MAX as f64` rounds to 2^63; below it an integral f64 fits i64 exactly.
    if f.fract() == 0.0 && f.abs() < i64::MAX as f64 {
        return Some(Value::from(f as i64));
    }
    Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats() {
        assert_eq!(rfc3339(0, None), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_704_067_200, None), "2024-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_210_096, None), "2024-02-29T12:34:56Z");
        assert_eq!(rfc3339(GO_ZERO_UNIX, None), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339(-1, Some(999_999)), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            rfc3339(1_704_067_200, Some(1_500)),
            "2024-01-01T00:00:00.001500Z"
        );
        assert_eq!(rfc3339(253_402_300_800, None), "10000-01-01T00:00:00Z");
        // Extremes must not panic.
        let _ = rfc3339(i64::MIN, None);
        let _ = rfc3339(i64::MAX, Some(0));
    }

    #[test]
    fn durations_match_go() {
        let cases: [(i64, &str); 12] = [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_000, "1h2m3s"),
            (-1_500_000_000, "-1.5s"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(go_duration(nanos), want, "{nanos}");
        }
    }

    #[test]
    fn quantities() {
        for ok in [
            "1",
            "100m",
            "1.5Gi",
            "0",
            "+2",
            "-3k",
            "1e3",
            "12E-2",
            ".5",
            "128974848",
        ] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "m", "1.2.3", "1x", "1e", "Gi", "1 Gi", "1Gib"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn floats() {
        assert_eq!(float_value(10.0), Some(Value::from(10)));
        assert_eq!(float_value(-2.5), Some(serde_json::json!(-2.5)));
        assert_eq!(float_value(f64::NAN), None);
        assert_eq!(
            float_value(1e300),
            Number::from_f64(1e300).map(Value::Number)
        );
    }
}
