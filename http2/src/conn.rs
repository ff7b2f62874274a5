//! What both ends of a connection share: one task reads frames, polls the
//! futures of all its streams (handlers on a server, request bodies on a
//! client) and writes what they produced with one write.

use std::collections::{HashMap, VecDeque};
use std::future::{Future, poll_fn};
use std::hash::BuildHasherDefault;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use bytes::{Buf, Bytes, BytesMut};
use futures::future::AbortHandle;
use futures::stream::{FuturesUnordered, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use http_body::{Body, Frame};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::frame::{self, Head, Reason};
use crate::hpack;

/// What we advertise: each stream may have this much unread data.
pub(crate) const STREAM_WINDOW: i64 = 1 << 20;
/// The most a header block may take, encoded or decoded.
const MAX_HEADER_BLOCK: usize = 1 << 20;
/// Above this much unwritten output, the connection stops reading and
/// senders wait: a peer that does not read cannot make us buffer more.
const MAX_UNWRITTEN: usize = 1 << 20;
/// How many running requests a client may reset in a second before the
/// server goes away ("rapid reset"); clients that cancel on deadlines stay
/// far below it.
const MAX_RESETS_PER_SECOND: u32 = 1000;

/// Streams by id. Ids are small integers and a connection holds a few
/// hundred streams at most, so a multiplicative hash does (SipHash costs
/// more than the rest of a lookup).
pub(crate) type StreamMap<V> = HashMap<u32, V, BuildHasherDefault<StreamIdHasher>>;

#[derive(Default)]
pub(crate) struct StreamIdHasher(u64);

impl std::hash::Hasher for StreamIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(b as u32);
        }
    }

    fn write_u32(&mut self, id: u32) {
        let x = (id as u64 ^ self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // Fold the well-mixed high half into the low bits the table indexes by.
        self.0 = x ^ (x >> 32);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A connection failed: its I/O, or the peer broke the protocol.
#[derive(Debug)]
pub enum Error {
    Io(std::io::Error),
    Protocol(Reason, &'static str),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "HTTP/2 connection: {e}"),
            Error::Protocol(reason, why) => write!(f, "HTTP/2 protocol error ({reason:?}): {why}"),
        }
    }
}

impl std::error::Error for Error {}

pub(crate) fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) type StreamTask = Pin<Box<dyn Future<Output = u32> + Send>>;

/// The state the connection shares with its streams' futures and bodies.
pub(crate) struct Shared {
    /// Frames not yet handed to the socket.
    pub(crate) out: BytesMut,
    /// What the peer still lets us send on the connection.
    pub(crate) send_window: i64,
    /// The peer's SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE and
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub(crate) initial_window: i64,
    pub(crate) max_frame: usize,
    pub(crate) max_streams: usize,
    pub(crate) streams: StreamMap<StreamState>,
    /// Streams started outside the connection's task, for it to poll.
    pub(crate) started: Vec<StreamTask>,
    /// The connection has ended.
    pub(crate) closed: bool,
    /// Either end sent GOAWAY: no new streams; open ones may finish.
    pub(crate) going_away: bool,
    /// The last of our streams the peer's GOAWAY says it will process.
    pub(crate) peer_last_stream: u32,
    /// We are the client: the next stream we open, and calls waiting for the
    /// server to allow one more stream.
    pub(crate) client: bool,
    pub(crate) next_stream: u32,
    pub(crate) waiting: Vec<Waker>,
    /// The connection task, woken when a frame is queued from elsewhere.
    task: Option<Waker>,
    pub(crate) wakeups: Wakeups,
}

/// Wakeups of other tasks. While the connection's task polls, they wait for
/// it to finish a batch of frames: woken at once, a task on another thread
/// would only wait for the lock the connection holds.
#[derive(Default)]
pub(crate) struct Wakeups {
    /// The connection's task is polling: it will write what is queued and
    /// wake what is held.
    polling: bool,
    held: Vec<Waker>,
}

impl Wakeups {
    pub(crate) fn wake(&mut self, waker: Waker) {
        if self.polling {
            self.held.push(waker);
        } else {
            waker.wake();
        }
    }
}

impl Default for Shared {
    fn default() -> Shared {
        Shared {
            out: BytesMut::new(),
            send_window: frame::DEFAULT_WINDOW,
            initial_window: frame::DEFAULT_WINDOW,
            max_frame: frame::DEFAULT_MAX_FRAME,
            max_streams: usize::MAX,
            streams: StreamMap::default(),
            started: Vec::new(),
            closed: false,
            going_away: false,
            peer_last_stream: u32::MAX,
            client: false,
            next_stream: 1,
            waiting: Vec::new(),
            task: None,
            wakeups: Wakeups::default(),
        }
    }
}

impl Shared {
    /// Frames were queued from outside the connection's poll: have it write them.
    pub(crate) fn queued(&self) {
        if !self.wakeups.polling
            && let Some(task) = &self.task
        {
            task.wake_by_ref();
        }
    }

    fn wake_senders(&mut self) {
        for s in self.streams.values_mut() {
            if let Some(w) = s.send_waker.take() {
                self.wakeups.wake(w);
            }
        }
    }

    /// Wakes calls waiting for the server to allow one more stream.
    fn wake_waiting(&mut self) {
        for w in self.waiting.drain(..) {
            self.wakeups.wake(w);
        }
    }

    /// Going away, with no stream left to finish.
    fn drained(&self) -> bool {
        self.going_away && self.streams.is_empty()
    }

    pub(crate) fn remove(&mut self, stream: u32) -> Option<StreamState> {
        let removed = self.streams.remove(&stream);
        self.wake_waiting();
        if self.drained() {
            // The last stream of a connection going away: it can end now.
            self.queued();
        }
        removed
    }

    /// Adds a stream whose peer has (`end`) or has not finished sending.
    pub(crate) fn open(&mut self, stream: u32, end: bool) {
        let send_window = self.initial_window;
        self.streams.insert(
            stream,
            StreamState {
                send_window,
                recv_window: STREAM_WINDOW,
                recv_end: end,
                ..Default::default()
            },
        );
    }
}

#[derive(Default)]
pub(crate) struct StreamState {
    send_window: i64,
    send_waker: Option<Waker>,
    /// A client's response head, until the caller takes it.
    pub(crate) head: Option<Fields>,
    pub(crate) got_head: bool,
    pub(crate) head_waker: Option<Waker>,
    /// Data received and not yet read.
    chunks: VecDeque<Bytes>,
    pub(crate) trailers: Option<HeaderMap>,
    /// The peer has ended its side.
    pub(crate) recv_end: bool,
    /// How much more the peer may send before we grant more, and what has
    /// been read since the last grant.
    recv_window: i64,
    unacked: usize,
    recv_waker: Option<Waker>,
    /// A client's request is sent, and its response body read or dropped.
    pub(crate) sent: bool,
    pub(crate) received: bool,
}

impl StreamState {
    pub(crate) fn wake(&mut self, wakeups: &mut Wakeups) {
        for w in [
            self.recv_waker.take(),
            self.head_waker.take(),
            self.send_waker.take(),
        ]
        .into_iter()
        .flatten()
        {
            wakeups.wake(w);
        }
    }
}

/// A body as the peer sends it: a server's request, a client's response.
pub struct RecvBody {
    pub(crate) shared: Arc<Mutex<Shared>>,
    pub(crate) stream: u32,
}

/// The peer reset the stream before its request body ended.
#[derive(Debug)]
pub struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the stream was reset")
    }
}

impl std::error::Error for Reset {}

impl RecvBody {
    /// The body has been read to its end, or dropped.
    fn received(&self) {
        let mut sh = lock(&self.shared);
        if let Some(st) = sh.streams.get_mut(&self.stream) {
            st.received = true;
            crate::client::release(&mut sh, self.stream);
        }
    }
}

impl Drop for RecvBody {
    fn drop(&mut self) {
        self.received();
    }
}

impl Body for RecvBody {
    type Data = Bytes;
    type Error = Reset;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Reset>>> {
        let mut sh = lock(&self.shared);
        let Some(st) = sh.streams.get_mut(&self.stream) else {
            return Poll::Ready(Some(Err(Reset)));
        };
        if let Some(chunk) = st.chunks.pop_front() {
            // Grant the window back once half of it has been read.
            st.unacked += chunk.len();
            if st.unacked as i64 >= STREAM_WINDOW / 2 && !st.recv_end {
                let grant = std::mem::take(&mut st.unacked);
                st.recv_window += grant as i64;
                frame::put_window_update(&mut sh.out, self.stream, grant as u32);
                sh.queued();
            }
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if let Some(trailers) = st.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        if st.recv_end {
            drop(sh);
            self.received();
            return Poll::Ready(None);
        }
        if sh.closed {
            return Poll::Ready(Some(Err(Reset)));
        }
        let st = sh.streams.get_mut(&self.stream).expect("looked up above");
        st.recv_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        let sh = lock(&self.shared);
        sh.streams
            .get(&self.stream)
            .is_some_and(|st| st.recv_end && st.chunks.is_empty() && st.trailers.is_none())
    }
}

/// What each end does with a complete header block.
pub(crate) trait Role {
    fn headers(
        &mut self,
        conn: &mut Conn,
        stream: u32,
        end: bool,
        fields: Fields,
    ) -> Result<(), Error>;

    /// A stream's future has finished.
    fn finished(&mut self, conn: &mut Conn, stream: u32);
}

/// A connection's state apart from its socket and role.
pub(crate) struct Conn {
    pub(crate) shared: Arc<Mutex<Shared>>,
    pub(crate) streams: FuturesUnordered<StreamTask>,
    pub(crate) aborts: StreamMap<AbortHandle>,
    /// The highest stream the peer opened.
    pub(crate) last_stream: u32,
    /// When the current second of counting resets began, and the count.
    resets: (std::time::Instant, u32),
}

impl Conn {
    /// Ends a stream from our side with RST_STREAM.
    pub(crate) fn reset(&mut self, stream: u32, reason: Reason) {
        stream_error(&self.shared, stream, reason);
        if let Some(abort) = self.aborts.remove(&stream) {
            abort.abort();
        }
    }

    fn reset_by_peer(&mut self, stream: u32) {
        let mut sh = lock(&self.shared);
        if let Some(mut st) = sh.remove(stream) {
            st.wake(&mut sh.wakeups);
        }
        drop(sh);
        // A request still running (only a server runs them).
        let Some(abort) = self.aborts.remove(&stream) else {
            return;
        };
        abort.abort();
        let (since, count) = &mut self.resets;
        if since.elapsed() >= std::time::Duration::from_secs(1) {
            (*since, *count) = (std::time::Instant::now(), 0);
        }
        *count += 1;
        if *count == MAX_RESETS_PER_SECOND {
            self.go_away(Reason::EnhanceYourCalm);
        }
    }

    fn go_away(&mut self, reason: Reason) {
        let mut sh = lock(&self.shared);
        if !sh.going_away {
            sh.going_away = true;
            frame::put_goaway(&mut sh.out, self.last_stream, reason, b"");
        }
    }
}

/// A connection: its socket, its frames in flight and its role.
pub(crate) struct Connection<I, R> {
    io: I,
    read: BytesMut,
    write: BytesMut,
    /// Wakeups taken from `Shared` to run outside its lock.
    woken: Vec<Waker>,
    /// A server reads the client's preface first.
    preface: bool,
    decoder: hpack::Decoder,
    /// A header block waiting for its CONTINUATION frames.
    continuation: Option<(u32, u8, BytesMut)>,
    /// Connection-level data received and not yet granted back.
    conn_unacked: usize,
    stop: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    eof: bool,
    conn: Conn,
    role: R,
}

// The role is never pinned in place.
impl<I: Unpin, R> Unpin for Connection<I, R> {}

impl<I, R> Connection<I, R>
where
    I: AsyncRead + AsyncWrite + Unpin,
    R: Role,
{
    /// A connection that opens with our SETTINGS and a larger connection
    /// window; `settings` come on top of push being off and our stream window.
    pub(crate) fn new(
        io: I,
        role: R,
        preface: bool,
        settings: &[(u16, u32)],
        stop: Option<WaitForCancellationFutureOwned>,
    ) -> (Connection<I, R>, Arc<Mutex<Shared>>) {
        let shared = Arc::new(Mutex::new(Shared::default()));
        {
            let mut sh = lock(&shared);
            if !preface {
                sh.client = true;
                sh.out.extend_from_slice(frame::PREFACE);
            }
            let mut all = vec![
                (frame::SETTINGS_ENABLE_PUSH, 0),
                (frame::SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW as u32),
            ];
            all.extend_from_slice(settings);
            frame::put_settings(&mut sh.out, &all);
            // The connection's window only grows by WINDOW_UPDATE.
            frame::put_window_update(
                &mut sh.out,
                0,
                (STREAM_WINDOW - frame::DEFAULT_WINDOW) as u32,
            );
        }
        let connection = Connection {
            io,
            read: BytesMut::with_capacity(16 * 1024),
            write: BytesMut::new(),
            woken: Vec::new(),
            preface: !preface,
            decoder: hpack::Decoder::new(4096),
            continuation: None,
            conn_unacked: 0,
            stop: stop.map(Box::pin),
            eof: false,
            conn: Conn {
                shared: shared.clone(),
                streams: FuturesUnordered::new(),
                aborts: StreamMap::default(),
                last_stream: 0,
                resets: (std::time::Instant::now(), 0),
            },
            role,
        };
        (connection, shared)
    }
}

impl<I, R> Future for Connection<I, R>
where
    I: AsyncRead + AsyncWrite + Unpin,
    R: Role,
{
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        lock(&this.conn.shared).wakeups.polling = true;
        let result = this.drive(cx);
        let mut guard = lock(&this.conn.shared);
        let sh = &mut *guard;
        if result.is_ready() {
            sh.closed = true;
            for st in sh.streams.values_mut() {
                st.wake(&mut sh.wakeups);
            }
            sh.wake_waiting();
        } else {
            if !sh.task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                sh.task = Some(cx.waker().clone());
            }
            // Another thread queued work or ended the last stream after this
            // poll last looked, and did not wake us because we were polling:
            // poll again. (Output behind a full socket waits for the socket.)
            let ended = sh.drained() && this.conn.streams.is_empty();
            if (this.write.is_empty() && (!sh.out.is_empty() || ended)) || !sh.started.is_empty() {
                cx.waker().wake_by_ref();
            }
        }
        sh.wakeups.polling = false;
        drop(guard);
        this.wake_held();
        result
    }
}

impl<I, R> Connection<I, R>
where
    I: AsyncRead + AsyncWrite + Unpin,
    R: Role,
{
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if let Some(stop) = &mut self.stop
                && stop.as_mut().poll(cx).is_ready()
            {
                self.stop = None;
                self.conn.go_away(Reason::NoError);
            }
            let mut progress = false;
            let backed_up = self.write.len() + lock(&self.conn.shared).out.len() > MAX_UNWRITTEN;
            if !self.eof && !backed_up {
                match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read) {
                    Poll::Ready(Ok(0)) => self.eof = true,
                    Poll::Ready(Ok(_)) => {
                        progress = true;
                        if let Err(e) = self.frames() {
                            return Poll::Ready(self.fail(cx, e));
                        }
                        self.wake_held();
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Io(e))),
                    Poll::Pending => {}
                }
            }
            let started = std::mem::take(&mut lock(&self.conn.shared).started);
            progress |= !started.is_empty();
            self.conn.streams.extend(started);
            while let Poll::Ready(Some(id)) = self.conn.streams.poll_next_unpin(cx) {
                self.conn.aborts.remove(&id);
                self.role.finished(&mut self.conn, id);
                progress = true;
            }
            match self.flush(cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Io(e))),
                // Written out: read what waited behind it.
                Poll::Ready(Ok(())) if backed_up => progress = true,
                _ => {}
            }
            if self.eof {
                // The peer is gone: nothing more can reach it.
                return Poll::Ready(Ok(()));
            }
            let done = {
                let sh = lock(&self.conn.shared);
                sh.drained() && sh.out.is_empty()
            };
            if done && self.conn.streams.is_empty() && self.write.is_empty() {
                return Poll::Ready(Ok(()));
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// Wakes the tasks whose wakeups waited for the frames read so far.
    fn wake_held(&mut self) {
        std::mem::swap(&mut self.woken, &mut lock(&self.conn.shared).wakeups.held);
        for w in self.woken.drain(..) {
            w.wake();
        }
    }

    /// Writes everything queued; Ready once the socket took it all.
    fn flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        loop {
            if self.write.is_empty() {
                let mut sh = lock(&self.conn.shared);
                if sh.out.is_empty() {
                    break;
                }
                std::mem::swap(&mut self.write, &mut sh.out);
                if self.write.len() > MAX_UNWRITTEN {
                    sh.wake_senders();
                }
            }
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.write))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.write.advance(n);
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Ends the connection on a protocol error: GOAWAY, then whatever flushes.
    fn fail(&mut self, cx: &mut Context<'_>, e: Error) -> Result<(), Error> {
        if let Error::Protocol(reason, why) = &e {
            let mut sh = lock(&self.conn.shared);
            frame::put_goaway(&mut sh.out, self.conn.last_stream, *reason, why.as_bytes());
        }
        let _ = self.flush(cx);
        Err(e)
    }

    /// Handles every complete frame in the read buffer.
    fn frames(&mut self) -> Result<(), Error> {
        if !self.preface {
            if self.read.len() < frame::PREFACE.len() {
                return Ok(());
            }
            if !self.read.starts_with(frame::PREFACE) {
                return Err(Error::Protocol(
                    Reason::Protocol,
                    "not an HTTP/2 client preface",
                ));
            }
            self.read.advance(frame::PREFACE.len());
            self.preface = true;
        }
        while self.read.len() >= frame::HEADER_LEN {
            let head = Head::parse(&self.read);
            if head.len > frame::DEFAULT_MAX_FRAME {
                return Err(Error::Protocol(
                    Reason::FrameSize,
                    "frame larger than advertised",
                ));
            }
            if self.read.len() < frame::HEADER_LEN + head.len {
                self.read
                    .reserve(frame::HEADER_LEN + head.len - self.read.len());
                return Ok(());
            }
            self.read.advance(frame::HEADER_LEN);
            let payload = self.read.split_to(head.len).freeze();
            self.frame(head, payload)?;
        }
        Ok(())
    }

    fn frame(&mut self, head: Head, payload: Bytes) -> Result<(), Error> {
        if self.continuation.is_some() && head.kind != frame::CONTINUATION {
            return Err(Error::Protocol(Reason::Protocol, "expected CONTINUATION"));
        }
        match head.kind {
            frame::DATA => self.data(head, payload),
            frame::HEADERS => {
                if head.stream == 0 {
                    return Err(Error::Protocol(Reason::Protocol, "HEADERS on stream 0"));
                }
                let mut block = frame::unpad(head.flags, payload)
                    .ok_or(Error::Protocol(Reason::Protocol, "bad padding"))?;
                if head.flags & frame::PRIORITY_FLAG != 0 {
                    if block.len() < 5 {
                        return Err(Error::Protocol(Reason::FrameSize, "short HEADERS"));
                    }
                    block.advance(5);
                }
                if head.flags & frame::END_HEADERS != 0 {
                    self.headers(head.stream, head.flags, &block)
                } else {
                    self.continuation = Some((head.stream, head.flags, BytesMut::from(&block[..])));
                    Ok(())
                }
            }
            frame::CONTINUATION => {
                let Some((stream, flags, mut block)) = self.continuation.take() else {
                    return Err(Error::Protocol(Reason::Protocol, "unexpected CONTINUATION"));
                };
                if stream != head.stream {
                    return Err(Error::Protocol(
                        Reason::Protocol,
                        "CONTINUATION on another stream",
                    ));
                }
                block.extend_from_slice(&payload);
                if block.len() > MAX_HEADER_BLOCK {
                    return Err(Error::Protocol(Reason::Protocol, "header block too large"));
                }
                if head.flags & frame::END_HEADERS != 0 {
                    self.headers(stream, flags, &block)
                } else {
                    self.continuation = Some((stream, flags, block));
                    Ok(())
                }
            }
            frame::RST_STREAM => {
                if head.stream == 0 || payload.len() != 4 {
                    return Err(Error::Protocol(Reason::Protocol, "bad RST_STREAM"));
                }
                self.conn.reset_by_peer(head.stream);
                Ok(())
            }
            frame::SETTINGS => self.settings(head, &payload),
            frame::PING => {
                if head.stream != 0 || payload.len() != 8 {
                    return Err(Error::Protocol(Reason::FrameSize, "bad PING"));
                }
                if head.flags & frame::ACK == 0 {
                    let mut sh = lock(&self.conn.shared);
                    frame::put_head(&mut sh.out, 8, frame::PING, frame::ACK, 0);
                    sh.out.extend_from_slice(&payload);
                }
                Ok(())
            }
            frame::GOAWAY => {
                if head.stream != 0 || payload.len() < 8 {
                    return Err(Error::Protocol(Reason::Protocol, "bad GOAWAY"));
                }
                let last = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
                    & 0x7fff_ffff;
                let mut sh = lock(&self.conn.shared);
                sh.going_away = true;
                sh.peer_last_stream = last;
                // Our streams above `last` were never processed: they fail
                // now, free to be retried on another connection.
                if sh.client {
                    let unprocessed: Vec<u32> =
                        sh.streams.keys().copied().filter(|&id| id > last).collect();
                    for id in unprocessed {
                        if let Some(mut st) = sh.remove(id) {
                            st.wake(&mut sh.wakeups);
                        }
                    }
                }
                sh.wake_waiting();
                Ok(())
            }
            frame::WINDOW_UPDATE => self.window_update(head, &payload),
            frame::PUSH_PROMISE => Err(Error::Protocol(
                Reason::Protocol,
                "PUSH_PROMISE from a client",
            )),
            // PRIORITY and unknown frames carry nothing we act on.
            _ => Ok(()),
        }
    }

    fn data(&mut self, head: Head, payload: Bytes) -> Result<(), Error> {
        if head.stream == 0 {
            return Err(Error::Protocol(Reason::Protocol, "DATA on stream 0"));
        }
        let len = payload.len();
        let data = frame::unpad(head.flags, payload)
            .ok_or(Error::Protocol(Reason::Protocol, "bad padding"))?;
        let mut guard = lock(&self.conn.shared);
        let sh = &mut *guard;
        // The connection window is granted back on receipt: each stream's
        // own window bounds what waits unread.
        self.conn_unacked += len;
        if self.conn_unacked as i64 >= STREAM_WINDOW / 2 {
            let grant = std::mem::take(&mut self.conn_unacked);
            frame::put_window_update(&mut sh.out, 0, grant as u32);
        }
        let Some(st) = sh.streams.get_mut(&head.stream) else {
            frame::put_rst_stream(&mut sh.out, head.stream, Reason::StreamClosed);
            return Ok(());
        };
        if st.recv_end {
            drop(guard);
            self.conn.reset(head.stream, Reason::StreamClosed);
            return Ok(());
        }
        st.recv_window -= len as i64;
        if st.recv_window < 0 {
            drop(guard);
            self.conn.reset(head.stream, Reason::FlowControl);
            return Ok(());
        }
        let end = head.flags & frame::END_STREAM != 0;
        // Padding is granted back at once, data when the handler reads it.
        let padding = len - data.len();
        if padding > 0 && !end {
            st.recv_window += padding as i64;
            frame::put_window_update(&mut sh.out, head.stream, padding as u32);
        }
        if !data.is_empty() {
            // A copy, so a small chunk does not keep the whole read buffer.
            st.chunks.push_back(Bytes::copy_from_slice(&data));
        }
        st.recv_end |= end;
        if let Some(w) = st.recv_waker.take() {
            sh.wakeups.wake(w);
        }
        Ok(())
    }

    fn headers(&mut self, stream: u32, flags: u8, block: &[u8]) -> Result<(), Error> {
        let mut fields = Fields::default();
        self.decoder
            .decode(block, |name, value| fields.add(name, value))
            .map_err(|_| Error::Protocol(Reason::Compression, "bad header block"))?;
        let end = flags & frame::END_STREAM != 0;
        self.role.headers(&mut self.conn, stream, end, fields)
    }

    fn settings(&mut self, head: Head, payload: &[u8]) -> Result<(), Error> {
        if head.stream != 0 {
            return Err(Error::Protocol(Reason::Protocol, "SETTINGS on a stream"));
        }
        if head.flags & frame::ACK != 0 {
            return Ok(());
        }
        if !payload.len().is_multiple_of(6) {
            return Err(Error::Protocol(Reason::FrameSize, "bad SETTINGS length"));
        }
        let mut sh = lock(&self.conn.shared);
        for s in payload.chunks(6) {
            let id = u16::from_be_bytes([s[0], s[1]]);
            let value = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
            match id {
                frame::SETTINGS_INITIAL_WINDOW_SIZE => {
                    if value as i64 > frame::MAX_WINDOW {
                        return Err(Error::Protocol(Reason::FlowControl, "window too large"));
                    }
                    let delta = value as i64 - sh.initial_window;
                    sh.initial_window = value as i64;
                    for st in sh.streams.values_mut() {
                        st.send_window += delta;
                    }
                    sh.wake_senders();
                }
                frame::SETTINGS_MAX_CONCURRENT_STREAMS => {
                    sh.max_streams = value as usize;
                    sh.wake_waiting();
                }
                frame::SETTINGS_MAX_FRAME_SIZE => {
                    if !(frame::DEFAULT_MAX_FRAME as u32..=0xff_ffff).contains(&value) {
                        return Err(Error::Protocol(Reason::Protocol, "bad max frame size"));
                    }
                    sh.max_frame = value as usize;
                }
                _ => {}
            }
        }
        frame::put_head(&mut sh.out, 0, frame::SETTINGS, frame::ACK, 0);
        Ok(())
    }

    fn window_update(&mut self, head: Head, payload: &[u8]) -> Result<(), Error> {
        if payload.len() != 4 {
            return Err(Error::Protocol(Reason::FrameSize, "bad WINDOW_UPDATE"));
        }
        let increment = (u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
            & 0x7fff_ffff) as i64;
        let mut guard = lock(&self.conn.shared);
        let sh = &mut *guard;
        if head.stream == 0 {
            if increment == 0 {
                return Err(Error::Protocol(Reason::Protocol, "zero WINDOW_UPDATE"));
            }
            sh.send_window += increment;
            if sh.send_window > frame::MAX_WINDOW {
                return Err(Error::Protocol(Reason::FlowControl, "window overflow"));
            }
            sh.wake_senders();
            return Ok(());
        }
        let Some(st) = sh.streams.get_mut(&head.stream) else {
            return Ok(());
        };
        st.send_window += increment;
        if increment == 0 || st.send_window > frame::MAX_WINDOW {
            drop(guard);
            self.conn.reset(head.stream, Reason::FlowControl);
            return Ok(());
        }
        if let Some(w) = st.send_waker.take() {
            sh.wakeups.wake(w);
        }
        Ok(())
    }
}

/// Resets a stream and forgets it.
pub(crate) fn stream_error(shared: &Mutex<Shared>, stream: u32, reason: Reason) {
    let mut sh = lock(shared);
    if let Some(mut st) = sh.remove(stream) {
        frame::put_rst_stream(&mut sh.out, stream, reason);
        st.wake(&mut sh.wakeups);
    }
}

/// Sends a body after its HEADERS: DATA within the peer's windows, then
/// trailers or an empty DATA frame that ends the stream.
pub(crate) async fn send_body<B>(shared: &Mutex<Shared>, stream: u32, body: B)
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    loop {
        match poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            None => {
                let mut sh = lock(shared);
                frame::put_data(&mut sh.out, stream, &[], true);
                return;
            }
            Some(Err(error)) => {
                tracing::debug!(%error, "HTTP/2 body failed.");
                stream_error(shared, stream, Reason::Internal);
                return;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    if send_data(shared, stream, data).await.is_err() {
                        return;
                    }
                }
                Err(frame) => {
                    let Ok(trailers) = frame.into_trailers() else {
                        continue;
                    };
                    put_block(shared, stream, true, |block| put_fields(block, &trailers));
                    return;
                }
            },
        }
    }
}

/// Queues the header block `encode` writes, unless the stream has been reset.
pub(crate) fn put_block(
    shared: &Mutex<Shared>,
    stream: u32,
    end: bool,
    encode: impl FnOnce(&mut BytesMut),
) -> bool {
    let mut sh = lock(shared);
    if !sh.streams.contains_key(&stream) {
        return false;
    }
    let max_frame = sh.max_frame;
    frame::put_headers(&mut sh.out, stream, end, max_frame, encode);
    true
}

/// Queues `data` as DATA frames, waiting for window when the peer has none.
async fn send_data(shared: &Mutex<Shared>, stream: u32, mut data: Bytes) -> Result<(), Reset> {
    while !data.is_empty() {
        poll_fn(|cx| {
            let mut sh = lock(shared);
            if sh.closed {
                return Poll::Ready(Err(Reset));
            }
            let (conn_window, max_frame, unwritten) = (sh.send_window, sh.max_frame, sh.out.len());
            let Some(st) = sh.streams.get_mut(&stream) else {
                return Poll::Ready(Err(Reset));
            };
            let n = (data.len() as i64)
                .min(conn_window)
                .min(st.send_window)
                .min(max_frame as i64);
            if n <= 0 || unwritten > MAX_UNWRITTEN {
                st.send_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            st.send_window -= n;
            sh.send_window -= n;
            let chunk = data.split_to(n as usize);
            frame::put_data(&mut sh.out, stream, &chunk, false);
            Poll::Ready(Ok(()))
        })
        .await?;
    }
    Ok(())
}

pub(crate) fn put_fields(block: &mut BytesMut, headers: &HeaderMap) {
    for (name, value) in headers {
        if name == http::header::CONTENT_TYPE {
            hpack::put_indexed_name(block, hpack::CONTENT_TYPE, value.as_bytes());
        } else {
            hpack::put_literal(block, name.as_str().as_bytes(), value.as_bytes());
        }
    }
}

/// A header block's fields as they are decoded.
#[derive(Default)]
pub(crate) struct Fields {
    method: Option<http::Method>,
    scheme: Option<http::uri::Scheme>,
    authority: Option<Bytes>,
    path: Option<Bytes>,
    status: Option<http::StatusCode>,
    pub(crate) headers: HeaderMap,
    /// The decoded size so far (RFC 9113, 6.5.2): indexed fields can make a
    /// small block decode to a huge list.
    size: usize,
    malformed: bool,
}

impl Fields {
    pub(crate) fn add(&mut self, name: &[u8], value: &[u8]) {
        self.size += name.len() + value.len() + 32;
        if self.size > MAX_HEADER_BLOCK {
            self.malformed = true;
            return;
        }
        match name {
            b":method" => self.method = http::Method::from_bytes(value).ok(),
            b":scheme" => match http::uri::Scheme::try_from(value) {
                Ok(scheme) => self.scheme = Some(scheme),
                Err(_) => self.malformed = true,
            },
            b":authority" => self.authority = Some(Bytes::copy_from_slice(value)),
            b":path" => self.path = Some(Bytes::copy_from_slice(value)),
            b":status" => self.status = http::StatusCode::from_bytes(value).ok(),
            [b':', ..] => self.malformed = true,
            _ => match (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
                (Ok(n), Ok(v)) => {
                    // A map past its most names refuses them rather than panicking.
                    self.malformed |= self.headers.try_append(n, v).is_err();
                }
                _ => self.malformed = true,
            },
        }
    }

    pub(crate) fn request(self, body: RecvBody) -> Option<Request<RecvBody>> {
        if self.malformed {
            return None;
        }
        let mut uri = http::uri::Parts::default();
        uri.path_and_query = Some(http::uri::PathAndQuery::from_maybe_shared(self.path?).ok()?);
        if let (Some(scheme), Some(authority)) = (self.scheme, self.authority) {
            uri.scheme = Some(scheme);
            uri.authority = Some(http::uri::Authority::from_maybe_shared(authority).ok()?);
        }
        let mut request = Request::new(body);
        *request.method_mut() = self.method?;
        *request.uri_mut() = http::Uri::from_parts(uri).ok()?;
        *request.version_mut() = http::Version::HTTP_2;
        *request.headers_mut() = self.headers;
        Some(request)
    }

    /// A response head; `None` when it is malformed.
    pub(crate) fn response(self) -> Option<http::response::Parts> {
        if self.malformed {
            return None;
        }
        let mut response = http::Response::new(());
        *response.status_mut() = self.status?;
        *response.version_mut() = http::Version::HTTP_2;
        *response.headers_mut() = self.headers;
        Some(response.into_parts().0)
    }
}
