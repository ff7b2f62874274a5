use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;

use crate::error::{Error, Result};

/// How to reach NATS and who to be there.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// Comma-separated server URLs.
    pub url: String,
    /// Connection name shown by the server (`nats server report connections`).
    pub name: String,
    pub credentials: Credentials,
    /// Extra root certificates (PEM) to trust for `tls://` servers.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub tls_client: Option<(PathBuf, PathBuf)>,
    /// The largest payload sent or taken (staged beyond one message); 0 for
    /// the default, 4 MiB.
    pub max_body: usize,
}

/// NATS authentication.
#[derive(Clone, Debug, Default)]
pub enum Credentials {
    #[default]
    None,
    UserPassword(String, String),
    Token(String),
    /// A `.creds` file (JWT plus nkey seed).
    CredsFile(PathBuf),
    /// An nkey seed (`SU...`).
    Nkey(String),
    /// A user JWT and the nkey seed that signs for it.
    Jwt {
        jwt: String,
        seed: String,
    },
}

/// One multiplexed NATS connection and its JetStream context.
///
/// Cheap to clone; every clone shares the connection.
#[derive(Clone)]
pub struct Broker {
    client: async_nats::Client,
    js: jetstream::Context,
    staging: crate::payloads::Staging,
}

/// Checks a list of NATS URLs (comma separated, as `--nats-url` takes it)
/// without connecting.
pub fn check_urls(urls: &str) -> Result<(), Error> {
    server_addrs(urls).map(drop)
}

fn server_addrs(urls: &str) -> Result<Vec<async_nats::ServerAddr>, Error> {
    urls.split(',')
        .map(str::trim)
        .map(|url| {
            url.parse()
                .map_err(|e| Error::Invalid(format!("'{url}' is not a NATS server URL: {e}")))
        })
        .collect()
}

impl Broker {
    /// Connects, failing after `timeout` if no server answers.
    pub async fn connect(opts: &ConnectOptions, timeout: Duration) -> Result<Broker> {
        let mut o = match &opts.credentials {
            Credentials::None => async_nats::ConnectOptions::new(),
            Credentials::UserPassword(u, p) => {
                async_nats::ConnectOptions::with_user_and_password(u.clone(), p.clone())
            }
            Credentials::Token(t) => async_nats::ConnectOptions::with_token(t.clone()),
            Credentials::Nkey(seed) => async_nats::ConnectOptions::with_nkey(seed.clone()),
            Credentials::Jwt { jwt, seed } => {
                async_nats::ConnectOptions::with_credentials(&format!(
                    "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
                 -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
                ))
                .map_err(|e| Error::Invalid(format!("invalid NATS JWT or seed: {e}")))?
            }
            Credentials::CredsFile(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| {
                    Error::Invalid(format!(
                        "cannot read NATS creds file {}: {e}",
                        path.display()
                    ))
                })?,
        };
        if let Some(ca) = &opts.tls_ca {
            o = o.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &opts.tls_client {
            o = o.add_client_certificate(cert.clone(), key.clone());
        }
        let connect = o
            .name(&opts.name)
            .connection_timeout(timeout)
            .max_reconnects(None)
            .connect(server_addrs(&opts.url)?);
        let client = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| Error::Timeout(timeout))?
            .map_err(|e| Error::nats("connecting to NATS", e))?;
        Ok(Broker::from_client(client, opts.max_body))
    }

    /// Wraps an existing connection.
    /// A broker over an open connection; `max_body` as in [`ConnectOptions`].
    pub fn from_client(client: async_nats::Client, max_body: usize) -> Broker {
        let js = jetstream::new(client.clone());
        Broker {
            client,
            js,
            staging: crate::payloads::Staging::new(max_body),
        }
    }

    /// The underlying connection, for primitives this crate does not wrap.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub(crate) fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Largest message the server accepts, headers included.
    pub fn max_payload(&self) -> usize {
        self.client.max_payload()
    }

    /// The largest payload this node sends or takes (staged beyond one message).
    pub fn max_body(&self) -> usize {
        self.staging.max_body()
    }

    async fn stage(&self, headers: &mut async_nats::HeaderMap, body: Bytes) -> Result<Bytes> {
        self.staging
            .stage(&self.js, self.max_payload(), headers, body)
            .await
    }

    async fn unstage(&self, headers: &async_nats::HeaderMap) {
        self.staging.unstage(&self.js, headers).await
    }

    /// Replaces a staged payload of a received `message` by its bytes (and
    /// removes the staged copy); one larger than [`Broker::max_body`] is
    /// refused unread.
    pub async fn take_payload(&self, message: &mut async_nats::Message) -> Result<()> {
        self.staging.take(&self.js, message).await
    }

    /// Whether the connection is up right now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Whether the server we are connected to requires clients to authenticate.
    pub fn auth_required(&self) -> bool {
        self.client.server_info().auth_required
    }

    /// Version string of the server we are connected to.
    pub fn server_version(&self) -> String {
        self.client.server_info().version
    }

    /// Sends a request and waits up to `timeout` for the reply. A body or
    /// reply too large for one message travels staged (see `payloads`), so
    /// the server must take the request's payload ([`Broker::take_payload`]).
    pub async fn request(
        &self,
        subject: String,
        mut headers: async_nats::HeaderMap,
        body: Bytes,
        timeout: Duration,
    ) -> Result<async_nats::Message> {
        crate::naming::check_subject(&subject)?;
        let body = self.stage(&mut headers, body).await?;
        let sent = self
            .request_inline(subject, headers.clone(), body, timeout)
            .await;
        let mut reply = match sent {
            Ok(reply) => reply,
            Err(e) => {
                // Nobody took a staged body.
                self.unstage(&headers).await;
                return Err(e);
            }
        };
        self.take_payload(&mut reply).await?;
        Ok(reply)
    }

    /// A request whose body travels as it is (JetStream's API, where the
    /// body is what gets stored); one larger than a message fails.
    pub(crate) async fn request_inline(
        &self,
        subject: String,
        headers: async_nats::HeaderMap,
        body: Bytes,
        timeout: Duration,
    ) -> Result<async_nats::Message> {
        crate::naming::check_subject(&subject)?;
        let request = async_nats::Request::new()
            .headers(headers)
            .payload(body)
            .timeout(Some(timeout));
        self.client
            .send_request(subject, request)
            .await
            .map_err(|e| {
                use async_nats::RequestErrorKind as K;
                match e.kind() {
                    K::NoResponders => Error::NoResponders,
                    K::TimedOut => Error::Timeout(timeout),
                    K::MaxPayloadExceeded => Error::PayloadTooLarge(e.to_string()),
                    _ => Error::nats("request", e),
                }
            })
    }

    /// Answers a request on its reply subject.
    pub async fn reply(
        &self,
        reply: async_nats::Subject,
        mut headers: async_nats::HeaderMap,
        body: Bytes,
    ) -> Result<()> {
        let body = self.stage(&mut headers, body).await?;
        let sent = self
            .client
            .publish_with_headers(reply, headers.clone(), body)
            .await;
        if let Err(e) = sent {
            self.unstage(&headers).await;
            return Err(match e.kind() {
                async_nats::client::PublishErrorKind::MaxPayloadExceeded => {
                    Error::PayloadTooLarge(e.to_string())
                }
                _ => Error::nats("reply", e),
            });
        }
        Ok(())
    }

    /// Subscribes to `subject` as a member of `queue`, so each message reaches
    /// one member of the group.
    pub async fn serve(&self, subject: String, queue: String) -> Result<async_nats::Subscriber> {
        self.client
            .queue_subscribe(subject, queue)
            .await
            .map_err(|e| Error::nats("subscribe", e))
    }

    /// Subscribes to `subject`: every message reaches this subscriber.
    pub async fn subscribe(&self, subject: String) -> Result<async_nats::Subscriber> {
        self.client
            .subscribe(subject)
            .await
            .map_err(|e| Error::nats("subscribe", e))
    }

    /// Waits until everything published so far has reached the server.
    pub async fn flush(&self) -> Result<()> {
        self.client
            .flush()
            .await
            .map_err(|e| Error::nats("flush", e))
    }
}
