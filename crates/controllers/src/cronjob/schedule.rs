//! Cron schedules as the CronJob controller reads them (robfig/cron's standard parser, which
//! upstream uses): five fields (minute hour day-of-month month day-of-week) with `*`, `?`,
//! lists, ranges, steps and month/weekday names, the `@yearly`…`@hourly` descriptors, and an
//! optional `CRON_TZ=<zone>` / `TZ=<zone>` prefix. Times are computed on the wall clock of
//! the zone (IANA zones from the system tz database through jiff), so `0 9 * * *` in
//! `Europe/Berlin` fires at 09:00 local time on both sides of a DST change.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// Day-of-month or day-of-week was `*`/`?`: both must then match (else either may).
    dom_star: bool,
    dow_star: bool,
    /// The zone named by a `CRON_TZ=`/`TZ=` prefix.
    pub zone: Option<String>,
}

struct Field {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Field = Field {
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DOW: Field = Field {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl Field {
    fn value(&self, s: &str) -> Result<u32, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            return Ok(i as u32 + self.min);
        }
        s.parse::<u32>()
            .map_err(|_| format!("failed to parse int from {s}"))
    }

    /// Parses one field into a bit set; the flag says it was a bare `*`/`?`.
    fn parse(&self, text: &str) -> Result<(u64, bool), String> {
        let mut bits = 0u64;
        let mut star = false;
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (part, None),
            };
            let (mut lo, mut hi, is_star) = if range == "*" || range == "?" {
                (self.min, self.max, true)
            } else if let Some((a, b)) = range.split_once('-') {
                (self.value(a)?, self.value(b)?, false)
            } else {
                let v = self.value(range)?;
                (v, v, false)
            };
            let step = match step {
                Some(s) => {
                    let n = s
                        .parse::<u32>()
                        .map_err(|_| format!("failed to parse int from {s}"))?;
                    // "N/step" means "N-max/step".
                    if !is_star && !range.contains('-') {
                        hi = self.max;
                    }
                    n
                }
                None => 1,
            };
            if is_star && step == 1 {
                star = true;
            }
            if lo < self.min {
                return Err(format!(
                    "beginning of range ({lo}) below minimum ({})",
                    self.min
                ));
            }
            if hi > self.max {
                return Err(format!("end of range ({hi}) above maximum ({})", self.max));
            }
            if lo > hi {
                return Err(format!(
                    "beginning of range ({lo}) beyond end of range ({hi})"
                ));
            }
            if step == 0 {
                return Err("step of range should be a positive number".into());
            }
            while lo <= hi {
                bits |= 1 << lo;
                lo += step;
            }
        }
        Ok((bits, star))
    }
}

fn has(bits: u64, v: i8) -> bool {
    v >= 0 && bits & (1u64 << v) != 0
}

impl Schedule {
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        let mut spec = spec.trim();
        let mut zone = None;
        if let Some(rest) = spec
            .strip_prefix("CRON_TZ=")
            .or_else(|| spec.strip_prefix("TZ="))
        {
            let (z, tail) = rest
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("missing schedule after time zone in {spec:?}"))?;
            zone = Some(z.to_string());
            spec = tail.trim();
        }
        let expanded = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s if s.starts_with('@') => return Err(format!("unrecognized descriptor: {s}")),
            s => s,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {expanded}",
                fields.len()
            ));
        }
        let (minute, _) = MINUTE.parse(fields[0])?;
        let (hour, _) = HOUR.parse(fields[1])?;
        let (dom, dom_star) = DOM.parse(fields[2])?;
        let (month, _) = MONTH.parse(fields[3])?;
        let (dow, dow_star) = DOW.parse(fields[4])?;
        Ok(Schedule {
            minute,
            hour,
            dom,
            month,
            dow,
            dom_star,
            dow_star,
            zone,
        })
    }

    fn day_matches(&self, d: Date) -> bool {
        let dom = has(self.dom, d.day());
        let dow = has(self.dow, d.weekday().to_sunday_zero_offset());
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first activation strictly after `after`, on the wall clock of `tz`; `None` if
    /// there is none within five years (e.g. `0 0 30 2 *`).
    pub fn next(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = after.to_zoned(tz.clone()).datetime();
        let mut t = start
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(1.minute())
            .ok()?;
        let limit = start.year() + 5;
        while t.year() <= limit {
            if !has(self.month, t.month()) {
                let first = t.date().first_of_month().checked_add(1.month()).ok()?;
                t = first.to_datetime(Time::midnight());
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t.date().tomorrow().ok()?.to_datetime(Time::midnight());
                continue;
            }
            if !has(self.hour, t.hour()) {
                t = t
                    .with()
                    .minute(0)
                    .build()
                    .ok()?
                    .checked_add(1.hour())
                    .ok()?;
                continue;
            }
            if !has(self.minute, t.minute()) {
                t = t.checked_add(1.minute()).ok()?;
                continue;
            }
            let at = civil_to_timestamp(t, tz)?;
            if at > after {
                return Some(at);
            }
            t = t.checked_add(1.minute()).ok()?;
        }
        None
    }
}

/// A wall-clock time in `tz`; a time skipped by a DST jump resolves to just after the jump.
fn civil_to_timestamp(t: DateTime, tz: &TimeZone) -> Option<Timestamp> {
    tz.to_ambiguous_zoned(t)
        .compatible()
        .ok()
        .map(|z| z.timestamp())
}

/// The most recent activation in `(earliest, now]` and how many there were (capped: past
/// [`TOO_MANY`] the count is only "too many"), as upstream's `mostRecentScheduleTime`.
pub fn most_recent(
    s: &Schedule,
    earliest: Timestamp,
    now: Timestamp,
    tz: &TimeZone,
) -> (Option<Timestamp>, usize) {
    let mut last = None;
    let mut count = 0;
    let mut t = earliest;
    while let Some(n) = s.next(t, tz).filter(|n| *n <= now) {
        last = Some(n);
        count += 1;
        t = n;
        if count > TOO_MANY {
            break;
        }
    }
    if count <= TOO_MANY {
        return (last, count);
    }
    // Many activations missed: search only recent windows (the most recent activation lies in
    // the smallest window that has one) instead of walking years minute by minute.
    for days in [1i64, 32, 367, 5 * 366] {
        let from = now
            .checked_sub(jiff::SignedDuration::from_hours(24 * days))
            .unwrap_or(earliest)
            .max(t);
        let mut found = None;
        let mut u = from;
        while let Some(n) = s.next(u, tz).filter(|n| *n <= now) {
            found = Some(n);
            u = n;
        }
        if found.is_some() {
            return (found, count);
        }
    }
    (last, count)
}

/// Upstream warns about a CronJob that missed more than this many starts.
pub const TOO_MANY: usize = 100;

/// The zone a CronJob's times are computed in: `spec.timeZone`, else the schedule's
/// `CRON_TZ=` prefix, else UTC (the zone of this controller manager).
pub fn zone(spec_zone: Option<&str>, s: &Schedule) -> Result<TimeZone, String> {
    match spec_zone.or(s.zone.as_deref()) {
        None => Ok(TimeZone::UTC),
        Some(name) => TimeZone::get(name).map_err(|_| format!("unknown time zone {name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn parses_fields_names_steps_and_descriptors() {
        let s = Schedule::parse("*/15 9-17 * jan-mar mon-fri").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.minute, (1 << 0) | (1 << 15) | (1 << 30) | (1 << 45));
        assert_eq!(s.hour.count_ones(), 9);
        assert_eq!(s.month, 0b1110);
        assert_eq!(s.dow, 0b0111110);
        assert_eq!(Schedule::parse("@hourly"), Schedule::parse("0 * * * *"));
        assert_eq!(Schedule::parse("@daily"), Schedule::parse("0 0 * * *"));
        // "N/step" runs from N to the field's maximum.
        let s = Schedule::parse("5/20 * * * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.minute, (1 << 5) | (1 << 25) | (1 << 45));
        for bad in [
            "* * * *",
            "60 * * * *",
            "* * 0 * *",
            "*/0 * * * *",
            "@every 5m",
            "5-1 * * * *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
        let s = Schedule::parse("CRON_TZ=Asia/Tokyo 0 9 * * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.zone.as_deref(), Some("Asia/Tokyo"));
    }

    #[test]
    fn next_runs_in_utc() {
        let s = Schedule::parse("30 2 * * *").unwrap_or_else(|e| panic!("{e}"));
        let tz = TimeZone::UTC;
        assert_eq!(
            s.next(ts("2024-05-01T01:00:00Z"), &tz),
            Some(ts("2024-05-01T02:30:00Z"))
        );
        assert_eq!(
            s.next(ts("2024-05-01T02:30:00Z"), &tz),
            Some(ts("2024-05-02T02:30:00Z"))
        );
        let every = Schedule::parse("* * * * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            every.next(ts("2024-05-01T01:00:59Z"), &tz),
            Some(ts("2024-05-01T01:01:00Z"))
        );
        // Day-of-month OR day-of-week when both are restricted: the 13th or any Friday.
        let s = Schedule::parse("0 0 13 * 5").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.next(ts("2024-09-01T00:00:00Z"), &tz),
            Some(ts("2024-09-06T00:00:00Z"))
        );
        assert_eq!(
            s.next(ts("2024-09-10T00:00:00Z"), &tz),
            Some(ts("2024-09-13T00:00:00Z"))
        );
        // Never: February 30th.
        assert_eq!(
            Schedule::parse("0 0 30 2 *")
                .ok()
                .and_then(|s| s.next(ts("2024-01-01T00:00:00Z"), &tz)),
            None
        );
    }

    #[test]
    fn next_runs_on_the_local_wall_clock() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap_or(TimeZone::UTC);
        let s = Schedule::parse("0 9 * * *").unwrap_or_else(|e| panic!("{e}"));
        // Winter (UTC+1), then summer (UTC+2) after the March change.
        assert_eq!(
            s.next(ts("2024-01-10T12:00:00Z"), &berlin),
            Some(ts("2024-01-11T08:00:00Z"))
        );
        assert_eq!(
            s.next(ts("2024-03-30T12:00:00Z"), &berlin),
            Some(ts("2024-03-31T07:00:00Z"))
        );
        // 02:30 does not exist on 2024-03-31 in Berlin: it runs right after the jump.
        let gap = Schedule::parse("30 2 * * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            gap.next(ts("2024-03-30T12:00:00Z"), &berlin),
            Some(ts("2024-03-31T01:30:00Z"))
        );
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap_or(TimeZone::UTC);
        assert_eq!(
            s.next(ts("2024-01-10T00:00:00Z"), &tokyo),
            Some(ts("2024-01-11T00:00:00Z"))
        );
        assert!(zone(Some("Not/AZone"), &s).is_err());
        assert!(zone(Some("America/New_York"), &s).is_ok());
    }

    #[test]
    fn most_recent_counts_missed_runs() {
        let s = Schedule::parse("*/10 * * * *").unwrap_or_else(|e| panic!("{e}"));
        let tz = TimeZone::UTC;
        let (t, n) = most_recent(
            &s,
            ts("2024-05-01T00:00:00Z"),
            ts("2024-05-01T00:35:00Z"),
            &tz,
        );
        assert_eq!((t, n), (Some(ts("2024-05-01T00:30:00Z")), 3));
        let (t, n) = most_recent(
            &s,
            ts("2024-05-01T00:30:00Z"),
            ts("2024-05-01T00:35:00Z"),
            &tz,
        );
        assert_eq!((t, n), (None, 0));
        // A year of missed runs: still finds the latest quickly.
        let (t, n) = most_recent(
            &s,
            ts("2023-05-01T00:00:00Z"),
            ts("2024-05-01T00:35:00Z"),
            &tz,
        );
        assert_eq!(t, Some(ts("2024-05-01T00:30:00Z")));
        assert!(n > TOO_MANY);
    }
}
