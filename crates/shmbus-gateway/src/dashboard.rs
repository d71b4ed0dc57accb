//! The web dashboard: static files embedded in the binary (no CDN, works offline), served at
//! `/` and `/assets/...` behind the same token check as the API.
//!
//! The page keeps the token of its own URL (`/?token=...`) for its API calls and its WebSocket;
//! the files it loads get it too, written into the page's asset URLs when it is served (a
//! browser does not add a token to a `<script src>`), so the page is never cached (`no-store`)
//! and sends no referrer. The other files are revalidated by their ETag (a hash of the
//! content, fixed at build time).

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// The version of the vendored lightweight-charts (scripts/vendor-dashboard.sh).
pub const CHART_LIBRARY_VERSION: &str = include_str!("../assets/vendor/lightweight-charts/VERSION");

const INDEX: &str = include_str!("../assets/index.html");
/// Where the page's asset URLs take the query that carries the token.
const QUERY_MARK: &str = "{{query}}";

const TEXT: &str = "text/plain; charset=utf-8";
const ASSETS: &[Asset] = &[
    Asset {
        path: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/app.js"),
    },
    Asset {
        path: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/style.css"),
    },
    Asset {
        path: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../assets/favicon.svg"),
    },
    Asset {
        path: "vendor/lightweight-charts/lightweight-charts.standalone.production.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!(
            "../assets/vendor/lightweight-charts/lightweight-charts.standalone.production.js"
        ),
    },
    Asset {
        path: "vendor/lightweight-charts/LICENSE",
        content_type: TEXT,
        body: include_bytes!("../assets/vendor/lightweight-charts/LICENSE"),
    },
    Asset {
        path: "vendor/lightweight-charts/NOTICE",
        content_type: TEXT,
        body: include_bytes!("../assets/vendor/lightweight-charts/NOTICE"),
    },
    Asset {
        path: "vendor/lightweight-charts/VERSION",
        content_type: TEXT,
        body: include_bytes!("../assets/vendor/lightweight-charts/VERSION"),
    },
];

/// FNV-1a, at compile time: the ETag of an embedded file.
const fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// The headers every dashboard answer carries: scripts, styles, images and connections only
/// from this server (the chart library injects its own small stylesheet, hence the inline
/// styles), no framing, no sniffing, no referrer (the page's URL may hold the token).
fn security_headers(h: &mut HeaderMap, host: &str) {
    // `ws:` to this server only. The Host passed the auth check; a value with anything but
    // host-name characters is left out rather than written into a header.
    let own_ws = if !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    {
        format!(" ws://{host} wss://{host}")
    } else {
        String::new()
    };
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'{own_ws}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn host(req_headers: &HeaderMap) -> String {
    req_headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// `GET /`: the page, its asset URLs carrying the token when the server has one.
pub(crate) async fn index(State(st): State<std::sync::Arc<AppState>>, req: Request) -> Response {
    // The token passed the auth check (header or query); the page's files need it in their
    // URLs. It has only URL-safe characters (Config::check), so it is safe in an attribute.
    let query = st
        .config
        .token
        .as_deref()
        .map_or_else(String::new, |t| format!("?token={t}"));
    let body = INDEX.replace(QUERY_MARK, &query);
    let mut r = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response();
    security_headers(r.headers_mut(), &host(req.headers()));
    r
}

/// `GET /assets/{*path}`: an embedded file, revalidated by ETag.
pub(crate) async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.path == path) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "no_route",
            format!("no dashboard file {path:?}: the dashboard is at /"),
        )
        .into_response();
    };
    let etag = format!("\"{:016x}\"", fnv(a.body));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, a.content_type)], a.body).into_response()
    };
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    security_headers(h, &host(&headers));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_embedded_files() {
        // Every asset URL of the page is an embedded file, and carries the query mark.
        let mut n = 0;
        for part in INDEX.split("assets/").skip(1) {
            let path = part.split(QUERY_MARK).next().unwrap();
            assert!(
                ASSETS.iter().any(|a| a.path == path),
                "index.html loads assets/{path}, which is not embedded"
            );
            n += 1;
        }
        assert!(n >= 3, "index.html loads {n} assets");
        assert_eq!(CHART_LIBRARY_VERSION.trim().split('.').count(), 3);
        assert_ne!(fnv(b"a"), fnv(b"b"));
    }
}
