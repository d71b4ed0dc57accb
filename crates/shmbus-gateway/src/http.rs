//! The HTTP routes: JSON answers, JSON errors, the bearer-token check.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State, WebSocketUpgrade};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use shmbus::candles::CandleReader;
use shmbus::journal::{JournalReader, Start};
use shmbus::{JournalError, ReadError, Region, RegionKind, SlotReader, TradingData};

use crate::AppState;
use crate::error::ApiError;
use crate::json::{
    candle_json, fmt_ms, header_json, list_entry_json, message_json, persisted_journal_json,
    series_json, slot_json,
};

/// Most journal messages one request returns.
pub const MAX_COUNT: u64 = 10_000;
/// An answer stops adding journal messages past this many payload bytes (`"more": true`).
pub const MAX_ANSWER_BYTES: usize = 16 << 20;
/// Most candles one request returns.
pub const MAX_LIMIT: usize = 10_000;

type Shared = State<Arc<AppState>>;

pub(crate) fn routes(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(crate::dashboard::index))
        .route("/assets/{*path}", get(crate::dashboard::asset))
        .route("/api/regions", get(regions))
        .route("/api/regions/{name}", get(region))
        .route("/api/slots/{name}", get(slots))
        .route("/api/slots/{name}/{symbol}", get(slot))
        .route("/api/journal/{name}", get(journal))
        .route("/api/candles/{name}", get(series))
        .route("/api/candles/{name}/{symbol}/{interval}", get(candles))
        .route("/metrics", get(metrics))
        .route("/ws", get(ws))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        // Added after the layer: a health check needs no token.
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// Runs blocking region work off the runtime's workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the request's worker failed: {e}"),
        ))
    })
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(t)| t)
        .map_err(|e| ApiError::bad_query(format!("bad path: {}", e.body_text())))
}

/// The query's parameters; any name not in `known` (or `token`) is refused, so a typo does not
/// silently fall back to a default.
fn query(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    known: &[&str],
) -> Result<HashMap<String, String>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_query(format!("bad query: {}", e.body_text())))?;
    if let Some(k) = q
        .keys()
        .find(|k| *k != "token" && !known.contains(&k.as_str()))
    {
        return Err(ApiError::bad_query(format!(
            "unknown query parameter {k:?}: this endpoint takes {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    }
    Ok(q)
}

fn number<T: std::str::FromStr>(
    q: &HashMap<String, String>,
    key: &str,
    what: &str,
) -> Result<Option<T>, ApiError> {
    q.get(key)
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::bad_query(format!("{key}={v:?}: expected {what}")))
        })
        .transpose()
}

fn token_ok(req: &Request, token: &str) -> bool {
    // Compared in constant time, so the answer's timing does not reveal a prefix.
    let eq = |t: &str| {
        t.len() == token.len()
            && t.bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    };
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(eq);
    let query = req.uri().query().is_some_and(|q| {
        q.split('&')
            .filter_map(|kv| kv.strip_prefix("token="))
            .any(eq)
    });
    header || query
}

/// Whether `host` (a Host header: name or address, optional port) names this machine's
/// loopback interface.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The `host[:port]` of an Origin header (`scheme://host[:port]`).
fn origin_host(origin: &str) -> Option<&str> {
    origin
        .split_once("://")
        .map(|(_, h)| h.trim_end_matches('/'))
}

async fn auth(State(st): Shared, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // A browser page of another site must not read the data through the user's browser: a
    // request a browser made for another origin (Origin header) is refused, WebSockets included
    // (browsers do not apply CORS to them).
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let same = origin
            .to_str()
            .ok()
            .and_then(origin_host)
            .is_some_and(|o| o.eq_ignore_ascii_case(host));
        if !same {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin",
                format!(
                    "cross-origin request refused: Origin {:?} is not this server ({host}); open the page from this server instead",
                    origin.to_str().unwrap_or("?")
                ),
            )
            .into_response();
        }
    }
    match &st.config.token {
        // Without a token the server listens on loopback only; a Host that is not loopback is a
        // DNS-rebinding page reaching it through the browser.
        None if !loopback_host(host) => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_host",
                format!(
                    "Host {host:?} is not this machine's loopback: without --token-file only http://127.0.0.1, localhost or [::1] are served"
                ),
            )
            .into_response();
        }
        Some(token) if !token_ok(&req, token) => {
            let mut r = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong token: send `Authorization: Bearer TOKEN` or `?token=TOKEN` (the content of shmbus serve's --token-file)",
            )
            .into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
        _ => {}
    }
    next.run(req).await
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        format!(
            "no endpoint {}: see / (the dashboard), /api/regions, /api/slots/NAME, /api/journal/NAME, /api/candles/NAME, /metrics, /ws",
            req.uri().path()
        ),
    )
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn regions(
    State(st): Shared,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    query(q, &[])?;
    blocking(move || {
        let dir = st.config.dir.clone();
        let mut rows = crate::json::list_json(&dir, false).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "io",
                format!("cannot list {}: {e}", dir.display()),
            )
        })?;
        for r in &st.access.regions {
            let Ok(n) = shmbus::RegionName::parse(r) else {
                continue;
            };
            if n.path().is_dir() {
                let (segments, size) = crate::json::persisted_size(n.path());
                rows.push(persisted_journal_json(r, segments, size));
            } else if let Some(row) =
                crate::metrics::region_entry(r).and_then(|e| list_entry_json(&e, false))
            {
                rows.push(row);
            }
        }
        Ok(Json(Value::Array(rows)))
    })
    .await
}

async fn region(
    State(st): Shared,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let name = st.access.resolve(&path(p)?)?;
    blocking(move || {
        let region = Region::open_options().open(&name)?;
        let h = region.read_header();
        let mut doc = header_json(&h, &region, region.writer_alive()?);
        if h.kind() == Some(RegionKind::Slots)
            && h.layout == <TradingData as shmbus::Record>::LAYOUT.fingerprint()
        {
            let r = SlotReader::<TradingData>::open(&name)?;
            doc["slots"] = crate::json::slots_summary_json(&r);
        }
        if let Some((key, contents)) = crate::json::contents_json(&name, &h) {
            doc[key] = contents;
        }
        Ok(Json(doc))
    })
    .await
}

async fn slots(
    State(st): Shared,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let name = st.access.resolve(&path(p)?)?;
    blocking(move || {
        let r = SlotReader::<TradingData>::open(&name)?;
        let mut out = Vec::new();
        for (key, id) in r.keys() {
            out.push(slot_json(&key, r.read(id)?.as_ref()));
        }
        Ok(Json(Value::Array(out)))
    })
    .await
}

async fn slot(
    State(st): Shared,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let (name, symbol) = path(p)?;
    let name = st.access.resolve(&name)?;
    blocking(move || {
        let r = SlotReader::<TradingData>::open(&name)?;
        let v = r.read(r.find(&symbol)?)?;
        Ok(Json(slot_json(&symbol, v.as_ref())))
    })
    .await
}

/// `from`: start, end or a sequence.
pub(crate) fn parse_from(s: &str) -> Result<Start, String> {
    match s {
        "start" => Ok(Start::Beginning),
        "end" => Ok(Start::End),
        s => s
            .parse()
            .map(Start::Seq)
            .map_err(|_| format!("from={s:?}: use start, end or a sequence number")),
    }
}

async fn journal(
    State(st): Shared,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let name = st.access.resolve(&path(p)?)?;
    let q = query(q, &["from", "count"])?;
    let count: u64 = number(&q, "count", "a number of messages")?.unwrap_or(100);
    if count == 0 || count > MAX_COUNT {
        return Err(ApiError::bad_query(format!(
            "count={count}: ask for 1 to {MAX_COUNT} messages (page with from=SEQ)"
        )));
    }
    let from = q
        .get("from")
        .map(|f| parse_from(f))
        .transpose()
        .map_err(ApiError::bad_query)?;
    blocking(move || {
        let mut messages = Vec::new();
        let mut r = match JournalReader::open(&name, from.unwrap_or(Start::End)) {
            // What the client asked for is gone: say exactly what, then start at the oldest.
            Err(JournalError::TooOld { seq, oldest, .. }) => {
                messages.push(json!({ "gap": { "from": seq, "to": oldest - 1, "count": oldest - seq } }));
                JournalReader::open(&name, Start::Seq(oldest))?
            }
            other => other?,
        };
        if from.is_none() {
            // The last `count` messages.
            for _ in 0..count {
                match r.prev() {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(ReadError::Overrun { .. }) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let (mut n, mut bytes, mut more) = (0, 0, false);
        while n < count {
            if bytes > MAX_ANSWER_BYTES {
                more = true;
                break;
            }
            match r.next() {
                Ok(Some(m)) => {
                    messages.push(message_json(&m));
                    bytes += m.payload.len().min(crate::json::MAX_INLINE_PAYLOAD);
                    n += 1;
                }
                Ok(None) => break,
                Err(ReadError::Overrun { expected_seq, resume_seq, .. }) => {
                    messages.push(json!({ "gap": { "from": expected_seq, "to": resume_seq - 1, "count": resume_seq - expected_seq } }));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let info = r.info()?;
        Ok(Json(json!({
            "journal": name, "oldest": info.oldest_seq, "next": info.next_seq,
            "writer_alive": info.writer_alive, "messages": messages,
            "more": more || (n == count && r.has_next()), "resume": r.next_seq(),
        })))
    })
    .await
}

async fn series(
    State(st): Shared,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let name = st.access.resolve(&path(p)?)?;
    blocking(move || {
        let r = CandleReader::open(&name)?;
        let docs: Vec<Value> = r.list_series()?.iter().map(series_json).collect();
        Ok(Json(Value::Array(docs)))
    })
    .await
}

async fn candles(
    State(st): Shared,
    p: Result<Path<(String, String, String)>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (name, symbol, interval) = path(p)?;
    let name = st.access.resolve(&name)?;
    let q = query(q, &["from", "to", "limit", "format"])?;
    let ms = "a time in ms since the Unix epoch";
    let from: u64 = number(&q, "from", ms)?.unwrap_or(0);
    let to: u64 = number(&q, "to", ms)?.unwrap_or(u64::MAX);
    let limit: usize = number(&q, "limit", "a number of candles")?.unwrap_or(1000);
    if from >= to {
        return Err(ApiError::bad_query(format!(
            "from={from} is not before to={to}: the range is from <= timestamp < to, in ms"
        )));
    }
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_query(format!(
            "limit={limit}: ask for 1 to {MAX_LIMIT} candles (narrow from/to to page)"
        )));
    }
    let csv = match q.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(f) => {
            return Err(ApiError::bad_query(format!(
                "format={f:?}: use json or csv"
            )));
        }
    };
    blocking(move || {
        let r = CandleReader::open(&name)?;
        let mut c = r.range(&symbol, &interval, from, to)?;
        // The newest `limit` of the range.
        c.drain(..c.len().saturating_sub(limit));
        if csv {
            let mut out = String::from("time,open,high,low,close,volume\n");
            for c in &c {
                out.push_str(&format!(
                    "{},{},{},{},{},{}\n",
                    fmt_ms(c.timestamp),
                    c.open,
                    c.high,
                    c.low,
                    c.close,
                    c.volume
                ));
            }
            return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response());
        }
        let docs: Vec<Value> = c.iter().map(candle_json).collect();
        Ok(Json(Value::Array(docs)).into_response())
    })
    .await
}

async fn metrics(State(st): Shared) -> Result<Response, ApiError> {
    blocking(move || {
        let text = crate::metrics::render(&st).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("cannot encode the metrics: {e}"),
            )
        })?;
        Ok((
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response())
    })
    .await
}

async fn ws(State(st): Shared, upgrade: WebSocketUpgrade) -> Response {
    if st.stats.clients() >= st.config.max_clients {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_clients",
            format!(
                "{} WebSocket clients are connected, the most this gateway takes (--max-clients): retry later",
                st.config.max_clients
            ),
        )
        .into_response();
    }
    upgrade
        .max_message_size(crate::ws::MAX_MESSAGE)
        .max_frame_size(crate::ws::MAX_MESSAGE)
        .on_upgrade(move |socket| crate::ws::run(socket, st))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "LOCALHOST:80",
            "127.0.0.1",
            "127.9.9.9:8080",
            "[::1]",
            "[::1]:1",
        ] {
            assert!(loopback_host(h), "{h}");
        }
        for h in [
            "",
            "evil.example",
            "evil.example:8080",
            "10.0.0.1:80",
            "[::2]:80",
            "localhost.evil.example",
        ] {
            assert!(!loopback_host(h), "{h}");
        }
        assert_eq!(origin_host("http://127.0.0.1:8080"), Some("127.0.0.1:8080"));
        assert_eq!(origin_host("null"), None);
    }
}
