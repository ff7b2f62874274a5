//! The server end: each request's handler runs as a future of its
//! connection's task, so a unary call never crosses tasks.

use std::future::poll_fn;

use bytes::{Bytes, BytesMut};
use futures::future::{AbortHandle, Abortable};
use http::{Request, Response};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::conn::{
    Conn, Connection, Error, Fields, RecvBody, Role, lock, put_block, put_fields, send_body,
    stream_error,
};
use crate::frame::{self, Reason};
use crate::hpack;

const MAX_STREAMS: usize = 200;

/// Serves HTTP/2 on `io` (after its client preface) until the peer closes it,
/// or, once `stop` is cancelled, until its open streams end.
pub async fn serve<I, S, B>(io: I, service: S, stop: CancellationToken) -> Result<(), Error>
where
    I: AsyncRead + AsyncWrite + Unpin,
    S: tower_service::Service<Request<RecvBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display + Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    let settings = [(frame::SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS as u32)];
    let (connection, _) = Connection::new(
        io,
        Server { service },
        true,
        &settings,
        Some(stop.cancelled_owned()),
    );
    connection.await
}

struct Server<S> {
    service: S,
}

impl<S, B> Role for Server<S>
where
    S: tower_service::Service<Request<RecvBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display + Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    fn headers(
        &mut self,
        conn: &mut Conn,
        stream: u32,
        end: bool,
        fields: Fields,
    ) -> Result<(), Error> {
        {
            let mut guard = lock(&conn.shared);
            let sh = &mut *guard;
            if let Some(st) = sh.streams.get_mut(&stream) {
                // Trailers end the request body.
                if !end || st.recv_end {
                    drop(guard);
                    conn.reset(stream, Reason::Protocol);
                    return Ok(());
                }
                st.trailers = Some(fields.headers);
                st.recv_end = true;
                st.wake(&mut sh.wakeups);
                return Ok(());
            }
        }
        if stream.is_multiple_of(2) {
            return Err(Error::Protocol(
                Reason::Protocol,
                "HEADERS on a server stream",
            ));
        }
        if stream <= conn.last_stream {
            // A stream we have closed: the block kept HPACK in step; ignore it.
            return Ok(());
        }
        conn.last_stream = stream;
        let shared = conn.shared.clone();
        {
            let mut sh = lock(&shared);
            if sh.going_away || conn.aborts.len() >= MAX_STREAMS {
                frame::put_rst_stream(&mut sh.out, stream, Reason::RefusedStream);
                return Ok(());
            }
            sh.open(stream, end);
        }
        let body = RecvBody {
            shared: shared.clone(),
            stream,
        };
        let Some(request) = fields.request(body) else {
            conn.reset(stream, Reason::Protocol);
            return Ok(());
        };
        let mut service = self.service.clone();
        let respond = async move {
            let response = match poll_fn(|cx| service.poll_ready(cx)).await {
                Ok(()) => service.call(request).await,
                Err(e) => Err(e),
            };
            match response {
                Ok(response) => send_response(&shared, stream, response).await,
                Err(error) => {
                    tracing::warn!(%error, "HTTP/2 handler failed.");
                    stream_error(&shared, stream, Reason::Internal);
                }
            }
        };
        let (abort, registration) = AbortHandle::new_pair();
        conn.aborts.insert(stream, abort);
        conn.streams.push(Box::pin(async move {
            let _ = Abortable::new(respond, registration).await;
            stream
        }));
        Ok(())
    }

    /// The response is sent: forget the stream; if the client is still
    /// sending, tell it to stop.
    fn finished(&mut self, conn: &mut Conn, stream: u32) {
        let mut sh = lock(&conn.shared);
        if let Some(st) = sh.remove(stream)
            && !st.recv_end
        {
            frame::put_rst_stream(&mut sh.out, stream, Reason::NoError);
        }
    }
}

/// Sends a response: HEADERS, then its body.
async fn send_response<B>(
    shared: &std::sync::Mutex<crate::conn::Shared>,
    stream: u32,
    response: Response<B>,
) where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let (parts, body) = response.into_parts();
    let end = body.is_end_stream();
    let head = |block: &mut BytesMut| {
        if parts.status == http::StatusCode::OK {
            hpack::put_indexed(block, hpack::STATUS_200);
        } else {
            hpack::put_indexed_name(block, hpack::STATUS_200, parts.status.as_str().as_bytes());
        }
        put_fields(block, &parts.headers);
    };
    if put_block(shared, stream, end, head) && !end {
        send_body(shared, stream, body).await;
    }
}
