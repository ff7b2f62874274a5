//! HTTP/2 frames (RFC 9113, section 6): the nine-octet header and writers for
//! the frames a server sends.

use bytes::{BufMut, Bytes, BytesMut};

pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub(crate) const HEADER_LEN: usize = 9;

pub(crate) const DATA: u8 = 0x0;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const RST_STREAM: u8 = 0x3;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const PUSH_PROMISE: u8 = 0x5;
pub(crate) const PING: u8 = 0x6;
pub(crate) const GOAWAY: u8 = 0x7;
pub(crate) const WINDOW_UPDATE: u8 = 0x8;
pub(crate) const CONTINUATION: u8 = 0x9;

pub(crate) const END_STREAM: u8 = 0x1;
pub(crate) const ACK: u8 = 0x1;
pub(crate) const END_HEADERS: u8 = 0x4;
pub(crate) const PADDED: u8 = 0x8;
pub(crate) const PRIORITY_FLAG: u8 = 0x20;

pub(crate) const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub(crate) const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub(crate) const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub(crate) const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;

/// The window every stream and the connection start with.
pub(crate) const DEFAULT_WINDOW: i64 = 65_535;
pub(crate) const DEFAULT_MAX_FRAME: usize = 16_384;
pub(crate) const MAX_WINDOW: i64 = (1 << 31) - 1;

/// Error codes (RFC 9113, section 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    NoError = 0x0,
    Protocol = 0x1,
    Internal = 0x2,
    FlowControl = 0x3,
    StreamClosed = 0x5,
    FrameSize = 0x6,
    RefusedStream = 0x7,
    Cancel = 0x8,
    Compression = 0x9,
    EnhanceYourCalm = 0xb,
}

/// A frame's header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head {
    pub(crate) len: usize,
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
}

impl Head {
    /// Reads the header at the start of `b`, which holds at least nine octets.
    pub(crate) fn parse(b: &[u8]) -> Head {
        Head {
            len: (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize,
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }
}

pub(crate) fn put_head(out: &mut BytesMut, len: usize, kind: u8, flags: u8, stream: u32) {
    out.reserve(HEADER_LEN + len);
    out.put_uint(len as u64, 3);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream);
}

pub(crate) fn put_settings(out: &mut BytesMut, settings: &[(u16, u32)]) {
    put_head(out, settings.len() * 6, SETTINGS, 0, 0);
    for &(id, value) in settings {
        out.put_u16(id);
        out.put_u32(value);
    }
}

pub(crate) fn put_window_update(out: &mut BytesMut, stream: u32, increment: u32) {
    put_head(out, 4, WINDOW_UPDATE, 0, stream);
    out.put_u32(increment);
}

pub(crate) fn put_rst_stream(out: &mut BytesMut, stream: u32, reason: Reason) {
    put_head(out, 4, RST_STREAM, 0, stream);
    out.put_u32(reason as u32);
}

pub(crate) fn put_goaway(out: &mut BytesMut, last_stream: u32, reason: Reason, debug: &[u8]) {
    put_head(out, 8 + debug.len(), GOAWAY, 0, 0);
    out.put_u32(last_stream);
    out.put_u32(reason as u32);
    out.put_slice(debug);
}

pub(crate) fn put_data(out: &mut BytesMut, stream: u32, data: &[u8], end: bool) {
    put_head(
        out,
        data.len(),
        DATA,
        if end { END_STREAM } else { 0 },
        stream,
    );
    out.put_slice(data);
}

/// Writes the header block that `encode` appends as HEADERS and as many
/// CONTINUATION frames as `max_frame` needs. The block is encoded in place
/// and moved only when it needs more than one frame.
pub(crate) fn put_headers(
    out: &mut BytesMut,
    stream: u32,
    end: bool,
    max_frame: usize,
    encode: impl FnOnce(&mut BytesMut),
) {
    let start = out.len();
    put_head(out, 0, HEADERS, 0, stream);
    encode(out);
    let len = out.len() - start - HEADER_LEN;
    if len <= max_frame {
        out[start..start + 3].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
        out[start + 4] = END_HEADERS | if end { END_STREAM } else { 0 };
        return;
    }
    let block = out[start + HEADER_LEN..].to_vec();
    out.truncate(start);
    let mut chunks = block.chunks(max_frame.max(1)).peekable();
    let mut kind = HEADERS;
    let end_flag = if end { END_STREAM } else { 0 };
    loop {
        let chunk = chunks.next().unwrap_or_default();
        let last = chunks.peek().is_none();
        let flags = if kind == HEADERS { end_flag } else { 0 } | if last { END_HEADERS } else { 0 };
        put_head(out, chunk.len(), kind, flags, stream);
        out.put_slice(chunk);
        if last {
            return;
        }
        kind = CONTINUATION;
    }
}

/// Strips the padding of a DATA or HEADERS payload.
pub(crate) fn unpad(flags: u8, mut payload: Bytes) -> Option<Bytes> {
    if flags & PADDED == 0 {
        return Some(payload);
    }
    let pad = *payload.first()? as usize;
    if pad >= payload.len() {
        return None;
    }
    payload.truncate(payload.len() - pad);
    Some(payload.slice(1..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_header_block_continues_in_continuation_frames() {
        let mut out = BytesMut::new();
        put_headers(&mut out, 3, true, 16, |b| b.put_slice(&[7u8; 40]));
        let mut frames = Vec::new();
        let mut rest = &out[..];
        while !rest.is_empty() {
            let head = Head::parse(rest);
            frames.push((head.kind, head.flags, head.len, head.stream));
            rest = &rest[HEADER_LEN + head.len..];
        }
        assert_eq!(
            frames,
            [
                (HEADERS, END_STREAM, 16, 3),
                (CONTINUATION, 0, 16, 3),
                (CONTINUATION, END_HEADERS, 8, 3)
            ]
        );
        // A block that fits takes one frame, written in place.
        let mut out = BytesMut::new();
        put_headers(&mut out, 5, false, 16, |b| b.put_slice(b"hi"));
        assert_eq!(
            &out[..],
            [0, 0, 2, HEADERS, END_HEADERS, 0, 0, 0, 5, b'h', b'i']
        );
    }

    #[test]
    fn padding_is_stripped_and_checked() {
        let padded = Bytes::from_static(&[2, b'h', b'i', 0, 0]);
        assert_eq!(unpad(PADDED, padded).unwrap(), "hi");
        assert!(unpad(PADDED, Bytes::from_static(&[4, 0, 0])).is_none());
        assert_eq!(unpad(0, Bytes::from_static(b"x")).unwrap(), "x");
    }
}
