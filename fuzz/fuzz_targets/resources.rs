//! The resource YAML loader: any text is loaded or refused with a message,
//! never a panic or a hang.
#![no_main]

use jetway_runtime::resources::{Resources, Scope, parse_into};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let env_keys = vec!["HOME".to_owned()];
    let scope = Scope {
        app_id: "fuzz",
        namespace: Some("default"),
        env_keys: &env_keys,
    };
    let mut out = Resources::default();
    let _ = parse_into(text, "fuzz.yaml", &scope, &mut out);
});
