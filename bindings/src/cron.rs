//! `bindings.cron`: an input binding that fires on a schedule: cron with
//! optional seconds (`*/10 * * * * *`, `0 30 * * * *`, `15 * * * *`), the
//! `@daily` family, or `@every <duration>` (`@every 15m`), in UTC.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use croner::Cron as Pattern;
use croner::parser::{CronParser, Seconds};
use tokio_util::sync::CancellationToken;

use super::{Error, Event, Handler, Input, Metadata, metadata::parse_duration, pause};

pub const KEYS: &[&str] = &["schedule"];

/// When it fires.
#[derive(Debug)]
enum Schedule {
    Every(chrono::Duration),
    Cron(Box<Pattern>),
}

impl Schedule {
    fn parse(text: &str) -> Result<Schedule, String> {
        let text = text.trim();
        if let Some(every) = text.strip_prefix("@every ") {
            let period = parse_duration(every.trim())?;
            if period < Duration::from_secs(1) {
                return Err(format!("@every {every}: at least one second"));
            }
            let period = chrono::Duration::from_std(period).map_err(|e| e.to_string())?;
            return Ok(Schedule::Every(period));
        }
        let text = match text {
            "@midnight" => "@daily",
            other => other,
        };
        CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(text)
            .map(|p| Schedule::Cron(Box::new(p)))
            .map_err(|e| format!("'{text}' is not a schedule: {e}"))
    }

    /// The first firing after `now`.
    fn next(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(period) => Some(now + *period),
            Schedule::Cron(p) => p.find_next_occurrence(&now, false).ok(),
        }
    }
}

pub struct Cron {
    schedule: Schedule,
    text: String,
}

impl Cron {
    pub fn new(metadata: &Metadata) -> Result<Cron, Error> {
        let text = metadata.required("schedule")?;
        let schedule = Schedule::parse(text).map_err(|e| Error::config("schedule", e))?;
        Ok(Cron {
            schedule,
            text: text.to_owned(),
        })
    }
}

#[async_trait::async_trait]
impl Input for Cron {
    async fn run(&self, handler: Arc<dyn Handler>, stop: CancellationToken) {
        // Counted from when the binding starts, as robfig's cron does.
        let mut now = Utc::now();
        while let Some(at) = self.schedule.next(now) {
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            if !pause(&stop, wait).await {
                return;
            }
            let event = Event {
                data: Bytes::new(),
                // As daprd's cron sends them (the time as Go prints it).
                metadata: BTreeMap::from([
                    ("timeZone".to_owned(), "UTC".to_owned()),
                    (
                        "readTimeUTC".to_owned(),
                        Utc::now()
                            .format("%Y-%m-%d %H:%M:%S%.f +0000 UTC")
                            .to_string(),
                    ),
                ]),
            };
            // A refused trigger is not retried: the next one comes on time.
            if let Err(e) = handler.handle(event).await {
                tracing::warn!(schedule = %self.text, error = %e, "The app did not take a cron trigger.");
            }
            now = at.max(Utc::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, h, m, s).unwrap()
    }

    #[test]
    fn daprs_schedule_forms() {
        let next = |text: &str, now| Schedule::parse(text).unwrap().next(now).unwrap();
        assert_eq!(next("*/10 * * * * *", at(1, 0, 3)), at(1, 0, 10));
        assert_eq!(next("0 30 * * * *", at(1, 0, 0)), at(1, 30, 0));
        assert_eq!(
            next("15 * * * *", at(1, 0, 0)),
            at(1, 15, 0),
            "five fields: no seconds"
        );
        assert_eq!(next("@every 15m", at(1, 0, 0)), at(1, 15, 0));
        assert_eq!(next("@every 1h30m", at(1, 0, 0)), at(2, 30, 0));
        assert_eq!(next("@hourly", at(1, 10, 0)), at(2, 0, 0));
        assert_eq!(
            next("@daily", at(1, 0, 0)),
            Utc.with_ymd_and_hms(2026, 12, 5, 0, 0, 0).unwrap()
        );
        assert_eq!(next("@midnight", at(1, 0, 0)), next("@daily", at(1, 0, 0)));
        for bad in ["", "soon", "@every 10ms", "* * *", "61 * * * *"] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }
}
