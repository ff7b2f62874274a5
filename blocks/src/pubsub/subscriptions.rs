//! Programmatic subscriptions: what an HTTP app answers to `GET /dapr/subscribe`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{BulkSpec, Rule, Subscription};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    #[serde(alias = "pubsubName")]
    pubsubname: String,
    topic: String,
    route: Option<String>,
    routes: Option<Routes>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    dead_letter_topic: Option<String>,
    bulk_subscribe: Option<BulkSpec>,
}

#[derive(Deserialize)]
struct Routes {
    #[serde(default)]
    rules: Vec<RuleItem>,
    default: Option<String>,
}

#[derive(Deserialize)]
struct RuleItem {
    #[serde(rename = "match", default)]
    matches: String,
    path: String,
}

/// Parses the app's answer (v1 and v2 items may be mixed); items with no route
/// at all are dropped, as daprd does.
pub fn parse(body: &[u8]) -> Result<Vec<Subscription>, String> {
    let items: Vec<Item> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(items
        .into_iter()
        .filter_map(|i| {
            let mut rules = Vec::new();
            let mut default = i.route;
            if let Some(routes) = i.routes {
                rules.extend(routes.rules.into_iter().map(|r| Rule {
                    matches: r.matches,
                    path: r.path,
                }));
                default = routes.default.or(default);
            }
            if let Some(path) = default.filter(|p| !p.is_empty()) {
                rules.push(Rule {
                    matches: String::new(),
                    path,
                });
            }
            (!rules.is_empty()).then(|| Subscription {
                name: format!("{}/{}", i.pubsubname, i.topic),
                pubsub: i.pubsubname,
                topic: i.topic,
                rules,
                metadata: i.metadata,
                dead_letter_topic: i.dead_letter_topic.filter(|t| !t.is_empty()),
                scopes: Vec::new(),
                bulk: i.bulk_subscribe.and_then(|b| b.bulk()),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_items() {
        let subs = parse(
            br#"[
            {"pubsubname":"ps","topic":"a","route":"/a","metadata":{"rawPayload":"true"},"deadLetterTopic":"dead"},
            {"pubsubname":"ps","topic":"b","routes":{"rules":[{"match":"event.type == \"x\"","path":"/x"}],"default":"/b"}},
            {"pubsubname":"ps","topic":"none"}
        ]"#,
        )
        .unwrap();
        assert_eq!(subs.len(), 2);
        assert_eq!(
            subs[0].rules,
            vec![Rule {
                matches: String::new(),
                path: "/a".into()
            }]
        );
        assert_eq!(subs[0].dead_letter_topic.as_deref(), Some("dead"));
        assert_eq!(subs[1].rules.len(), 2);
        assert_eq!(subs[1].rules[1].path, "/b");
        assert!(parse(b"{}").is_err());
    }
}
