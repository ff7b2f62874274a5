//! The app's actor configuration, as its `GET /dapr/config` answers it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use jetway_core::duration;

/// daprd's defaults.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const SCAN_INTERVAL: Duration = Duration::from_secs(30);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_STACK_DEPTH: u32 = 32;

/// How the actors of one type behave.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeConfig {
    /// Deactivate an actor after this long without a call, timer or reminder.
    pub idle_timeout: Duration,
    /// How long a rebalance or shutdown waits for a call in flight.
    pub drain_timeout: Duration,
    /// Deactivate actors when their partition moves to another host.
    pub drain_rebalanced: bool,
    /// The maximum reentrancy depth when reentrancy is enabled.
    pub reentrancy: Option<u32>,
}

/// The actor types an app hosts and how often idle actors are looked for.
#[derive(Clone, Debug, PartialEq)]
pub struct AppConfig {
    pub types: BTreeMap<String, TypeConfig>,
    pub scan_interval: Duration,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Wire {
    entities: Option<Vec<String>>,
    actor_scan_interval: Option<String>,
    #[serde(flatten)]
    settings: WireSettings,
    entities_config: Option<Vec<WireEntities>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
struct WireSettings {
    actor_idle_timeout: Option<String>,
    drain_ongoing_call_timeout: Option<String>,
    drain_rebalanced_actors: Option<bool>,
    reentrancy: Option<WireReentrancy>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase", default)]
struct WireReentrancy {
    enabled: bool,
    max_stack_depth: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireEntities {
    entities: Vec<String>,
    #[serde(flatten)]
    settings: WireSettings,
}

impl AppConfig {
    /// Reads the app's answer; a field in a form Dapr would refuse is an error
    /// that names it.
    pub fn parse(body: &[u8]) -> Result<AppConfig, String> {
        let wire: Wire = serde_json::from_slice(body)
            .map_err(|e| format!("invalid actor configuration: {e}"))?;
        let defaults = type_config(&wire.settings, None)?;
        let mut types = BTreeMap::new();
        for name in wire.entities.unwrap_or_default() {
            types.insert(name, defaults.clone());
        }
        for group in wire.entities_config.unwrap_or_default() {
            let config = type_config(&group.settings, Some(&defaults))?;
            for name in group.entities {
                types.insert(name, config.clone());
            }
        }
        types.retain(|name, _| !name.is_empty());
        // Without an interval (the gRPC form has none), scan often enough for
        // the shortest idle timeout.
        let shortest = types.values().map(|t| t.idle_timeout / 2).min();
        let scan_interval = match wire.actor_scan_interval.as_deref() {
            Some(text) => go_duration("actorScanInterval", text)?,
            None => shortest.map_or(SCAN_INTERVAL, |s| {
                s.clamp(Duration::from_millis(100), SCAN_INTERVAL)
            }),
        };
        Ok(AppConfig {
            types,
            scan_interval,
        })
    }
}

fn go_duration(field: &str, text: &str) -> Result<Duration, String> {
    duration::parse(text).map_err(|e| format!("actor configuration field '{field}': {e}"))
}

/// One type's settings: what `settings` gives, else `base`, else daprd's defaults.
fn type_config(settings: &WireSettings, base: Option<&TypeConfig>) -> Result<TypeConfig, String> {
    let duration = |field, value: &Option<String>, default| match value.as_deref() {
        Some(text) if !text.is_empty() => go_duration(field, text),
        _ => Ok(default),
    };
    Ok(TypeConfig {
        idle_timeout: duration(
            "actorIdleTimeout",
            &settings.actor_idle_timeout,
            base.map_or(IDLE_TIMEOUT, |b| b.idle_timeout),
        )?,
        drain_timeout: duration(
            "drainOngoingCallTimeout",
            &settings.drain_ongoing_call_timeout,
            base.map_or(DRAIN_TIMEOUT, |b| b.drain_timeout),
        )?,
        drain_rebalanced: settings
            .drain_rebalanced_actors
            .unwrap_or(base.is_none_or(|b| b.drain_rebalanced)),
        reentrancy: match &settings.reentrancy {
            Some(r) if r.enabled => Some(r.max_stack_depth.unwrap_or(MAX_STACK_DEPTH)),
            Some(_) => None,
            None => base.and_then(|b| b.reentrancy),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_sdk_config() {
        let body = br#"{"entities":["Counter","Timer"],"actorIdleTimeout":"0h0m2s0ms0\u03bcs",
            "actorScanInterval":"0h0m1s0ms0\u03bcs","drainOngoingCallTimeout":"0h1m0s0ms0\u03bcs",
            "drainRebalancedActors":true,"reentrancy":null,"remindersStoragePartitions":0,
            "entitiesConfig":[{"entities":["Timer"],"actorIdleTimeout":"1h0m0s0ms0\u03bcs",
            "reentrancy":{"enabled":true,"maxStackDepth":8}}]}"#;
        let config = AppConfig::parse(body).unwrap();
        assert_eq!(config.scan_interval, Duration::from_secs(1));
        let counter = &config.types["Counter"];
        assert_eq!(counter.idle_timeout, Duration::from_secs(2));
        assert_eq!(counter.drain_timeout, Duration::from_secs(60));
        assert_eq!(counter.reentrancy, None);
        let timer = &config.types["Timer"];
        assert_eq!(timer.idle_timeout, Duration::from_secs(3600));
        assert_eq!(timer.drain_timeout, Duration::from_secs(60));
        assert_eq!(timer.reentrancy, Some(8));
    }

    #[test]
    fn defaults_and_errors() {
        let config =
            AppConfig::parse(br#"{"entities":["A"],"reentrancy":{"enabled":true}}"#).unwrap();
        assert_eq!(
            config.types["A"],
            TypeConfig {
                idle_timeout: IDLE_TIMEOUT,
                drain_timeout: DRAIN_TIMEOUT,
                drain_rebalanced: true,
                reentrancy: Some(32),
            }
        );
        assert!(AppConfig::parse(b"{}").unwrap().types.is_empty());
        let err = AppConfig::parse(br#"{"entities":["A"],"actorIdleTimeout":"soon"}"#).unwrap_err();
        assert!(err.contains("actorIdleTimeout"), "{err}");
    }
}
