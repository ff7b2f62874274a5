//! Dapr resource YAML: Components and Subscriptions, loaded before anything
//! binds a port. A malformed file stops the node with an error that names the
//! file, the resource and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why resources could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {resource}{field}: {message}", field = field.as_ref().map(|f| format!(": field '{f}'")).unwrap_or_default())]
pub struct Error {
    pub file: String,
    /// `Component 'statestore'`, or `document 2` when the name is unknown.
    pub resource: String,
    pub field: Option<String>,
    pub message: String,
}

/// A component: `metadata.name`, `spec.type`, `spec.version`, metadata values.
#[derive(Clone, Debug)]
pub struct Component {
    pub name: String,
    pub kind: String,
    pub version: String,
    pub metadata: jetway_core::Metadata,
    pub scopes: Vec<String>,
    pub ignore_errors: bool,
    /// Metadata values to read from a secret store before the component is built.
    pub secret_refs: Vec<SecretRef>,
    /// `auth.secretStore`: the store `secret_refs` are read from.
    pub secret_store: Option<String>,
    /// Where it was declared, for later error messages.
    pub file: String,
}

/// A metadata value given as `secretKeyRef`: the `key` of secret `secret`.
#[derive(Clone, Debug, PartialEq)]
pub struct SecretRef {
    /// The metadata name the value is for.
    pub name: String,
    pub secret: String,
    pub key: String,
    /// Where it was written (`spec.metadata[2].secretKeyRef`).
    pub field: String,
}

pub use jetway_blocks::pubsub::{Bulk, BulkSpec, Rule, Subscription};

/// Everything loaded from the resource paths.
#[derive(Debug, Default)]
pub struct Resources {
    pub components: Vec<Component>,
    pub subscriptions: Vec<Subscription>,
    /// A Configuration's `workflow.stateRetentionPolicy`, if one sets it.
    pub workflow_retention: Option<jetway_workflows::engine::Retention>,
    /// A Configuration's `secrets.scopes`, by secret store name.
    pub secret_scopes: BTreeMap<String, jetway_blocks::secrets::Scope>,
}

/// Settings that decide which resources apply to this node.
pub struct Scope<'a> {
    pub app_id: &'a str,
    /// `NAMESPACE`: resources of other namespaces are skipped.
    pub namespace: Option<&'a str>,
    /// `DAPR_ENV_KEYS`: environment variables `envRef` may read.
    pub env_keys: &'a [String],
}

/// Loads every `.yaml`/`.yml` file of `paths` (directories or files).
pub fn load(paths: &[PathBuf], scope: &Scope<'_>) -> Result<Resources, Error> {
    let mut out = Resources::default();
    for path in paths {
        for file in yaml_files(path)? {
            let text = std::fs::read_to_string(&file).map_err(|e| Error {
                file: file.display().to_string(),
                resource: "file".into(),
                field: None,
                message: e.to_string(),
            })?;
            parse_into(&text, &file.display().to_string(), scope, &mut out)?;
        }
    }
    for (i, c) in out.components.iter().enumerate() {
        if out.components[..i].iter().any(|o| o.name == c.name) {
            return Err(Error {
                file: c.file.clone(),
                resource: format!("Component '{}'", c.name),
                field: Some("metadata.name".into()),
                message: "a component with this name is already defined".into(),
            });
        }
    }
    Ok(out)
}

/// One entry of a Configuration's `secrets.scopes`: its store and scope, or
/// the field (under the entry) that is wrong.
fn secret_scope(
    v: &serde_yaml::Value,
) -> Result<(String, jetway_blocks::secrets::Scope), (String, String)> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Entry {
        store_name: String,
        #[serde(default)]
        default_access: Option<String>,
        #[serde(default)]
        allowed_secrets: Vec<String>,
        #[serde(default)]
        denied_secrets: Vec<String>,
    }
    let e: Entry = serde_yaml::from_value(v.clone()).map_err(|e| (String::new(), e.to_string()))?;
    let default_deny = match e.default_access.as_deref().map(str::to_ascii_lowercase) {
        None => false,
        Some(a) if a == "allow" || a.is_empty() => false,
        Some(a) if a == "deny" => true,
        Some(a) => {
            return Err((
                ".defaultAccess".into(),
                format!("'{a}' is neither allow nor deny"),
            ));
        }
    };
    let scope = jetway_blocks::secrets::Scope {
        default_deny,
        allowed: e.allowed_secrets,
        denied: e.denied_secrets,
    };
    Ok((e.store_name, scope))
}

fn yaml_files(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let err = |message: String| Error {
        file: path.display().to_string(),
        resource: "path".into(),
        field: None,
        message,
    };
    let meta =
        std::fs::metadata(path).map_err(|e| err(format!("cannot read resources path: {e}")))?;
    if meta.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| err(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    files.sort();
    Ok(files)
}

#[derive(Deserialize)]
struct Document {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    metadata: ObjectMeta,
    spec: Option<serde_yaml::Value>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    auth: Auth,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Auth {
    secret_store: Option<String>,
}

#[derive(Deserialize)]
struct SecretKeyRef {
    name: Option<String>,
    key: Option<String>,
}

#[derive(Default, Deserialize)]
struct ObjectMeta {
    name: Option<String>,
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ComponentSpec {
    #[serde(rename = "type")]
    kind: Option<String>,
    version: Option<String>,
    #[serde(default)]
    metadata: Vec<MetadataItem>,
    #[serde(default)]
    ignore_errors: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataItem {
    name: Option<String>,
    value: Option<serde_yaml::Value>,
    secret_key_ref: Option<SecretKeyRef>,
    env_ref: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionSpec {
    pubsubname: Option<String>,
    topic: Option<String>,
    route: Option<String>,
    routes: Option<Routes>,
    #[serde(default)]
    metadata: BTreeMap<String, serde_yaml::Value>,
    dead_letter_topic: Option<String>,
    bulk_subscribe: Option<BulkSpec>,
}

#[derive(Deserialize)]
struct Routes {
    #[serde(default)]
    rules: Vec<RuleSpec>,
    default: Option<String>,
}

#[derive(Deserialize)]
struct RuleSpec {
    #[serde(rename = "match")]
    matches: Option<String>,
    path: Option<String>,
}

/// Parses one file's documents into `out`.
pub fn parse_into(
    text: &str,
    file: &str,
    scope: &Scope<'_>,
    out: &mut Resources,
) -> Result<(), Error> {
    for (index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(doc).map_err(|e| Error {
            file: file.into(),
            resource: format!("document {}", index + 1),
            field: None,
            message: format!("malformed YAML: {e}"),
        })?;
        if value.is_null() {
            continue; // an empty document, e.g. a trailing `---`
        }
        let doc: Document = serde_yaml::from_value(value).map_err(|e| Error {
            file: file.into(),
            resource: format!("document {}", index + 1),
            field: None,
            message: e.to_string(),
        })?;
        let kind = doc.kind.clone().unwrap_or_default();
        let err = |field: &str, message: String| Error {
            file: file.into(),
            resource: match &doc.metadata.name {
                Some(n) => format!("{kind} '{n}'"),
                None => format!(
                    "{} (document {})",
                    if kind.is_empty() { "resource" } else { &kind },
                    index + 1
                ),
            },
            field: Some(field.into()),
            message,
        };
        let Some(api_version) = doc.api_version.as_deref() else {
            return Err(err("apiVersion", "missing".into()));
        };
        if kind.is_empty() {
            return Err(err("kind", "missing".into()));
        }
        let Some(name) = doc.metadata.name.clone().filter(|n| !n.is_empty()) else {
            return Err(err("metadata.name", "missing".into()));
        };
        if let (Some(ns), Some(want)) = (doc.metadata.namespace.as_deref(), scope.namespace)
            && ns != want
        {
            continue;
        }
        let in_scope = doc.scopes.is_empty() || doc.scopes.iter().any(|s| s == scope.app_id);
        let spec = doc
            .spec
            .clone()
            .ok_or_else(|| err("spec", "missing".into()))?;
        match kind.as_str() {
            "Component" => {
                let spec: ComponentSpec =
                    serde_yaml::from_value(spec).map_err(|e| err("spec", e.to_string()))?;
                let kind = spec
                    .kind
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| err("spec.type", "missing".into()))?;
                // daprd takes a missing version as the first one.
                let version = spec.version.unwrap_or_default();
                let mut metadata = jetway_core::Metadata::default();
                let mut secret_refs = Vec::new();
                for (i, item) in spec.metadata.into_iter().enumerate() {
                    let field = format!("spec.metadata[{i}]");
                    let key = item
                        .name
                        .ok_or_else(|| err(&format!("{field}.name"), "missing".into()))?;
                    let value = if let Some(v) = item.value {
                        scalar(&v).ok_or_else(|| {
                            err(
                                &format!("{field}.value"),
                                "must be a string, number or boolean".into(),
                            )
                        })?
                    } else if let Some(var) = item.env_ref {
                        if !scope.env_keys.iter().any(|k| k == &var) {
                            return Err(err(
                                &format!("{field}.envRef"),
                                format!("'{var}' is not listed in DAPR_ENV_KEYS"),
                            ));
                        }
                        std::env::var(&var).unwrap_or_default()
                    } else if let Some(r) = item.secret_key_ref {
                        let field = format!("{field}.secretKeyRef");
                        let secret = r
                            .name
                            .filter(|n| !n.is_empty())
                            .ok_or_else(|| err(&format!("{field}.name"), "missing".into()))?;
                        secret_refs.push(SecretRef {
                            name: key,
                            key: r.key.filter(|k| !k.is_empty()).unwrap_or(secret.clone()),
                            secret,
                            field,
                        });
                        continue;
                    } else {
                        String::new()
                    };
                    metadata.insert(key, expand_templates(&value, scope));
                }
                if in_scope {
                    out.components.push(Component {
                        name,
                        kind,
                        version,
                        metadata,
                        scopes: doc.scopes,
                        ignore_errors: spec.ignore_errors,
                        secret_refs,
                        secret_store: doc.auth.secret_store.filter(|s| !s.is_empty()),
                        file: file.into(),
                    });
                }
            }
            "Subscription" => {
                let spec: SubscriptionSpec =
                    serde_yaml::from_value(spec).map_err(|e| err("spec", e.to_string()))?;
                let pubsub = spec
                    .pubsubname
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| err("spec.pubsubname", "missing".into()))?;
                let topic = spec
                    .topic
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| err("spec.topic", "missing".into()))?;
                let mut rules = Vec::new();
                let default = match api_version {
                    "dapr.io/v1alpha1" => spec.route,
                    "dapr.io/v2alpha1" => {
                        let routes = spec
                            .routes
                            .ok_or_else(|| err("spec.routes", "missing".into()))?;
                        for (i, r) in routes.rules.into_iter().enumerate() {
                            let path = r.path.ok_or_else(|| {
                                err(&format!("spec.routes.rules[{i}].path"), "missing".into())
                            })?;
                            rules.push(Rule {
                                matches: r.matches.unwrap_or_default(),
                                path,
                            });
                        }
                        routes.default
                    }
                    other => {
                        return Err(err(
                            "apiVersion",
                            format!(
                                "'{other}' is not a Subscription version (dapr.io/v1alpha1 or dapr.io/v2alpha1)"
                            ),
                        ));
                    }
                };
                if let Some(path) = default.filter(|p| !p.is_empty()) {
                    rules.push(Rule {
                        matches: String::new(),
                        path,
                    });
                }
                if rules.is_empty() {
                    return Err(err(
                        "spec.route",
                        "a subscription needs a route (v1alpha1) or routes (v2alpha1)".into(),
                    ));
                }
                let metadata = spec
                    .metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), scalar(v).unwrap_or_default()))
                    .collect();
                if in_scope {
                    out.subscriptions.push(Subscription {
                        name,
                        pubsub,
                        topic,
                        rules,
                        metadata,
                        dead_letter_topic: spec.dead_letter_topic.filter(|t| !t.is_empty()),
                        scopes: doc.scopes,
                        bulk: spec.bulk_subscribe.and_then(|b| b.bulk()),
                    });
                }
            }
            "Configuration" => {
                // Security settings that are not applied would leave the
                // app open while its owner believes it protected.
                let enabled = |path: &[&str]| {
                    let mut v = &spec;
                    for p in path {
                        v = match v.get(p) {
                            Some(next) => next,
                            None => return false,
                        };
                    }
                    !v.is_null() && v.as_bool() != Some(false)
                };
                if enabled(&["accessControl"]) {
                    return Err(err(
                        "spec.accessControl",
                        "access control is not enforced yet: refusing to start rather than leave service invocation open to every app".into(),
                    ));
                }
                if enabled(&["mtls", "enabled"]) {
                    return Err(err(
                        "spec.mtls.enabled",
                        "Jetway has no sidecar-to-sidecar mTLS yet (secure the NATS connection instead): refusing to start rather than run unprotected".into(),
                    ));
                }
                let policy = &spec["workflow"]["stateRetentionPolicy"];
                if !policy.is_null() {
                    let field = "spec.workflow.stateRetentionPolicy";
                    let keep = |key: &str| match &policy[key] {
                        serde_yaml::Value::Null => Ok(None),
                        value => scalar(value)
                            .ok_or_else(|| "is not a duration".to_owned())
                            .and_then(|text| jetway_core::duration::parse(&text))
                            .map(Some)
                            .map_err(|e| {
                                err(&format!("{field}.{key}"), format!("not a duration: {e}"))
                            }),
                    };
                    let any = keep("anyTerminal")?;
                    out.workflow_retention = Some(jetway_workflows::engine::Retention {
                        completed: keep("completed")?.or(any),
                        failed: keep("failed")?.or(any),
                        terminated: keep("terminated")?.or(any),
                    });
                }
                for (i, scope) in spec["secrets"]["scopes"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let (store, scope) = secret_scope(scope)
                        .map_err(|(f, m)| err(&format!("spec.secrets.scopes[{i}]{f}"), m))?;
                    out.secret_scopes.insert(store, scope);
                }
                tracing::warn!(
                    file,
                    name,
                    "Configuration is applied only in part so far (secrets.scopes, workflow.stateRetentionPolicy); tracing, metrics and features are ignored."
                );
            }
            "Resiliency" | "HTTPEndpoint" => {
                tracing::warn!(
                    file,
                    kind,
                    name,
                    "Resource kind not supported yet; ignored."
                );
            }
            other => {
                tracing::warn!(file, kind = other, name, "Unknown resource kind; ignored.");
            }
        }
    }
    Ok(())
}

fn scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        serde_yaml::Value::Null => Some(String::new()),
        _ => None,
    }
}

/// Expands Dapr's metadata templates: `{uuid}`, `{appID}`, `{namespace}`, `{podName}`.
fn expand_templates(value: &str, scope: &Scope<'_>) -> String {
    if !value.contains('{') {
        return value.to_owned();
    }
    let namespace = match scope.namespace {
        Some(ns) => format!("{ns}.{}", scope.app_id),
        None => scope.app_id.to_owned(),
    };
    value
        .replace("{uuid}", &uuid::Uuid::new_v4().to_string())
        .replace("{appID}", scope.app_id)
        .replace("{namespace}", &namespace)
        .replace("{podName}", &std::env::var("POD_NAME").unwrap_or_default())
}

#[cfg(test)]
mod tests;
