//! What the SQL bindings share: Dapr's operations (`exec`, `query`, `close`),
//! the request's `sql` and `params` (a JSON array), and the response metadata
//! (`operation`, `sql`, `start-time`, `end-time`, `duration`, `rows-affected`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::{Error, Request};

pub(crate) const OPERATIONS: &[&str] = &["exec", "query", "close"];

/// Queries return at most this many rows rather than hold any table in memory.
pub(crate) const MAX_ROWS: usize = 100_000;

/// The statement and its parameters.
pub(crate) fn statement(request: &Request) -> Result<(String, Vec<Value>), Error> {
    let sql = request
        .metadata
        .get("sql")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::BadRequest("required metadata not set: sql".into()))?;
    let params = match request.metadata.get("params") {
        None => Vec::new(),
        Some(text) => serde_json::from_str::<Vec<Value>>(text).map_err(|e| {
            Error::BadRequest(format!(
                "invalid metadata property params: failed to unserialize into an array: {e}"
            ))
        })?,
    };
    Ok((sql.clone(), params))
}

/// The response metadata of a statement run from `start` to now.
pub(crate) fn metadata(
    operation: &str,
    sql: &str,
    start: DateTime<Utc>,
    rows_affected: Option<u64>,
) -> BTreeMap<String, String> {
    let end = Utc::now();
    let took = (end - start).to_std().unwrap_or_default();
    let mut m = BTreeMap::from([
        ("operation".to_owned(), operation.to_owned()),
        ("sql".to_owned(), sql.to_owned()),
        (
            "start-time".to_owned(),
            start.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        ),
        (
            "end-time".to_owned(),
            end.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        ),
        ("duration".to_owned(), go_duration(took)),
    ]);
    if let Some(n) = rows_affected {
        m.insert("rows-affected".into(), n.to_string());
    }
    m
}

/// A duration as Go prints one (`294µs`, `1.5ms`, `2.5s`, `1m2s`), as
/// daprd's SQL bindings report it.
pub(crate) fn go_duration(d: Duration) -> String {
    let trimmed = |whole: u128, frac: u128, digits: usize| {
        let frac = format!("{frac:0digits$}");
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            whole.to_string()
        } else {
            format!("{whole}.{frac}")
        }
    };
    let ns = d.as_nanos();
    match ns {
        0 => "0s".into(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => format!("{}µs", trimmed(n / 1_000, n % 1_000, 3)),
        n if n < 1_000_000_000 => format!("{}ms", trimmed(n / 1_000_000, n % 1_000_000, 6)),
        n => {
            let (h, m) = (n / 3_600_000_000_000, n / 60_000_000_000 % 60);
            let s = trimmed(n / 1_000_000_000 % 60, n % 1_000_000_000, 9);
            match (h, m) {
                (0, 0) => format!("{s}s"),
                (0, m) => format!("{m}m{s}s"),
                (h, m) => format!("{h}h{m}m{s}s"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_prints_them() {
        let cases = [
            (Duration::from_nanos(0), "0s"),
            (Duration::from_nanos(750), "750ns"),
            (Duration::from_nanos(294_000), "294µs"),
            (Duration::from_nanos(1_234_567), "1.234567ms"),
            (Duration::from_millis(2500), "2.5s"),
            (Duration::from_secs(62), "1m2s"),
            (Duration::from_secs(3600 + 1), "1h0m1s"),
        ];
        for (d, text) in cases {
            assert_eq!(go_duration(d), text);
        }
    }

    #[test]
    fn params_are_a_json_array() {
        let request = |params: &str| Request {
            metadata: [("sql", "select $1"), ("params", params)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ..Request::default()
        };
        let (_, params) = statement(&request(r#"[1, "a", null]"#)).unwrap();
        assert_eq!(
            params,
            [serde_json::json!(1), serde_json::json!("a"), Value::Null]
        );
        assert!(statement(&request(r#"{"a": 1}"#)).is_err());
        assert!(statement(&Request::default()).is_err());
    }
}
