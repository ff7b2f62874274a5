//! The client end: calls from any task share one connection, whose task
//! sends their bodies and reads their responses.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::conn::{
    Conn, Connection, Error, Fields, RecvBody, Role, Shared, lock, put_fields, send_body,
};
use crate::frame::{self, Reason};
use crate::hpack;

/// Static table entries a request's pseudo-headers use.
const AUTHORITY: usize = 1;
const METHOD_GET: usize = 2;
const METHOD_POST: usize = 3;
const PATH: usize = 4;
const SCHEME_HTTP: usize = 6;
const SCHEME_HTTPS: usize = 7;

/// A call failed before its response head arrived.
#[derive(Debug)]
pub enum CallError {
    /// The connection is closed or closing; a new one may succeed.
    Closed,
    /// The server reset the stream or sent a malformed head.
    Reset,
    Connect(std::io::Error),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Closed => f.write_str("the HTTP/2 connection is closed"),
            CallError::Reset => f.write_str("the server reset the HTTP/2 stream"),
            CallError::Connect(e) => write!(f, "cannot connect: {e}"),
        }
    }
}

impl std::error::Error for CallError {}

/// One HTTP/2 connection to a server; cheap to clone. The connection ends
/// once the last clone is dropped and its calls are done.
#[derive(Clone)]
pub struct Channel {
    shared: Arc<Mutex<Shared>>,
    _open: Arc<DropGuard>,
}

impl Channel {
    /// Starts HTTP/2 on `io` and spawns the connection's task.
    pub fn handshake<I>(io: I) -> Channel
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let open = CancellationToken::new();
        let (connection, shared) = Connection::new(
            io,
            ClientRole,
            false,
            &[],
            Some(open.clone().cancelled_owned()),
        );
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "HTTP/2 client connection ended.");
            }
        });
        Channel {
            shared,
            _open: Arc::new(open.drop_guard()),
        }
    }

    /// The connection has ended or is going away: calls need a new one.
    pub fn is_closed(&self) -> bool {
        let sh = lock(&self.shared);
        sh.closed || sh.going_away
    }

    /// Sends `request`; resolves to the response head, its body still arriving.
    pub fn call<B>(&self, request: Request<B>) -> ResponseFuture<B>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Display + Send,
    {
        ResponseFuture {
            shared: self.shared.clone(),
            request: Some(request),
            stream: 0,
        }
    }
}

impl<B> tower_service::Service<Request<B>> for Channel
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    type Response = Response<RecvBody>;
    type Error = CallError;
    type Future = ResponseFuture<B>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), CallError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture<B> {
        Channel::call(self, request)
    }
}

/// A call: it opens its stream once the server allows one more, then waits
/// for the response head.
pub struct ResponseFuture<B> {
    shared: Arc<Mutex<Shared>>,
    request: Option<Request<B>>,
    stream: u32,
}

impl<B> Unpin for ResponseFuture<B> {}

impl<B> Future for ResponseFuture<B>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    type Output = Result<Response<RecvBody>, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut sh = lock(&this.shared);
        if let Some(request) = this.request.take() {
            if sh.closed || sh.going_away {
                return Poll::Ready(Err(CallError::Closed));
            }
            if sh.streams.len() >= sh.max_streams {
                sh.waiting.push(cx.waker().clone());
                this.request = Some(request);
                return Poll::Pending;
            }
            this.stream = open(&mut sh, &this.shared, request);
            sh.queued();
        }
        // A stream the peer never processed may be retried elsewhere.
        let closed = sh.closed || this.stream > sh.peer_last_stream;
        let Some(st) = sh.streams.get_mut(&this.stream) else {
            return Poll::Ready(Err(if closed {
                CallError::Closed
            } else {
                CallError::Reset
            }));
        };
        let Some(head) = st.head.take() else {
            if closed {
                return Poll::Ready(Err(CallError::Closed));
            }
            st.head_waker = Some(cx.waker().clone());
            return Poll::Pending;
        };
        drop(sh);
        let body = RecvBody {
            shared: this.shared.clone(),
            stream: std::mem::take(&mut this.stream),
        };
        match head.response() {
            Some(parts) => Poll::Ready(Ok(Response::from_parts(parts, body))),
            None => Poll::Ready(Err(CallError::Reset)),
        }
    }
}

impl<B> Drop for ResponseFuture<B> {
    /// A call dropped before its head arrived cancels its stream.
    fn drop(&mut self) {
        if self.stream != 0 {
            let mut sh = lock(&self.shared);
            if let Some(st) = sh.streams.get_mut(&self.stream) {
                st.received = true;
                release(&mut sh, self.stream);
            }
        }
    }
}

/// Writes a request's HEADERS and hands its body to the connection's task.
fn open<B>(sh: &mut Shared, shared: &Arc<Mutex<Shared>>, request: Request<B>) -> u32
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    let stream = sh.next_stream;
    sh.next_stream += 2;
    let (parts, body) = request.into_parts();
    let end = body.is_end_stream();
    sh.open(stream, false);
    let max_frame = sh.max_frame;
    frame::put_headers(&mut sh.out, stream, end, max_frame, |block| {
        match parts.method {
            Method::POST => hpack::put_indexed(block, METHOD_POST),
            Method::GET => hpack::put_indexed(block, METHOD_GET),
            ref m => hpack::put_indexed_name(block, METHOD_GET, m.as_str().as_bytes()),
        }
        match parts.uri.scheme_str() {
            Some("https") => hpack::put_indexed(block, SCHEME_HTTPS),
            _ => hpack::put_indexed(block, SCHEME_HTTP),
        }
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        hpack::put_indexed_name(block, PATH, path.as_bytes());
        if let Some(authority) = parts.uri.authority() {
            hpack::put_indexed_name(block, AUTHORITY, authority.as_str().as_bytes());
        }
        put_fields(block, &parts.headers);
    });
    let st = sh.streams.get_mut(&stream).expect("just opened");
    st.sent = end;
    if !end {
        let shared = shared.clone();
        sh.started.push(Box::pin(async move {
            send_body(&shared, stream, body).await;
            stream
        }));
    }
    stream
}

/// Forgets a stream once its request is sent and its response read or
/// dropped; a response dropped unread cancels the stream.
pub(crate) fn release(sh: &mut Shared, stream: u32) {
    let Some(st) = sh.streams.get(&stream).filter(|_| sh.client) else {
        return;
    };
    let abandoned = st.received && !st.recv_end;
    if abandoned {
        frame::put_rst_stream(&mut sh.out, stream, Reason::Cancel);
        sh.queued();
    } else if !(st.received && st.sent) {
        return;
    }
    sh.remove(stream);
}

struct ClientRole;

impl Role for ClientRole {
    fn headers(
        &mut self,
        conn: &mut Conn,
        stream: u32,
        end: bool,
        fields: Fields,
    ) -> Result<(), Error> {
        let mut guard = lock(&conn.shared);
        let sh = &mut *guard;
        let Some(st) = sh.streams.get_mut(&stream) else {
            // A stream we have let go of: the block kept HPACK in step.
            return Ok(());
        };
        if !st.got_head {
            st.got_head = true;
            st.head = Some(fields);
        } else {
            st.trailers = Some(fields.headers);
        }
        st.recv_end |= end;
        st.wake(&mut sh.wakeups);
        Ok(())
    }

    /// The request body is sent.
    fn finished(&mut self, conn: &mut Conn, stream: u32) {
        let mut sh = lock(&conn.shared);
        if let Some(st) = sh.streams.get_mut(&stream) {
            st.sent = true;
            release(&mut sh, stream);
        }
    }
}
