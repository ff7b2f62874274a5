//! When timers and reminders fire: due times, periods and TTLs in Dapr's forms
//! (Go durations, ISO 8601 durations with `R<n>/` repetitions, RFC 3339 times).
//! Times are milliseconds since the Unix epoch.

use std::time::Duration;

use chrono::{DateTime, Months};

use crate::duration;

/// A repeat interval: calendar months, then a fixed span.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Period {
    months: u32,
    span: Duration,
}

/// A parsed schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// The first fire.
    pub due: i64,
    pub period: Option<Period>,
    /// Fires in all, for `R<n>/` periods.
    pub repeats: Option<u32>,
    /// No fire after this time.
    pub expires: Option<i64>,
}

/// Parses a registration's `dueTime`, `period` and `ttl` at time `now`.
pub fn parse(due: &str, period: &str, ttl: &str, now: i64) -> Result<Schedule, String> {
    let due = match due.trim() {
        "" | "0" => now,
        text => instant(text, now).map_err(|e| format!("invalid dueTime '{text}': {e}"))?,
    };
    let (period, repeats) = match period.trim() {
        "" => (None, None),
        text => {
            let (p, r) = parse_period(text).map_err(|e| format!("invalid period '{text}': {e}"))?;
            (Some(p).filter(|p| p.months > 0 || !p.span.is_zero()), r)
        }
    };
    let expires = match ttl.trim() {
        "" => None,
        text => {
            let at = instant(text, due).map_err(|e| format!("invalid ttl '{text}': {e}"))?;
            if at <= now {
                return Err(format!("ttl '{text}' has already expired"));
            }
            Some(at)
        }
    };
    Ok(Schedule {
        due,
        period,
        repeats,
        expires,
    })
}

impl Schedule {
    /// The fire that follows one due at `fired`, seen at `now`: the first period
    /// boundary after `now`, so periods missed while nothing ran are skipped, not
    /// replayed. `None` when the schedule is done. `fires` counts fires so far.
    pub fn after(&self, fired: i64, fires: u32, now: i64) -> Option<i64> {
        let period = self.period?;
        if self.repeats.is_some_and(|r| fires >= r) {
            return None;
        }
        let next = if period.months == 0 {
            let span = i64::try_from(period.span.as_millis()).ok()?.max(1);
            let behind = now.saturating_sub(fired).max(0);
            (behind / span + 1).checked_mul(span)?.checked_add(fired)?
        } else {
            let mut next = period.add(fired)?;
            while next <= now {
                next = period.add(next)?;
            }
            next
        };
        match self.expires {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }
}

impl Period {
    fn add(self, at: i64) -> Option<i64> {
        let mut t = DateTime::from_timestamp_millis(at)?;
        if self.months > 0 {
            t = t.checked_add_months(Months::new(self.months))?;
        }
        let span = i64::try_from(self.span.as_millis()).ok()?;
        t.timestamp_millis().checked_add(span)
    }
}

/// An RFC 3339 time, or a duration (ISO 8601 or Go) after `from`.
pub fn instant(text: &str, from: i64) -> Result<i64, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    let period = if text.starts_with('P') {
        iso_duration(text)?
    } else {
        Period {
            months: 0,
            span: duration::parse(text)?,
        }
    };
    period.add(from).ok_or_else(|| "out of range".into())
}

/// `R<n>/<ISO duration>`, an ISO 8601 duration, or a Go duration.
fn parse_period(text: &str) -> Result<(Period, Option<u32>), String> {
    if let Some(rest) = text.strip_prefix('R') {
        let (count, iso) = rest
            .split_once('/')
            .ok_or("a repetition needs the form R<n>/<duration>")?;
        let count: u32 = count.parse().map_err(|_| "bad repetition count")?;
        if count == 0 {
            return Err("R0 repeats nothing".into());
        }
        return Ok((iso_duration(iso)?, Some(count)));
    }
    if text.starts_with('P') {
        return Ok((iso_duration(text)?, None));
    }
    Ok((
        Period {
            months: 0,
            span: duration::parse(text)?,
        },
        None,
    ))
}

/// `PnYnMnWnDTnHnMnS` (seconds may have a fraction).
fn iso_duration(text: &str) -> Result<Period, String> {
    let body = text
        .strip_prefix('P')
        .ok_or("an ISO 8601 duration starts with P")?;
    let (date, time) = match body.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (body, None),
    };
    let mut period = Period {
        months: 0,
        span: Duration::ZERO,
    };
    let mut any = false;
    for (part, in_time) in [(date, false), (time.unwrap_or(""), true)] {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let n: f64 = number
                .parse()
                .map_err(|_| "a number must come before each unit")?;
            number.clear();
            any = true;
            let whole = |n: f64| -> Result<u32, String> {
                (n.fract() == 0.0 && n >= 0.0 && n < f64::from(u32::MAX))
                    .then_some(n as u32)
                    .ok_or_else(|| "years and months must be whole".to_string())
            };
            let too_long = || "the duration is too long".to_string();
            let months = |period: &mut Period, n: u32| -> Result<f64, String> {
                period.months = period.months.checked_add(n).ok_or_else(too_long)?;
                Ok(0.0)
            };
            let seconds = match (c, in_time) {
                ('Y', false) => {
                    months(&mut period, whole(n)?.checked_mul(12).ok_or_else(too_long)?)?
                }
                ('M', false) => months(&mut period, whole(n)?)?,
                ('W', false) => n * 7.0 * 86400.0,
                ('D', false) => n * 86400.0,
                ('H', true) => n * 3600.0,
                ('M', true) => n * 60.0,
                ('S', true) => n,
                _ => return Err(format!("unexpected '{c}'")),
            };
            let span = Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())?;
            period.span = period.span.checked_add(span).ok_or_else(too_long)?;
        }
        if !number.is_empty() {
            return Err("a number without a unit".into());
        }
    }
    if !any || time == Some("") {
        return Err("an empty duration".into());
    }
    Ok(period)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn due_times() {
        assert_eq!(parse("", "", "", NOW).unwrap().due, NOW);
        assert_eq!(parse("0", "", "", NOW).unwrap().due, NOW);
        assert_eq!(parse("1m30s", "", "", NOW).unwrap().due, NOW + 90_000);
        assert_eq!(parse("0h0m9s0ms", "", "", NOW).unwrap().due, NOW + 9_000);
        assert_eq!(parse("PT10S", "", "", NOW).unwrap().due, NOW + 10_000);
        assert_eq!(
            parse("2023-11-14T22:13:21Z", "", "", NOW).unwrap().due,
            NOW + 1_000
        );
        assert!(parse("soon", "", "", NOW).is_err());
    }

    #[test]
    fn periods_and_repetitions() {
        let s = parse("0s", "R5/PT1S", "", NOW).unwrap();
        assert_eq!(s.repeats, Some(5));
        assert_eq!(s.after(NOW, 1, NOW), Some(NOW + 1_000));
        assert_eq!(s.after(NOW + 4_000, 5, NOW + 4_000), None);
        assert!(parse("", "R0/PT1S", "", NOW).is_err());
        let s = parse("", "1h0m0s0ms0\u{3bc}s", "", NOW).unwrap();
        assert_eq!(s.after(NOW, 1, NOW), Some(NOW + 3_600_000));
        let s = parse("", "P1DT1H", "", NOW).unwrap();
        assert_eq!(s.after(NOW, 1, NOW), Some(NOW + 90_000_000));
        // One-shot.
        assert_eq!(parse("1s", "", "", NOW).unwrap().after(NOW, 1, NOW), None);
        assert!(parse("", "PT", "", NOW).is_err());
        assert!(parse("", "P1.5M", "", NOW).is_err());
    }

    #[test]
    fn missed_periods_fire_once() {
        let s = parse("0s", "10s", "", NOW).unwrap();
        // Down for 95 s after a fire at NOW: the next fire is the next boundary.
        assert_eq!(s.after(NOW, 1, NOW + 95_000), Some(NOW + 100_000));
        // Months follow the calendar: 31 January plus a month is 29 February 2024.
        let jan31 = DateTime::parse_from_rfc3339("2024-01-31T00:00:00Z")
            .unwrap()
            .timestamp_millis();
        let s = parse("", "P1M", "", jan31).unwrap();
        let next = s.after(jan31, 1, jan31).unwrap();
        assert_eq!(
            DateTime::from_timestamp_millis(next).unwrap().to_rfc3339(),
            "2024-02-29T00:00:00+00:00"
        );
    }

    #[test]
    fn ttls() {
        let s = parse("1s", "1s", "5s", NOW).unwrap();
        assert_eq!(s.expires, Some(NOW + 6_000));
        assert_eq!(s.after(NOW + 6_000, 6, NOW + 6_000), None);
        assert!(parse("", "1s", "2000-01-01T00:00:00Z", NOW).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever a registration holds, parsing answers (no panic), and
            /// a parsed schedule's next fire never panics either.
            #[test]
            fn any_text_parses_or_fails(due in ".{0,24}", period in ".{0,24}", ttl in ".{0,24}",
                                        now in 0i64..4_000_000_000_000, later in 0i64..1_000_000_000_000) {
                if let Ok(s) = parse(&due, &period, &ttl, now) {
                    let _ = s.after(s.due, 1, s.due.saturating_add(later));
                }
            }

            /// Digits in every unit and at any size, the forms a fuzzer finds first.
            #[test]
            fn numeric_durations_parse_or_fail(n in any::<u64>(), unit in "(h|m|s|ms|us|ns|)",
                                              iso in "P(T)?[0-9]{1,20}[YMWDHS]") {
                let go = format!("{n}{unit}");
                for text in [go.as_str(), iso.as_str()] {
                    if let Ok(s) = parse(text, text, "", NOW) {
                        let _ = s.after(s.due, 1, s.due);
                    }
                }
            }

            /// A fixed period's next fire is the first boundary after `now`.
            #[test]
            fn the_next_fire_is_the_first_boundary_after_now(
                h in 0u64..48, m in 0u64..60, sec in 0u64..60, ms in 0u64..1000,
                behind in 0i64..10_000_000_000,
            ) {
                prop_assume!(h + m + sec + ms > 0);
                let period = format!("{h}h{m}m{sec}s{ms}ms");
                let span = (((h * 60 + m) * 60 + sec) * 1000 + ms) as i64;
                let s = parse("", &period, "", NOW).unwrap();
                let now = NOW + behind;
                let next = s.after(NOW, 1, now).unwrap();
                prop_assert!(next > now && next - span <= now);
                prop_assert_eq!((next - NOW) % span, 0);
            }

            /// `R<n>/` fires n times in all.
            #[test]
            fn repetitions_end_after_n_fires(n in 1u32..50, secs in 1u32..3600) {
                let s = parse("", &format!("R{n}/PT{secs}S"), "", NOW).unwrap();
                let mut at = s.due;
                let mut fires = 1;
                while let Some(next) = s.after(at, fires, at) {
                    at = next;
                    fires += 1;
                    prop_assert!(fires <= n);
                }
                prop_assert_eq!(fires, n);
            }
        }
    }
}
