//! Component metadata, whose keys Dapr reads case-insensitively: `natsURL`,
//! `natsUrl` and `NATSURL` are one key.

use std::collections::BTreeMap;

/// A component's `spec.metadata`: names kept as written, looked up in any case.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    /// Lowercased name → (name as written, value).
    entries: BTreeMap<String, (String, String)>,
}

impl Metadata {
    /// Sets `name`; a later name that differs only in case replaces it.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.entries
            .insert(name.to_ascii_lowercase(), (name, value.into()));
    }

    /// The value of `name`, in any case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .get(&name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` unless it is empty, which Dapr treats as unset.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// True when `name` is set to `true` (in any case).
    pub fn flag(&self, name: &str) -> bool {
        self.value(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// Names as written, with their values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .values()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(items: I) -> Metadata {
        let mut metadata = Metadata::default();
        for (k, v) in items {
            metadata.insert(k, v);
        }
        metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_in_any_case_and_kept_as_written() {
        let m: Metadata = [("natsUrl", "nats://a"), ("BACKOFF", "1s"), ("empty", "")]
            .into_iter()
            .collect();
        assert_eq!(m.get("natsURL"), Some("nats://a"));
        assert_eq!(m.get("backOff"), Some("1s"));
        assert_eq!(m.value("empty"), None);
        assert_eq!(m.get("EMPTY"), Some(""));
        let names: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["BACKOFF", "empty", "natsUrl"]);
    }

    #[test]
    fn flags() {
        let m: Metadata = [("actorStateStore", "TRUE"), ("other", "yes")]
            .into_iter()
            .collect();
        assert!(m.flag("actorstatestore"));
        assert!(!m.flag("other"));
        assert!(!m.flag("missing"));
    }
}
