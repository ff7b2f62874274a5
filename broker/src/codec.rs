//! Reversible, collision-free encoding of arbitrary strings into NATS names.
//!
//! NATS KV keys allow only `A-Z a-z 0-9 - _ = / .` and treat `.` as a token
//! separator; subjects, streams and consumers forbid `.`, `*`, `>` and whitespace
//! in a token. Dapr keys, app ids and topics may hold any character, so every byte
//! outside a safe set is written as `=XX` (upper-case hex), and `=` itself is
//! escaped. Decoding is the exact inverse, and two different inputs never share an
//! encoding because `=` only ever starts an escape.

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

const ESCAPE: u8 = b'=';
const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Encodes `input` as a single NATS token (a KV key or one subject token).
///
/// Safe bytes are `A-Z a-z 0-9 - _`; everything else, including `.`, is escaped.
/// The empty string encodes as `=` alone so a token is never empty.
pub fn encode_token(input: &str) -> String {
    encode(input, |b| {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
    })
}

/// Like [`encode_token`] but also escapes `_`, so `_` can join encoded parts.
pub fn encode_name_part(input: &str) -> String {
    encode(input, |b| b.is_ascii_alphanumeric() || b == b'-')
}

fn encode(input: &str, safe: impl Fn(u8) -> bool) -> String {
    if input.is_empty() {
        return "=".to_owned();
    }
    let mut out = String::with_capacity(input.len());
    for &b in input.as_bytes() {
        if safe(b) {
            out.push(b as char);
        } else {
            out.push(ESCAPE as char);
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xF) as usize] as char);
        }
    }
    out
}

/// Decodes a token produced by [`encode_token`] or [`encode_name_part`].
///
/// Returns `None` for text that no encoder produces (a dangling or malformed
/// escape, or bytes that are not UTF-8 once decoded).
pub fn decode(token: &str) -> Option<String> {
    if token == "=" {
        return Some(String::new());
    }
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == ESCAPE {
            let hi = hex_value(*bytes.get(i + 1)?)?;
            let lo = hex_value(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// What a NATS header value escapes: line breaks and other controls, which
/// NATS headers cannot hold, and `%` (and, as always, every byte beyond ASCII).
const HEADER_VALUE: &AsciiSet = &CONTROLS.add(b'%');

/// `text` as a NATS header value: percent-encoded where it must be, so any
/// string (an event id from a caller, an actor id) crosses without a panic.
pub fn header_text(text: &str) -> std::borrow::Cow<'_, str> {
    utf8_percent_encode(text, HEADER_VALUE).into()
}

/// The text a [`header_text`] value stands for.
pub fn from_header_text(value: &str) -> std::borrow::Cow<'_, str> {
    percent_decode_str(value).decode_utf8_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_holds_no_line_break_and_round_trips() {
        for text in ["plain-id", "a\nb\r\nc", "100% «sure»", ""] {
            let value = header_text(text);
            assert!(!value.contains(['\r', '\n']) && value.is_ascii(), "{value}");
            assert_eq!(from_header_text(&value), text);
        }
        assert_eq!(header_text("plain-id"), "plain-id");
    }

    const SAMPLES: &[&str] = &[
        "",
        "plain",
        "order-1_a",
        "myapp||key",
        "a.b.c",
        "*",
        ">",
        "with space",
        "=",
        "=3D",
        "ümlaut→🚀",
        "tab\there",
        "slash/and\\back",
        "..",
    ];

    #[test]
    fn round_trips() {
        for s in SAMPLES {
            assert_eq!(decode(&encode_token(s)).as_deref(), Some(*s), "token {s:?}");
            assert_eq!(
                decode(&encode_name_part(s)).as_deref(),
                Some(*s),
                "name {s:?}"
            );
        }
    }

    #[test]
    fn is_collision_free_on_tricky_pairs() {
        let encoded: Vec<String> = SAMPLES.iter().map(|s| encode_token(s)).collect();
        let mut unique = encoded.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), encoded.len());
        assert_ne!(encode_token("a.b"), encode_token("a=2Eb"));
    }

    #[test]
    fn output_is_a_valid_kv_key_and_subject_token() {
        for s in SAMPLES {
            let t = encode_token(s);
            assert!(!t.is_empty());
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)),
                "{t}"
            );
        }
        assert!(!encode_name_part("a_b").contains('_'));
    }

    #[test]
    fn keeps_safe_text_readable() {
        assert_eq!(encode_token("order-42"), "order-42");
        assert_eq!(encode_token("myapp||key"), "myapp=7C=7Ckey");
    }

    #[test]
    fn rejects_malformed_escapes() {
        assert_eq!(decode("=4"), None);
        assert_eq!(decode("=zz"), None);
        assert_eq!(decode("=FF"), None); // a lone 0xFF byte is not UTF-8
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any string survives both encodings, which hold safe bytes only.
            #[test]
            fn encodings_round_trip(text in any::<String>()) {
                let token = encode_token(&text);
                prop_assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)));
                prop_assert_eq!(decode(&token), Some(text.clone()));
                let part = encode_name_part(&text);
                prop_assert!(part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-=".contains(&b)));
                prop_assert_eq!(decode(&part), Some(text.clone()));
                let value = header_text(&text);
                prop_assert!(value.is_ascii() && !value.contains(['\r', '\n']));
                prop_assert_eq!(from_header_text(&value), text.as_str());
            }

            /// Decoding text no encoder wrote answers `None` or a string, never a panic.
            #[test]
            fn decoding_anything_is_total(token in "[=A-Za-z0-9._-]{0,32}|.{0,32}") {
                if let Some(text) = decode(&token) {
                    prop_assert_eq!(decode(&encode_token(&text)), Some(text));
                }
            }
        }
    }
}
