//! `bindings.mysql`: `exec` and `query` of the request's `sql` with `?`
//! `params`, and `close`, over a connection pool. Query rows come back as
//! objects keyed by column, as daprd returns them (NULL columns left out, no
//! rows as `null`, DECIMAL as a string, binary and JSON columns as base64).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::Utc;
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts, Row, Value as Sql};
use serde_json::{Value, json};

use super::sql::{self, MAX_ROWS};
use super::{Error, Metadata, Output, Request, Response};

pub const KEYS: &[&str] = &[
    "url",
    "pemPath",
    "maxIdleConns",
    "maxOpenConns",
    "connMaxLifetime",
    "connMaxIdleTime",
];

/// MySQL's character set number of binary data.
const BINARY: u16 = 63;

pub struct Mysql {
    pool: Pool,
    closed: AtomicBool,
}

/// The URL mysql_async reads, from a `mysql://` URL or Go's DSN
/// (`user:password@tcp(host:port)/database?options`, as Dapr's examples write it).
fn url(dsn: &str) -> Result<String, String> {
    if dsn.starts_with("mysql://") {
        return Ok(dsn.to_owned());
    }
    let (credentials, rest) = dsn.rsplit_once('@').unwrap_or(("", dsn));
    let (address, database) = rest.split_once('/').ok_or("no '/database' part")?;
    let database = database.split('?').next().unwrap_or_default();
    let host = match address {
        "" => "127.0.0.1:3306",
        a => a
            .strip_prefix("tcp(")
            .and_then(|a| a.strip_suffix(')'))
            .ok_or_else(|| format!("'{a}': only tcp(host:port) addresses are supported"))?,
    };
    let mut url =
        url::Url::parse(&format!("mysql://{host}/{database}")).map_err(|e| e.to_string())?;
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    url.set_username(user)
        .and_then(|()| url.set_password(Some(password).filter(|p| !p.is_empty())))
        .map_err(|()| "the user cannot be written in a URL".to_owned())?;
    Ok(url.into())
}

impl Mysql {
    pub async fn connect(metadata: &Metadata) -> Result<Mysql, Error> {
        if metadata.get("pemPath").is_some() {
            return Err(Error::config(
                "pemPath",
                "TLS to MySQL is not supported yet",
            ));
        }
        let dsn = metadata.required("url")?;
        let bad = |e: String| {
            Error::config(
                "url",
                format!("illegal Data Source Name (DSN) specified by url: {e}"),
            )
        };
        let opts = Opts::from_url(&url(dsn).map_err(bad)?).map_err(|e| bad(e.to_string()))?;
        let max: usize = metadata.parse("maxOpenConns", 10)?;
        let min: usize = metadata.parse::<usize>("maxIdleConns", 0)?.min(max);
        let constraints = PoolConstraints::new(min, max.max(1))
            .ok_or_else(|| Error::config("maxOpenConns", "must be at least maxIdleConns"))?;
        let mut pool_opts = PoolOpts::default().with_constraints(constraints);
        if let Some(idle) = metadata.duration("connMaxIdleTime")? {
            pool_opts = pool_opts.with_inactive_connection_ttl(idle);
        }
        let mut builder = OptsBuilder::from_opts(opts).pool_opts(pool_opts);
        if let Some(lifetime) = metadata.duration("connMaxLifetime")? {
            builder = builder.conn_ttl(lifetime);
        }
        let pool = Pool::new(builder);
        let ping = async {
            let mut conn = pool.get_conn().await?;
            conn.ping().await
        };
        tokio::time::timeout(Duration::from_secs(10), ping)
            .await
            .map_err(|_| Error::Backend("unable to ping the DB: no answer in 10 s".into()))?
            .map_err(|e| Error::Backend(format!("unable to ping the DB: {e}")))?;
        Ok(Mysql {
            pool,
            closed: AtomicBool::new(false),
        })
    }
}

fn param(v: Value) -> Sql {
    match v {
        Value::Null => Sql::NULL,
        Value::Bool(b) => Sql::Int(b.into()),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Sql::Int(i),
            (None, Some(u)) => Sql::UInt(u),
            _ => Sql::Double(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => Sql::Bytes(s.into_bytes()),
        other => Sql::Bytes(other.to_string().into_bytes()),
    }
}

/// One row as daprd renders it.
fn object(row: &Row) -> serde_json::Map<String, Value> {
    let mut fields = BTreeMap::new();
    for (i, column) in row.columns_ref().iter().enumerate() {
        let Some(value) = row.as_ref(i) else { continue };
        let rendered = match value {
            Sql::NULL => continue,
            Sql::Int(i) => json!(i),
            Sql::UInt(u) => json!(u),
            Sql::Float(f) => json!(f),
            Sql::Double(d) => json!(d),
            Sql::Date(y, mo, d, h, mi, s, us) => {
                let frac = if *us == 0 {
                    String::new()
                } else {
                    format!(".{us:06}").trim_end_matches('0').to_owned()
                };
                json!(format!(
                    "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}Z"
                ))
            }
            Sql::Time(negative, days, h, m, s, _) => {
                let hours = u32::from(*h) + days * 24;
                json!(format!(
                    "{}{hours:02}:{m:02}:{s:02}",
                    if *negative { "-" } else { "" }
                ))
            }
            Sql::Bytes(b) => match column.column_type() {
                ColumnType::MYSQL_TYPE_DECIMAL | ColumnType::MYSQL_TYPE_NEWDECIMAL => {
                    json!(String::from_utf8_lossy(b))
                }
                // daprd hands JSON columns out as base64 of their text.
                ColumnType::MYSQL_TYPE_JSON => json!(STANDARD.encode(b)),
                _ if column.character_set() == BINARY => json!(STANDARD.encode(b)),
                _ => json!(String::from_utf8_lossy(b)),
            },
        };
        fields.insert(column.name_str().into_owned(), rendered);
    }
    fields.into_iter().collect()
}

#[async_trait::async_trait]
impl Output for Mysql {
    fn operations(&self) -> &'static [&'static str] {
        sql::OPERATIONS
    }

    async fn invoke(&self, request: Request) -> Result<Response, Error> {
        if request.operation == "close" {
            self.closed.store(true, Ordering::Release);
            return Ok(Response::default());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::BadRequest("component is closed".into()));
        }
        let (statement, values) = sql::statement(&request)?;
        let failed = |e: mysql_async::Error| Error::Backend(format!("error executing query: {e}"));
        let params = match values.is_empty() {
            true => Params::Empty,
            false => Params::Positional(values.into_iter().map(param).collect()),
        };
        let start = Utc::now();
        let mut conn = self.pool.get_conn().await.map_err(failed)?;
        if request.operation == "exec" {
            conn.exec_drop(&statement, params).await.map_err(failed)?;
            return Ok(Response {
                data: Some(Bytes::new()),
                metadata: sql::metadata("exec", &statement, start, Some(conn.affected_rows())),
            });
        }
        let mut result = conn.exec_iter(&statement, params).await.map_err(failed)?;
        let mut rows = Vec::new();
        while let Some(row) = result.next().await.map_err(failed)? {
            if rows.len() == MAX_ROWS {
                return Err(Error::Backend(format!(
                    "the query returned more than {MAX_ROWS} rows"
                )));
            }
            rows.push(Value::Object(object(&row)));
        }
        drop(result);
        let data = if rows.is_empty() {
            Value::Null
        } else {
            Value::Array(rows)
        };
        Ok(Response {
            data: Some(Bytes::from(data.to_string())),
            metadata: sql::metadata("query", &statement, start, None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_dsns_become_urls() {
        assert_eq!(
            url("root:@tcp(127.0.0.1:3306)/test?parseTime=true").unwrap(),
            "mysql://root@127.0.0.1:3306/test"
        );
        assert_eq!(
            url("u:p@ss@tcp(db:3307)/app").unwrap(),
            "mysql://u:p%40ss@db:3307/app"
        );
        assert_eq!(url("mysql://a@b/c").unwrap(), "mysql://a@b/c");
        assert!(url("root@unix(/tmp/s)/db").is_err());
        assert!(url("nodatabase").is_err());
    }
}
