//! `bindings.postgresql` (and `bindings.postgres`): `exec` and `query` of
//! the request's `sql` with `$1`-style `params`, and `close`. Parameters are
//! converted to the types the server says the statement takes; query rows
//! come back as arrays of values in column order, as daprd returns them.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Row};

use super::sql::{self, MAX_ROWS};
use super::{Error, Metadata, Output, Request, Response};

pub const KEYS: &[&str] = &[
    "connectionString",
    "url",
    "timeout",
    "timeoutInSeconds",
    "maxConns",
    "connectionMaxIdleTime",
    "queryExecMode",
];

pub struct Postgres {
    config: tokio_postgres::Config,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
    closed: AtomicBool,
}

impl Postgres {
    pub async fn connect(metadata: &Metadata) -> Result<Postgres, Error> {
        let (field, text) = match metadata.get("connectionString") {
            Some(c) => ("connectionString", c),
            None => (
                "url",
                metadata
                    .required("url")
                    .map_err(|_| Error::config("connectionString", "missing"))?,
            ),
        };
        let mut config = tokio_postgres::Config::from_str(text).map_err(|e| {
            Error::config(field, format!("not a PostgreSQL connection string: {e}"))
        })?;
        let timeout = metadata
            .duration("timeout")?
            .or(metadata.duration("timeoutInSeconds")?)
            .unwrap_or(Duration::from_secs(20));
        config.connect_timeout(timeout);
        let pg = Postgres {
            config,
            client: tokio::sync::Mutex::default(),
            closed: AtomicBool::new(false),
        };
        pg.client()
            .await
            .map_err(|e| Error::Backend(format!("unable to connect to the DB: {e}")))?;
        Ok(pg)
    }

    /// The connection, opened again when the last one broke.
    async fn client(&self) -> Result<Arc<Client>, Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::BadRequest("component is closed".into()));
        }
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let (client, connection) = self.config.connect(NoTls).await.map_err(Error::backend)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "A PostgreSQL binding connection ended.");
            }
        });
        let client = Arc::new(client);
        *slot = Some(client.clone());
        Ok(client)
    }
}

type Param = Box<dyn ToSql + Sync + Send>;

/// `v` as a parameter of type `ty`.
fn param(v: &Value, ty: &Type) -> Result<Param, String> {
    fn text(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
    let number = || v.as_f64().ok_or_else(|| format!("{v} is not a number"));
    if v.is_null() {
        return Ok(match *ty {
            Type::JSON | Type::JSONB => Box::new(None::<Value>),
            _ => Box::new(None::<String>),
        });
    }
    Ok(match *ty {
        Type::BOOL => Box::new(v.as_bool().ok_or_else(|| format!("{v} is not a boolean"))?),
        // As Go's driver does, a fraction is cut off.
        Type::INT2 => Box::new(number()?.trunc() as i16),
        Type::INT4 => Box::new(number()?.trunc() as i32),
        Type::INT8 => Box::new(number()?.trunc() as i64),
        Type::FLOAT4 => Box::new(number()? as f32),
        Type::FLOAT8 => Box::new(number()?),
        Type::NUMERIC => {
            let t = text(v).unwrap_or_default();
            Box::new(
                Decimal::from_str_exact(&t)
                    .or_else(|_| Decimal::from_scientific(&t))
                    .map_err(|e| format!("{t}: {e}"))?,
            )
        }
        Type::JSON | Type::JSONB => Box::new(v.clone()),
        Type::TIMESTAMPTZ => {
            let t = text(v).unwrap_or_default();
            Box::new(
                DateTime::parse_from_rfc3339(&t)
                    .map_err(|e| format!("{t}: {e}"))?
                    .with_timezone(&Utc),
            )
        }
        Type::TIMESTAMP => {
            let t = text(v).unwrap_or_default();
            let at = DateTime::parse_from_rfc3339(&t)
                .map(|d| d.naive_utc())
                .or_else(|_| NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f"))
                .map_err(|e| format!("{t}: {e}"))?;
            Box::new(at)
        }
        Type::DATE => {
            let t = text(v).unwrap_or_default();
            Box::new(NaiveDate::from_str(&t).map_err(|e| format!("{t}: {e}"))?)
        }
        Type::UUID => {
            let t = text(v).unwrap_or_default();
            Box::new(uuid::Uuid::from_str(&t).map_err(|e| format!("{t}: {e}"))?)
        }
        Type::BYTEA => {
            let t = text(v).unwrap_or_default();
            Box::new(t.into_bytes())
        }
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => Box::new(text(v)),
        ref other => {
            return Err(format!(
                "type {other} is not one this binding converts to: cast the parameter ($n::text) in the SQL"
            ));
        }
    })
}

fn raw(json: String) -> Box<RawValue> {
    RawValue::from_string(json).expect("serde_json wrote it")
}

fn json(v: impl serde::Serialize) -> Result<Box<RawValue>, String> {
    serde_json::to_string(&v)
        .map(raw)
        .map_err(|e| e.to_string())
}

/// Column `i` of `row` as JSON, rendered as daprd renders it.
fn cell(row: &Row, i: usize) -> Result<Box<RawValue>, String> {
    let ty = row.columns()[i].type_().clone();
    macro_rules! get {
        ($t:ty) => {
            match row.try_get::<_, Option<$t>>(i).map_err(|e| e.to_string())? {
                None => return Ok(raw("null".into())),
                Some(v) => v,
            }
        };
    }
    match ty {
        Type::BOOL => json(get!(bool)),
        Type::INT2 => json(get!(i16)),
        Type::INT4 => json(get!(i32)),
        Type::INT8 => json(get!(i64)),
        Type::OID => json(get!(u32)),
        Type::FLOAT4 => json(get!(f32)),
        Type::FLOAT8 => json(get!(f64)),
        // A bare number with its scale kept (`12.50`), as daprd writes it.
        Type::NUMERIC => Ok(raw(get!(Decimal).to_string())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            json(get!(String))
        }
        Type::JSON | Type::JSONB => json(get!(Value)),
        Type::TIMESTAMP => json(
            get!(NaiveDateTime)
                .and_utc()
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
        ),
        Type::TIMESTAMPTZ => json(get!(DateTime<Utc>).to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        Type::DATE => json(format!("{}T00:00:00Z", get!(NaiveDate))),
        Type::BYTEA => json(STANDARD.encode(get!(Vec<u8>))),
        Type::UUID => json(get!(uuid::Uuid).to_string()),
        other => Err(format!(
            "column {} has type {other}, which this binding does not render: cast it (::text) in the SQL",
            row.columns()[i].name()
        )),
    }
}

#[async_trait::async_trait]
impl Output for Postgres {
    fn operations(&self) -> &'static [&'static str] {
        sql::OPERATIONS
    }

    async fn invoke(&self, request: Request) -> Result<Response, Error> {
        if request.operation == "close" {
            self.closed.store(true, Ordering::Release);
            self.client.lock().await.take();
            return Ok(Response::default());
        }
        let (statement, values) = sql::statement(&request)?;
        let failed = |e: tokio_postgres::Error| {
            let detail = e
                .as_db_error()
                .map(|d| d.to_string())
                .unwrap_or_else(|| e.to_string());
            Error::Backend(format!("error executing query: {detail}"))
        };
        let client = self.client().await?;
        let start = Utc::now();
        let prepared = client.prepare(&statement).await.map_err(failed)?;
        if prepared.params().len() != values.len() {
            return Err(Error::BadRequest(format!(
                "the statement takes {} parameters and params has {}",
                prepared.params().len(),
                values.len()
            )));
        }
        let params = values
            .iter()
            .zip(prepared.params())
            .enumerate()
            .map(|(n, (v, ty))| {
                param(v, ty).map_err(|e| Error::BadRequest(format!("parameter ${}: {e}", n + 1)))
            })
            .collect::<Result<Vec<Param>, Error>>()?;
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        if request.operation == "exec" {
            let n = client.execute(&prepared, &refs).await.map_err(failed)?;
            return Ok(Response {
                data: Some(Bytes::new()),
                metadata: sql::metadata("exec", &statement, start, Some(n)),
            });
        }
        let rows = client.query(&prepared, &refs).await.map_err(failed)?;
        if rows.len() > MAX_ROWS {
            return Err(Error::Backend(format!(
                "the query returned more than {MAX_ROWS} rows"
            )));
        }
        let table = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| cell(row, i))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(Error::Backend)?;
        Ok(Response {
            data: Some(Bytes::from(
                serde_json::to_vec(&table).expect("raw JSON values"),
            )),
            metadata: sql::metadata("query", &statement, start, None),
        })
    }
}
