//! A job as the app asks for it, checked as Dapr's scheduler checks it, and
//! the plan of message schedules that runs it.

use std::time::Duration;

use bytes::Bytes;
use croner::parser::{CronParser, Seconds};
use serde::{Deserialize, Serialize};

use super::Error;

/// Longest job name, in bytes.
pub const MAX_NAME: usize = 512;

/// A job: when it fires, what it carries and what a failed trigger costs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<u32>,
    /// As the app gave it (RFC 3339, or a duration from now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_time: Option<String>,
    /// As the app gave it (RFC 3339, or a duration from the due time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    #[serde(default)]
    pub data: Data,
    /// `None` stands for Dapr's default, a constant 1 s interval and 3 retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_policy: Option<FailurePolicy>,
}

/// A job's payload: a protobuf `Any` (an HTTP app's JSON arrives as a
/// `google.protobuf.Value`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Data {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub type_url: String,
    #[serde(
        default,
        with = "base64_bytes",
        skip_serializing_if = "Bytes::is_empty"
    )]
    pub value: Bytes,
}

/// What happens when the app fails a trigger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailurePolicy {
    /// Give the trigger up.
    Drop,
    /// Try again after `interval`, `max_retries` times (`None`: until it works).
    Constant {
        #[serde(with = "millis")]
        interval: Duration,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_retries: Option<u32>,
    },
}

impl FailurePolicy {
    /// Dapr's scheduler's policy when a job names none.
    pub const DEFAULT: FailurePolicy = FailurePolicy::Constant {
        interval: Duration::from_secs(1),
        max_retries: Some(3),
    };

    /// How long to wait before attempt `attempt + 1` after `attempt` failed,
    /// or `None` to give the trigger up.
    pub fn retry_after(&self, attempt: u32) -> Option<Duration> {
        match self {
            FailurePolicy::Drop => None,
            FailurePolicy::Constant {
                interval,
                max_retries,
            } => max_retries
                .is_none_or(|m| attempt <= m)
                .then_some(*interval),
        }
    }
}

/// When a checked job fires.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Plan {
    /// The repeating pattern, as the server reads it.
    pub(super) pattern: Option<String>,
    pub(super) time_zone: Option<String>,
    /// The first fire (ms since the Unix epoch), when the job names a due time.
    pub(super) due: Option<i64>,
    /// No fire after this (ms since the Unix epoch).
    pub(super) expires: Option<i64>,
}

/// Checks `job` at time `now` (ms since the Unix epoch) and plans it.
pub(super) fn plan(job: &Job, now: i64) -> Result<Plan, Error> {
    check_name(&job.name)?;
    if job.schedule.is_none() && job.due_time.is_none() {
        return Err(Error::ScheduleEmpty);
    }
    let invalid = |why: String| Error::Invalid(format!("job failed validation: {why}"));
    let (pattern, time_zone) = match job.schedule.as_deref() {
        Some(text) => {
            let (pattern, zone) = pattern(text).map_err(invalid)?;
            (Some(pattern), zone)
        }
        None => (None, None),
    };
    let due = match job.due_time.as_deref() {
        Some(text) if text.starts_with('R') => {
            return Err(invalid("repeats not supported for due time".into()));
        }
        Some(text) => Some(
            jetway_core::schedule::instant(text.trim(), now)
                .map_err(|_| invalid("due time format not recognized".into()))?,
        ),
        None => None,
    };
    match job.repeats {
        Some(0) => return Err(invalid("defined repeats must be greater than 0".into())),
        Some(r) if r > 1 && pattern.is_none() => {
            return Err(invalid("job must have a schedule to repeat".into()));
        }
        _ => {}
    }
    let expires = match job.ttl.as_deref() {
        Some(text) => {
            if pattern.is_none() {
                return Err(invalid("job must have a schedule to have a ttl".into()));
            }
            let from = due.unwrap_or(now);
            let at = jetway_core::schedule::instant(text.trim(), from)
                .map_err(|_| invalid("ttl format not recognized".into()))?;
            if due.is_some_and(|d| at < d) || at <= now {
                return Err(invalid("ttl must be greater than due time".into()));
            }
            Some(at)
        }
        None => None,
    };
    if let Some(FailurePolicy::Constant { interval, .. }) = &job.failure_policy
        && interval.as_millis() > u128::from(u32::MAX)
    {
        return Err(invalid("the failure policy's interval is too long".into()));
    }
    Ok(Plan {
        pattern,
        time_zone,
        due,
        expires,
    })
}

/// Dapr's name rule: any text but `/ \ # ?`, control characters, `.` and `..`.
pub(super) fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::NameEmpty);
    }
    let bad = name == "."
        || name == ".."
        || name.len() > MAX_NAME
        || name
            .chars()
            .any(|c| matches!(c, '/' | '\\' | '#' | '?') || c.is_control());
    match bad {
        true => Err(Error::Invalid(format!(
            "job name is invalid {name:?}: use at most {MAX_NAME} bytes, without / \\ # ? or control characters"
        ))),
        false => Ok(()),
    }
}

/// A Dapr schedule as the server's message schedules read it: `@every
/// <duration>` (at least a second), `@daily` and the like, or a 6-field cron
/// (seconds first), optionally led by `TZ=<zone> ` or `CRON_TZ=<zone> `.
pub(super) fn pattern(text: &str) -> Result<(String, Option<String>), String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty spec string".into());
    }
    if let Some(every) = text.strip_prefix("@every ") {
        let period = jetway_core::duration::parse(every.trim())
            .map_err(|e| format!("failed to parse duration {text}: {e}"))?;
        if period < Duration::from_secs(1) {
            return Err(format!("{text}: the period must be at least one second"));
        }
        return Ok((format!("@every {}", every.trim()), None));
    }
    if text.starts_with('@') {
        return match text {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight"
            | "@hourly" => Ok((text.to_owned(), None)),
            _ => Err(format!("unrecognized descriptor: {text}")),
        };
    }
    let (zone, cron) = match text.split_once(' ') {
        Some((first, rest)) if first.starts_with("TZ=") || first.starts_with("CRON_TZ=") => {
            let zone = first.split_once('=').map(|(_, z)| z).unwrap_or_default();
            if zone.is_empty() {
                return Err(format!("no time zone in {text}"));
            }
            (Some(zone.to_owned()), rest.trim())
        }
        _ => (None, text),
    };
    let fields = cron.split_whitespace().count();
    if fields != 6 {
        return Err(format!("expected exactly 6 fields, found {fields}: {cron}"));
    }
    CronParser::builder()
        .seconds(Seconds::Required)
        .build()
        .parse(cron)
        .map_err(|e| format!("'{cron}' is not a cron schedule: {e}"))?;
    Ok((cron.split_whitespace().collect::<Vec<_>>().join(" "), zone))
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text)
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(v.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(schedule: Option<&str>, due: Option<&str>) -> Job {
        Job {
            name: "j".into(),
            schedule: schedule.map(Into::into),
            repeats: None,
            due_time: due.map(Into::into),
            ttl: None,
            data: Data::default(),
            failure_policy: None,
        }
    }

    #[test]
    fn schedules_in_dapr_forms() {
        let p = plan(&job(Some("@every 1h30m"), None), 0).unwrap();
        assert_eq!(p.pattern.as_deref(), Some("@every 1h30m"));
        let p = plan(&job(Some("TZ=Asia/Tokyo  0 30 9 * * MON-FRI"), None), 0).unwrap();
        assert_eq!(p.pattern.as_deref(), Some("0 30 9 * * MON-FRI"));
        assert_eq!(p.time_zone.as_deref(), Some("Asia/Tokyo"));
        assert!(plan(&job(Some("@midnight"), None), 0).is_ok());
        for bad in [
            "* * * * *",
            "@reboot",
            "@every 500ms",
            "@every x",
            "",
            "61 * * * * *",
        ] {
            assert!(
                matches!(plan(&job(Some(bad), None), 0), Err(Error::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn due_times_and_ttls() {
        let p = plan(&job(None, Some("10s")), 1_000).unwrap();
        assert_eq!((p.pattern, p.due), (None, Some(11_000)));
        let p = plan(&job(None, Some("2030-01-01T00:00:00Z")), 0).unwrap();
        assert_eq!(p.due, Some(1_893_456_000_000));
        let mut j = job(Some("@every 1s"), Some("PT10S"));
        j.ttl = Some("5s".into());
        assert_eq!(plan(&j, 0).unwrap().expires, Some(15_000));
        let mut j = job(None, Some("1s"));
        j.ttl = Some("5s".into());
        assert!(plan(&j, 0).is_err(), "a ttl needs a schedule");
        let mut j = job(None, Some("1s"));
        j.repeats = Some(2);
        assert!(plan(&j, 0).is_err(), "repeats need a schedule");
        assert!(plan(&job(None, Some("R2/PT1S")), 0).is_err());
        assert!(plan(&job(None, Some("soon")), 0).is_err());
        assert!(matches!(
            plan(&job(None, None), 0),
            Err(Error::ScheduleEmpty)
        ));
    }

    #[test]
    fn names() {
        assert!(matches!(check_name(""), Err(Error::NameEmpty)));
        assert!(check_name("my|job@name with spaces").is_ok());
        for bad in ["a/b", "a?b", "a#b", "a\\b", ".", "..", "a\u{1}"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_name(&"a".repeat(MAX_NAME + 1)).is_err());
    }

    #[test]
    fn failure_policies() {
        let p = FailurePolicy::DEFAULT;
        assert_eq!(p.retry_after(3), Some(Duration::from_secs(1)));
        assert_eq!(p.retry_after(4), None);
        assert_eq!(FailurePolicy::Drop.retry_after(1), None);
        let forever = FailurePolicy::Constant {
            interval: Duration::ZERO,
            max_retries: None,
        };
        assert_eq!(forever.retry_after(1000), Some(Duration::ZERO));
    }
}
