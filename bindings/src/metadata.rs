//! A binding component's metadata, read case-insensitively as Dapr reads it.

use std::str::FromStr;
use std::time::Duration;

use super::Error;

/// Metadata names and values; an empty value counts as unset.
#[derive(Clone, Debug, Default)]
pub struct Metadata(Vec<(String, String)>);

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(items: I) -> Metadata {
        Metadata(
            items
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl Metadata {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn required(&self, name: &str) -> Result<&str, Error> {
        self.get(name).ok_or_else(|| Error::config(name, "missing"))
    }

    /// `name` parsed as `T`, or `default` when unset.
    pub fn parse<T: FromStr>(&self, name: &str, default: T) -> Result<T, Error> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| Error::config(name, format!("'{v}' is not valid here"))),
        }
    }

    /// A flag: `true`/`false` in any case, or `default` when unset.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, Error> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(v) => Err(Error::config(
                name,
                format!("'{v}' is neither true nor false"),
            )),
        }
    }

    /// A duration in Go's form (`1m30s`) or a number of seconds.
    pub fn duration(&self, name: &str) -> Result<Option<Duration>, Error> {
        self.get(name)
            .map(|v| parse_duration(v).map_err(|e| Error::config(name, e)))
            .transpose()
    }
}

/// A Go duration (`300ms`, `1h30m`) or plain seconds, as Dapr metadata writes them.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text).map_err(|e| format!("'{text}' is not a duration: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_any_case_and_empty_is_unset() {
        let m: Metadata = [("rootPath", "/tmp"), ("Empty", ""), ("qos", "1")]
            .into_iter()
            .collect();
        assert_eq!(m.get("ROOTPATH"), Some("/tmp"));
        assert_eq!(m.get("empty"), None);
        assert_eq!(m.parse("QoS", 0u8).unwrap(), 1);
        assert!(m.parse::<u8>("rootPath", 0).is_err());
        assert!(matches!(m.required("url"), Err(Error::Config { field, .. }) if field == "url"));
    }

    #[test]
    fn durations_as_go_writes_them() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("20").unwrap(), Duration::from_secs(20));
        assert!(parse_duration("soon").is_err());
    }
}
