//! `bindings.redis`: create (SET, with an optional TTL), get (GET, or GETDEL
//! with `delete: true`), delete (DEL) and increment (INCR) of the request's
//! `key`, through a connection manager that reconnects by itself.

use std::time::Duration;

use bytes::Bytes;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::metadata::parse_duration;
use super::{Error, Metadata, Output, Request, Response};

pub const KEYS: &[&str] = &[
    "redisHost",
    "redisPort",
    "redisPassword",
    "redisUsername",
    "redisDB",
    "enableTLS",
    "dialTimeout",
    "readTimeout",
    "redisMaxRetries",
];

pub struct Redis {
    connection: ConnectionManager,
}

impl Redis {
    pub async fn connect(metadata: &Metadata) -> Result<Redis, Error> {
        if metadata.flag("enableTLS", false)? {
            return Err(Error::config(
                "enableTLS",
                "TLS to Redis is not supported yet",
            ));
        }
        let host = metadata.required("redisHost")?;
        let host = match (host.rsplit_once(':'), metadata.get("redisPort")) {
            (Some(_), _) => host.to_owned(),
            (None, Some(port)) => format!("{host}:{port}"),
            (None, None) => format!("{host}:6379"),
        };
        let db: u32 = metadata.parse("redisDB", 0)?;
        let mut url = url::Url::parse(&format!("redis://{host}/{db}"))
            .map_err(|e| Error::config("redisHost", format!("'{host}': {e}")))?;
        let credentials = url
            .set_username(metadata.get("redisUsername").unwrap_or_default())
            .and_then(|()| url.set_password(metadata.get("redisPassword")));
        credentials.map_err(|()| Error::config("redisUsername", "cannot be used in a URL"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(
                metadata
                    .duration("dialTimeout")?
                    .unwrap_or(Duration::from_secs(5)),
            ))
            .set_response_timeout(Some(
                metadata
                    .duration("readTimeout")?
                    .unwrap_or(Duration::from_secs(3)),
            ))
            .set_number_of_retries(metadata.parse("redisMaxRetries", 3)?);
        let client = redis::Client::open(url.as_str())
            .map_err(|e| Error::config("redisHost", e.to_string()))?;
        let connection = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| {
                Error::Backend(format!(
                    "redis binding: error connecting to redis at {host}: {e}"
                ))
            })?;
        Ok(Redis { connection })
    }
}

/// A request's TTL (`ttl`, else `ttlInSeconds`): a duration or whole seconds.
fn ttl(request: &Request) -> Result<Option<u64>, Error> {
    let Some(text) = request
        .metadata
        .get("ttl")
        .or_else(|| request.metadata.get("ttlInSeconds"))
    else {
        return Ok(None);
    };
    let ttl = parse_duration(text).map_err(|_| {
        Error::BadRequest(format!(
            "ttl value must be a valid integer: actual is '{text}'"
        ))
    })?;
    if ttl.is_zero() {
        return Err(Error::BadRequest(format!(
            "ttl value must be higher than zero: actual is '{text}'"
        )));
    }
    Ok(Some(ttl.as_secs().max(1)))
}

fn backend(e: redis::RedisError) -> Error {
    Error::Backend(format!("redis binding: {e}"))
}

#[async_trait::async_trait]
impl Output for Redis {
    fn operations(&self) -> &'static [&'static str] {
        &["create", "get", "delete", "increment"]
    }

    async fn invoke(&self, request: Request) -> Result<Response, Error> {
        let key = request
            .metadata
            .get("key")
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                Error::BadRequest("redis binding: missing key in request metadata".into())
            })?
            .clone();
        let mut c = self.connection.clone();
        match request.operation.as_str() {
            "create" | "increment" => {
                let ttl = ttl(&request)?;
                let mut pipe = redis::pipe();
                pipe.atomic();
                if request.operation == "create" {
                    pipe.set(&key, request.data.as_ref()).ignore();
                } else {
                    pipe.incr(&key, 1).ignore();
                }
                if let Some(seconds) = ttl {
                    pipe.expire(&key, seconds as i64).ignore();
                }
                pipe.query_async::<()>(&mut c).await.map_err(backend)?;
                Ok(Response::default())
            }
            "get" => {
                let value: Option<Vec<u8>> =
                    if request.metadata.get("delete").is_some_and(|d| d == "true") {
                        c.get_del(&key).await
                    } else {
                        c.get(&key).await
                    }
                    .map_err(backend)?;
                // A missing key is an empty answer, not an error (as in daprd).
                Ok(Response {
                    data: Some(value.map(Bytes::from).unwrap_or_default()),
                    ..Response::default()
                })
            }
            "delete" => {
                c.del::<_, ()>(&key).await.map_err(backend)?;
                Ok(Response::default())
            }
            other => Err(Error::BadRequest(format!(
                "invalid operation type: {other}"
            ))),
        }
    }
}
