//! The key codec: every string round-trips through both encodings, and
//! decoding any text answers without a panic.
#![no_main]

use jetway_broker::codec::{decode, encode_name_part, encode_token, from_header_text, header_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    assert_eq!(decode(&encode_token(text)).as_deref(), Some(text));
    assert_eq!(decode(&encode_name_part(text)).as_deref(), Some(text));
    let value = header_text(text);
    assert!(!value.contains(['\r', '\n']));
    assert_eq!(from_header_text(&value), text);
    let _ = decode(text);
});
