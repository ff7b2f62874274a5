use super::*;

fn parse(text: &str) -> Result<Resources, Error> {
    let scope = Scope {
        app_id: "orders",
        namespace: None,
        env_keys: &[],
    };
    let mut out = Resources::default();
    parse_into(text, "res.yaml", &scope, &mut out).map(|_| out)
}

#[test]
fn parses_components_and_both_subscription_versions() {
    let r = parse(
        r#"
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: statestore}
spec:
  type: state.jetstream
  version: v1
  metadata:
  - {name: bucket, value: orders}
  - {name: replicas, value: 1}
  - {name: prefix, value: "{appID}-x"}
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: s2}
spec:
  pubsubname: pubsub
  topic: orders
  routes:
    rules:
    - {match: 'event.type == "big"', path: /big}
    default: /orders
  deadLetterTopic: poison
scopes: [orders]
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata: {name: s1}
spec: {pubsubname: pubsub, topic: other, route: /other, metadata: {rawPayload: "true"}}
scopes: [someone-else]
---
"#,
    )
    .unwrap();
    let c = &r.components[0];
    assert_eq!(
        (c.name.as_str(), c.kind.as_str(), c.version.as_str()),
        ("statestore", "state.jetstream", "v1")
    );
    assert_eq!(c.metadata.get("replicas"), Some("1"));
    assert_eq!(c.metadata.get("prefix"), Some("orders-x"));
    assert_eq!(r.subscriptions.len(), 1, "s1 is scoped to another app");
    let s = &r.subscriptions[0];
    assert_eq!(s.rules.len(), 2);
    assert_eq!(
        s.rules[1],
        Rule {
            matches: String::new(),
            path: "/orders".into()
        }
    );
    assert_eq!(s.dead_letter_topic.as_deref(), Some("poison"));
}

#[test]
fn missing_fields_are_named() {
    let e = parse(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: s}\nspec: {version: v1}\n",
    )
    .unwrap_err();
    assert_eq!(
        (e.resource.as_str(), e.field.as_deref()),
        ("Component 's'", Some("spec.type"))
    );
    assert!(
        e.to_string()
            .starts_with("res.yaml: Component 's': field 'spec.type'"),
        "{e}"
    );

    let e = parse("apiVersion: dapr.io/v1alpha1\nkind: Component\nspec: {type: state.in-memory, version: v1}\n").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("metadata.name"));

    let e = parse("apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: x}\nspec: {pubsubname: p, routes: {default: /a}}\n").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("spec.topic"));

    let e = parse("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: s}\nspec:\n  type: state.in-memory\n  version: v1\n  metadata:\n  - {value: x}\n").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("spec.metadata[0].name"));
}

#[test]
fn malformed_yaml_names_the_document() {
    let e = parse("kind: Component\nmetadata: [unclosed\n").unwrap_err();
    assert_eq!(e.resource, "document 1");
    assert!(e.message.starts_with("malformed YAML"), "{e}");
}

#[test]
fn duplicate_component_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let doc = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: s}\nspec: {type: state.in-memory, version: v1}\n";
    std::fs::write(dir.path().join("a.yaml"), doc).unwrap();
    std::fs::write(dir.path().join("b.yml"), doc).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
    let scope = Scope {
        app_id: "a",
        namespace: None,
        env_keys: &[],
    };
    let e = load(&[dir.path().to_owned()], &scope).unwrap_err();
    assert!(
        e.file.ends_with("b.yml") && e.field.as_deref() == Some("metadata.name"),
        "{e}"
    );
}

#[test]
fn workflow_retention_reads_every_terminal_state() {
    let r = parse(
        r#"
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: appconfig}
spec:
  workflow:
    stateRetentionPolicy: {anyTerminal: 360h, completed: 1m}
"#,
    )
    .unwrap();
    let hours = std::time::Duration::from_secs(360 * 3600);
    assert_eq!(
        r.workflow_retention,
        Some(jetway_workflows::engine::Retention {
            completed: Some(std::time::Duration::from_secs(60)),
            failed: Some(hours),
            terminated: Some(hours),
        })
    );
    let bad = parse(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\nspec: {workflow: {stateRetentionPolicy: {failed: soon}}}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("spec.workflow.stateRetentionPolicy.failed"),
        "{bad}"
    );
}

#[test]
fn secret_scopes_are_read_per_store() {
    let r = parse(
        r#"
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: appconfig}
spec:
  secrets:
    scopes:
    - {storeName: vault, defaultAccess: DENY, allowedSecrets: [db]}
    - {storeName: local, deniedSecrets: [admin]}
"#,
    )
    .unwrap();
    let vault = &r.secret_scopes["vault"];
    assert!(vault.default_deny && vault.allows("db") && !vault.allows("other"));
    assert!(!r.secret_scopes["local"].allows("admin") && r.secret_scopes["local"].allows("db"));
    let bad = parse(
        "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\nspec: {secrets: {scopes: [{defaultAccess: allow}]}}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("spec.secrets.scopes[0]") && bad.contains("storeName"),
        "{bad}"
    );
}
