//! HPACK (RFC 7541): a complete decoder, and an encoder that never touches the
//! dynamic table (so it keeps no state and the peer's table size never matters).

use std::collections::VecDeque;
use std::mem::take;

use bytes::BufMut;

/// The static table (RFC 7541, Appendix A); index 1 is the first entry.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Static table indexes the encoder uses.
pub(crate) const STATUS_200: usize = 8;
pub(crate) const CONTENT_TYPE: usize = 31;

/// A header block the decoder cannot read: a connection error.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DecodeError(&'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HPACK: {}", self.0)
    }
}

type Entry = (Box<[u8]>, Box<[u8]>);

/// Decodes header blocks of one connection, keeping its dynamic table.
pub(crate) struct Decoder {
    /// Newest first: index 62 is `table[0]`.
    table: VecDeque<Entry>,
    size: usize,
    max_size: usize,
    /// Our SETTINGS_HEADER_TABLE_SIZE: the most the peer may ask for.
    limit: usize,
    /// A literal field's name and value, kept to spare an allocation each.
    name: Vec<u8>,
    value: Vec<u8>,
}

impl Decoder {
    pub(crate) fn new(limit: usize) -> Decoder {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max_size: limit,
            limit,
            name: Vec::new(),
            value: Vec::new(),
        }
    }

    /// Decodes one complete header block, handing each field to `field`.
    pub(crate) fn decode(
        &mut self,
        mut block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), DecodeError> {
        let mut first = true;
        while let Some(&b) = block.first() {
            if b & 0x80 != 0 {
                let index = integer(&mut block, 7)?;
                let (name, value) = self.entry(index)?;
                field(name, value);
            } else if b & 0xe0 == 0x20 {
                // Size updates may only open a block (RFC 7541, 4.2).
                if !first {
                    return Err(DecodeError("table size update inside a block"));
                }
                let size = integer(&mut block, 5)?;
                if size > self.limit {
                    return Err(DecodeError("table size update above the limit"));
                }
                self.max_size = size;
                self.evict(0);
                continue;
            } else {
                let indexing = b & 0xc0 == 0x40;
                let index = integer(&mut block, if indexing { 6 } else { 4 })?;
                let (mut name, mut value) = (take(&mut self.name), take(&mut self.value));
                name.clear();
                value.clear();
                match index {
                    0 => string(&mut block, &mut name)?,
                    i => name.extend_from_slice(self.entry(i)?.0),
                }
                string(&mut block, &mut value)?;
                field(&name, &value);
                if indexing {
                    self.insert(name[..].into(), value[..].into());
                }
                (self.name, self.value) = (name, value);
            }
            first = false;
        }
        Ok(())
    }

    fn entry(&self, index: usize) -> Result<(&[u8], &[u8]), DecodeError> {
        match index {
            0 => Err(DecodeError("index 0")),
            1..=61 => {
                let (n, v) = STATIC[index - 1];
                Ok((n.as_bytes(), v.as_bytes()))
            }
            _ => self
                .table
                .get(index - 62)
                .map(|(n, v)| (&n[..], &v[..]))
                .ok_or(DecodeError("index past the table")),
        }
    }

    fn insert(&mut self, name: Box<[u8]>, value: Box<[u8]>) {
        let size = name.len() + value.len() + 32;
        self.evict(size);
        // An entry larger than the table empties it and is not kept.
        if size <= self.max_size {
            self.size += size;
            self.table.push_front((name, value));
        }
    }

    /// Evicts the oldest entries until `room` more octets fit.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            let Some((n, v)) = self.table.pop_back() else {
                break;
            };
            self.size -= n.len() + v.len() + 32;
        }
    }
}

/// Reads an integer with an `n`-bit prefix (RFC 7541, 5.1).
fn integer(block: &mut &[u8], n: u8) -> Result<usize, DecodeError> {
    let mask = (1u8 << n) - 1;
    let (&first, mut rest) = block
        .split_first()
        .ok_or(DecodeError("truncated integer"))?;
    let mut value = (first & mask) as usize;
    if value == mask as usize {
        let mut shift = 0;
        loop {
            let (&b, r) = rest.split_first().ok_or(DecodeError("truncated integer"))?;
            rest = r;
            if shift > 21 {
                return Err(DecodeError("integer too large"));
            }
            value += ((b & 0x7f) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    *block = rest;
    Ok(value)
}

/// Reads a string literal (RFC 7541, 5.2) into `out`, Huffman-decoding it.
fn string(block: &mut &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let huffman = block.first().is_some_and(|b| b & 0x80 != 0);
    let len = integer(block, 7)?;
    if block.len() < len {
        return Err(DecodeError("truncated string"));
    }
    let (raw, rest) = block.split_at(len);
    *block = rest;
    if !huffman {
        out.extend_from_slice(raw);
        return Ok(());
    }
    httlib_huffman::decode(raw, out, httlib_huffman::DecoderSpeed::FiveBits)
        .map_err(|_| DecodeError("bad Huffman string"))
}

/// Appends an integer with an `n`-bit prefix; `flags` fills the prefix's high bits.
fn put_integer(out: &mut impl BufMut, flags: u8, n: u8, mut value: usize) {
    let mask = (1usize << n) - 1;
    if value < mask {
        out.put_u8(flags | value as u8);
        return;
    }
    out.put_u8(flags | mask as u8);
    value -= mask;
    while value >= 0x80 {
        out.put_u8(value as u8 | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

/// Appends a fully indexed static field.
pub(crate) fn put_indexed(out: &mut impl BufMut, index: usize) {
    put_integer(out, 0x80, 7, index);
}

/// Appends a literal field without indexing whose name is a static entry.
pub(crate) fn put_indexed_name(out: &mut impl BufMut, index: usize, value: &[u8]) {
    put_integer(out, 0, 4, index);
    put_string(out, value);
}

/// Appends a literal field without indexing.
pub(crate) fn put_literal(out: &mut impl BufMut, name: &[u8], value: &[u8]) {
    out.put_u8(0);
    put_string(out, name);
    put_string(out, value);
}

fn put_string(out: &mut impl BufMut, s: &[u8]) {
    put_integer(out, 0, 7, s.len());
    out.put_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(d: &mut Decoder, block: &[u8]) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        d.decode(block, |n, v| {
            fields.push((
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            ))
        })
        .unwrap();
        fields
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn integers_round_trip_across_prefix_boundaries() {
        for n in [4u8, 5, 6, 7] {
            for value in [0, 1, 14, 15, 16, 30, 31, 127, 128, 1337, 1 << 20] {
                let mut out = Vec::new();
                put_integer(&mut out, 0, n, value);
                let mut block = &out[..];
                assert_eq!(integer(&mut block, n).unwrap(), value, "n={n} v={value}");
                assert!(block.is_empty());
            }
        }
        // RFC 7541 C.1.2: 1337 with a 5-bit prefix.
        let mut out = Vec::new();
        put_integer(&mut out, 0, 5, 1337);
        assert_eq!(out, [0x1f, 0x9a, 0x0a]);
    }

    #[test]
    fn decodes_requests_with_and_without_huffman_sharing_the_dynamic_table() {
        // RFC 7541 C.3 (plain) and C.4 (Huffman): three requests on one connection.
        for (first, second, third) in [
            (
                "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                "8286 84be 5808 6e6f 2d63 6163 6865",
                "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
            ),
            (
                "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                "8286 84be 5886 a8eb 1064 9cbf",
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            ),
        ] {
            let mut d = Decoder::new(4096);
            assert_eq!(
                decode(&mut d, &hex(first)),
                pairs(&[
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                    (":authority", "www.example.com")
                ])
            );
            assert_eq!(
                decode(&mut d, &hex(second)),
                pairs(&[
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                    (":authority", "www.example.com"),
                    ("cache-control", "no-cache")
                ])
            );
            assert_eq!(
                decode(&mut d, &hex(third)),
                pairs(&[
                    (":method", "GET"),
                    (":scheme", "https"),
                    (":path", "/index.html"),
                    (":authority", "www.example.com"),
                    ("custom-key", "custom-value")
                ])
            );
            assert_eq!(d.size, 164);
        }
    }

    #[test]
    fn a_small_table_evicts_the_oldest_entries() {
        let mut d = Decoder::new(4096);
        // Shrink the table to 60 octets, then add two 47-octet entries.
        let mut block = vec![0x3f, 0x1d];
        for v in ["aaaaa", "bbbbb"] {
            block.push(0x40);
            put_string(&mut block, b"custom-key");
            put_string(&mut block, v.as_bytes());
        }
        block.push(0xbe); // index 62: the newest entry
        let fields = decode(&mut d, &block);
        assert_eq!(fields[2], ("custom-key".into(), "bbbbb".into()));
        assert_eq!(d.table.len(), 1);
        assert_eq!(d.entry(63), Err(DecodeError("index past the table")));
    }

    #[test]
    fn rejects_malformed_blocks() {
        let mut d = Decoder::new(4096);
        for bad in [
            &[0x80][..],
            &[0xff, 0xff],
            &[0x0f],
            &[0x00, 0x05, b'a'],
            &[0x3f, 0xe2, 0x1f],
        ] {
            assert!(d.decode(bad, |_, _| {}).is_err(), "{bad:02x?}");
        }
        // A size update after a field.
        assert!(d.decode(&[0x82, 0x20], |_, _| {}).is_err());
        // Two updates may open a block: to zero (emptying the table), then back.
        let mut fields = 0;
        d.decode(&[0x20, 0x3f, 0xe1, 0x1f, 0x82], |_, _| fields += 1)
            .unwrap();
        assert_eq!((fields, d.max_size), (1, 4096));
    }

    #[test]
    fn the_encoder_writes_what_the_decoder_reads() {
        let mut out = Vec::new();
        put_indexed(&mut out, STATUS_200);
        put_indexed_name(&mut out, CONTENT_TYPE, b"application/grpc");
        put_literal(&mut out, b"grpc-status", b"0");
        let long = "x".repeat(300);
        put_literal(&mut out, b"grpc-message", long.as_bytes());
        let mut d = Decoder::new(4096);
        assert_eq!(
            decode(&mut d, &out),
            pairs(&[
                (":status", "200"),
                ("content-type", "application/grpc"),
                ("grpc-status", "0"),
                ("grpc-message", &long)
            ])
        );
        assert!(d.table.is_empty());
    }
}
