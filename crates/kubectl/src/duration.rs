//! Go's `time.ParseDuration`, which kubectl's duration flags (`--since`,
//! `--pod-running-timeout`) accept: `300ms`, `1.5h`, `2h45m`, `-1s`.

use std::time::Duration;

/// Parses a Go duration; negative durations come back as `Err` with Go's message only when
/// malformed — callers that reject negatives check the sign themselves via [`parse_signed`].
pub fn parse(s: &str) -> Result<Duration, String> {
    let (neg, d) = parse_signed(s)?;
    if neg && !d.is_zero() {
        return Err(format!("time: invalid duration \"{s}\""));
    }
    Ok(d)
}

/// Parses a Go duration into (is negative, magnitude).
pub fn parse_signed(s: &str) -> Result<(bool, Duration), String> {
    let bad = || format!("time: invalid duration \"{s}\"");
    let mut rest = s;
    let mut neg = false;
    if let Some(r) = rest.strip_prefix('-') {
        neg = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok((neg, Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration \"{s}\""))?;
        if num_end == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => return Err(format!("time: unknown unit \"{u}\" in duration \"{s}\"")),
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Ok((neg, Duration::from_secs_f64(total)))
}

/// A bare number of seconds (`5`, `1.5`) or a Go duration, as `--request-timeout` and
/// delete's `--timeout` take them.
pub fn parse_seconds_or_go(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    match s.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(Duration::from_secs_f64(n)),
        _ => parse(s),
    }
}

/// kubectl's (cobra's) message for a flag value that does not parse.
pub fn flag_error(command: &str, flag: &str, value: &str, err: &str) -> crate::error::Error {
    crate::error::Error::client(format!(
        "invalid argument \"{value}\" for \"--{flag}\" flag: {err}\nSee 'kubectl {command} --help' for usage."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert!(parse("5").is_err());
        assert!(parse("x").is_err());
        assert!(parse("-1s").is_err());
        assert_eq!(parse_signed("-1s"), Ok((true, Duration::from_secs(1))));
    }
}
