//! The web dashboard of `shmbus serve` (real server process, plain HTTP): `/` and its files are
//! served with the right content types and headers, need the token like the API, load nothing
//! from elsewhere (offline), and the vendored chart library is the pinned version. And
//! `shmbus feed --candles`, the dashboard's live chart source, checked against the slot table
//! the same updates went to. (The page itself runs in a real browser in the browser test.)

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

fn shmbus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shmbus"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run shmbus")
}

fn cli_json(args: &[&str]) -> Value {
    let o = shmbus(args);
    assert!(
        o.status.success(),
        "shmbus {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("CLI JSON")
}

/// A unique name (a region, or a file in the temp dir), removed when dropped, even on failure.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self(format!("shmbus-dash-test-{tag}-{}-{n}", std::process::id()))
    }

    fn tmp(&self) -> String {
        std::env::temp_dir()
            .join(&self.0)
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/dev/shm/{}", self.0));
        let _ = std::fs::remove_file(self.tmp());
    }
}

/// A running `shmbus serve`, killed (by its pid) when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shmbus"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start shmbus serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .unwrap_or("")
            .to_owned();
        let srv = Self { child, addr };
        assert!(srv.addr.starts_with("127.0.0.1:"), "no address in {line:?}");
        srv
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        get(&self.addr, path, headers)
    }
}

/// An HTTP answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

/// A plain HTTP/1.1 GET with `Connection: close` (the test sees exactly what is sent).
fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nConnection: close\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let len = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16)
                .unwrap();
            if len == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + len]);
            rest = &rest[eol + 2 + len + 2..];
        }
        body = out;
    }
    Answer {
        status,
        headers,
        body,
    }
}

/// The values of every `src="..."` and `href="..."` attribute of an HTML page.
fn urls_of(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            out.push(part.split('"').next().unwrap().to_owned());
        }
    }
    out
}

/// Every `http://` or `https://` URL in a text.
fn absolute_urls(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for scheme in ["http://", "https://"] {
        for part in text.split(scheme).skip(1) {
            let end = part
                .find(|c: char| c.is_whitespace() || "\"'`<>)$".contains(c))
                .unwrap_or(part.len());
            out.push(format!("{scheme}{}", &part[..end]));
        }
    }
    out
}

fn asset_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shmbus-gateway/assets")
}

/// The pinned version of lightweight-charts (scripts/vendor-dashboard.sh).
const CHART_VERSION: &str = "5.2.1";
const CHART_JS: &str = "vendor/lightweight-charts/lightweight-charts.standalone.production.js";
/// The one outside address the page names: the chart library's attribution link, as its
/// licence asks (a link the user may follow, never something the page loads).
const ATTRIBUTION: &str = "https://www.tradingview.com/";

#[test]
fn the_dashboard_and_its_files_are_served_offline_with_their_content_types() {
    let srv = Server::start(&[]);
    let page = srv.get("/", &[]);
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(page.header("cache-control"), "no-store");
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    let csp = page.header("content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'self';",
        &format!("connect-src 'self' ws://{}", srv.addr),
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "CSP {csp:?} lacks {part:?}");
    }
    let html = page.text();
    // The DOM contract's elements are in the page.
    for id in [
        "status",
        "quotes",
        "chart",
        "tape",
        "regions",
        "latency",
        "pick-slots",
        "pick-journal",
        "pick-candles",
        "pick-series",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    assert!(html.contains("data-state=\"connecting\""));

    // Every file the page names is this server's (a relative URL) and is served with its type;
    // the only absolute URL is the attribution link.
    let mut loaded = Vec::new();
    for url in urls_of(&html) {
        if url == ATTRIBUTION {
            continue;
        }
        assert!(
            url.starts_with("assets/") && !url.contains("//") && !url.contains(".."),
            "the page loads {url:?}, which is not one of its embedded files"
        );
        let a = srv.get(&format!("/{url}"), &[]);
        assert_eq!(a.status, 200, "GET /{url}");
        let want = match url.rsplit('.').next().unwrap() {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            _ => "text/plain; charset=utf-8",
        };
        assert_eq!(a.header("content-type"), want, "/{url}");
        assert_eq!(a.header("cache-control"), "no-cache", "/{url}");
        assert_eq!(a.header("x-content-type-options"), "nosniff");
        // Served exactly as committed.
        let file = asset_dir().join(url.trim_start_matches("assets/"));
        assert_eq!(a.body, std::fs::read(&file).unwrap(), "/{url}");
        // Revalidation by ETag: unchanged, nothing is sent again.
        let etag = a.header("etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() > 2, "/{url}: {etag:?}");
        let again = srv.get(&format!("/{url}"), &[("If-None-Match", &etag)]);
        assert_eq!((again.status, again.body.len()), (304, 0), "/{url}");
        loaded.push(url);
    }
    for f in [
        "assets/app.js",
        "assets/style.css",
        &format!("assets/{CHART_JS}"),
        "assets/vendor/lightweight-charts/LICENSE",
        "assets/vendor/lightweight-charts/NOTICE",
    ] {
        assert!(loaded.iter().any(|u| u == f), "the page does not name {f}");
    }
    // Offline: the page's own code names no outside address but the attribution link; the
    // chart library only its licence's, the SVG namespace and the same attribution link.
    for (file, allowed) in [
        ("index.html", &[ATTRIBUTION][..]),
        ("app.js", &[][..]),
        ("style.css", &[][..]),
        (
            CHART_JS,
            &[
                "https://www.apache.org/licenses/LICENSE-2.0",
                "http://www.w3.org/2000/svg",
                "https://www.tradingview.com/?utm_medium=lwc-link&utm_campaign=lwc-chart",
            ][..],
        ),
    ] {
        let text = std::fs::read_to_string(asset_dir().join(file)).unwrap();
        for url in absolute_urls(&text) {
            assert!(allowed.contains(&url.as_str()), "{file} names {url}");
        }
    }
    // A name that is no embedded file: the API's JSON 404, no path leads out of the assets.
    for path in [
        "/assets/nope.js",
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/src/lib.rs",
        "/assets/vendor",
    ] {
        let a = srv.get(path, &[]);
        assert_eq!(a.status, 404, "{path}");
        let v: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["code"], "no_route", "{path}");
    }
}

#[test]
fn with_a_token_the_dashboard_needs_it_and_passes_it_on() {
    let tf = Name::new("token");
    let token = "dash-token-0123456789abcdef";
    std::fs::write(tf.tmp(), token).unwrap();
    let srv = Server::start(&["--token-file", &tf.tmp()]);
    for path in ["/", "/assets/app.js", &format!("/assets/{CHART_JS}")] {
        let a = srv.get(path, &[]);
        assert_eq!(a.status, 401, "{path}");
        assert_eq!(a.header("www-authenticate"), "Bearer");
        let wrong = srv.get(&format!("{path}?token=dash-token-0123456789abcdeX"), &[]);
        assert_eq!(wrong.status, 401, "{path}");
    }
    let page = srv.get(&format!("/?token={token}"), &[]);
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), "no-store");
    // The page's files carry the token (a browser adds none to a <script src>), and load with it.
    let urls: Vec<String> = urls_of(&page.text())
        .into_iter()
        .filter(|u| u.starts_with("assets/"))
        .collect();
    assert!(urls.len() >= 4, "{urls:?}");
    for u in &urls {
        assert!(u.ends_with(&format!("?token={token}")), "{u}");
        assert_eq!(srv.get(&format!("/{u}"), &[]).status, 200, "{u}");
    }
    // The bearer header works as for the API.
    let auth = format!("Bearer {token}");
    assert_eq!(srv.get("/", &[("Authorization", &auth)]).status, 200);
    // Without a token the page names its files plainly.
    let open = Server::start(&[]);
    assert!(
        urls_of(&open.get("/", &[]).text())
            .iter()
            .all(|u| !u.contains('?'))
    );
}

#[test]
fn the_vendored_chart_library_is_the_pinned_version() {
    let dir = asset_dir().join("vendor/lightweight-charts");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    assert_eq!(read("VERSION").trim(), CHART_VERSION);
    assert!(
        read("lightweight-charts.standalone.production.js").starts_with(&format!(
            "/*!\n * @license\n * TradingView Lightweight Charts™ v{CHART_VERSION}\n"
        )),
        "the vendored build is not lightweight-charts {CHART_VERSION}"
    );
    assert!(read("LICENSE").contains("Apache License"));
    assert!(read("LICENSE").contains("Version 2.0, January 2004"));
    assert!(read("NOTICE").contains("TradingView, Inc."));
    // The re-fetch script pins the same version.
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/vendor-dashboard.sh"),
    )
    .unwrap();
    assert!(
        script
            .lines()
            .any(|l| l == format!("PINNED={CHART_VERSION}")),
        "scripts/vendor-dashboard.sh does not pin {CHART_VERSION}"
    );
    // And the server serves that file, naming its version.
    let srv = Server::start(&[]);
    let a = srv.get("/assets/vendor/lightweight-charts/VERSION", &[]);
    assert_eq!(a.text().trim(), CHART_VERSION);
    // The page credits it with a visible link (the licence's attribution requirement), and the
    // chart shows the library's attribution logo.
    let html = srv.get("/", &[]).text();
    assert!(html.contains(&format!("<a href=\"{ATTRIBUTION}\"")));
    let app = std::fs::read_to_string(asset_dir().join("app.js")).unwrap();
    assert!(app.contains("attributionLogo: true"));
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64()
        .unwrap_or_else(|| panic!("no number {k} in {v}"))
}

#[test]
fn feed_with_candles_writes_live_bars_that_match_the_slots() {
    let (s, c, j, summary) = (
        Name::new("fs"),
        Name::new("fc"),
        Name::new("fj"),
        Name::new("sum"),
    );
    let o = shmbus(&["journal", "create", &j.0, "--ring", "1M"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = shmbus(&[
        "feed",
        &s.0,
        "--create",
        "--symbols",
        "3",
        "--rate",
        "3000",
        "--seconds",
        "2.5",
        "--candles",
        &c.0,
        "--journal",
        &j.0,
        "--summary-json",
        &summary.tmp(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let written = serde_json::from_str::<Value>(&std::fs::read_to_string(summary.tmp()).unwrap())
        .unwrap()["written"]
        .as_u64()
        .unwrap();
    assert!(written > 1000, "{written}");

    // 1s and 1m bars per symbol, the first symbol's 1s bars first.
    let series = cli_json(&["candles", "show", &c.0, "--json"]);
    let names: Vec<(String, String)> = series
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["symbol"].as_str().unwrap().to_owned(),
                s["interval"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = ["BTCUSD", "ETHUSD", "SOLUSD"]
        .iter()
        .flat_map(|s| [(s.to_string(), "1s".into()), (s.to_string(), "1m".into())])
        .collect();
    assert_eq!(names, want);

    let slots = cli_json(&["slot", "get", &s.0, "--json"]);
    for slot in slots.as_array().unwrap() {
        let sym = slot["symbol"].as_str().unwrap();
        let secs = cli_json(&["candles", "show", &c.0, sym, "1s", "--json"]);
        let mins = cli_json(&["candles", "show", &c.0, sym, "1m", "--json"]);
        let (secs, mins) = (secs.as_array().unwrap(), mins.as_array().unwrap());
        // 2.5 s of updates: up to four 1s bars, one or two 1m bars (fewer 1s bars only if
        // the machine stalled the feed for over a second).
        assert!((2..=4).contains(&secs.len()), "{sym}: {secs:?}");
        assert!((1..=2).contains(&mins.len()), "{sym}: {mins:?}");
        for (bars, len) in [(secs, 1000), (mins, 60_000)] {
            let mut prev = 0;
            for b in bars {
                let t = b["timestamp"].as_u64().unwrap();
                assert!(t % len == 0 && t > prev, "{sym}: {b}");
                prev = t;
                let (o, h, l, cl) = (f(b, "open"), f(b, "high"), f(b, "low"), f(b, "close"));
                assert!(l <= o.min(cl) && h >= o.max(cl) && l > 0.0, "{sym}: {b}");
            }
        }
        // The bars aggregate the very updates the slot table got: the last close is the slot's
        // last price, the minutes span the seconds, and both count the same volume.
        let last = |v: &[Value]| f(v.last().unwrap(), "close");
        assert_eq!(last(secs), f(slot, "price"), "{sym}");
        assert_eq!(last(mins), f(slot, "price"), "{sym}");
        let max = |v: &[Value], k: &str| v.iter().map(|b| f(b, k)).fold(f64::MIN, f64::max);
        let min = |v: &[Value], k: &str| v.iter().map(|b| f(b, k)).fold(f64::MAX, f64::min);
        assert_eq!(max(secs, "high"), max(mins, "high"), "{sym}");
        assert_eq!(min(secs, "low"), min(mins, "low"), "{sym}");
        assert_eq!(f(&secs[0], "open"), f(&mins[0], "open"), "{sym}");
        let sum = |v: &[Value]| v.iter().map(|b| f(b, "volume")).sum::<f64>();
        assert_eq!(sum(secs), sum(mins), "{sym}");
        assert!(sum(secs) > 0.0, "{sym}");
    }

    // inspect --json counts the writes: every update of the slot table, the store's writes.
    let si = cli_json(&["inspect", &s.0, "--json"]);
    assert_eq!(si["slots"]["writes"].as_u64(), Some(written));
    let ci = cli_json(&["inspect", &c.0, "--json"]);
    assert_eq!(ci["candles"]["series"].as_u64(), Some(6));
    assert!(ci["candles"]["writes"].as_u64().unwrap() >= 6, "{ci}");

    // The journal's numbers in inspect: every update was a trade.
    let ji = cli_json(&["inspect", &j.0, "--json"]);
    assert_eq!(ji["journal"]["next"].as_u64(), Some(written), "{ji}");
    assert_eq!(ji["journal"]["mode"], "ring");
    let occupancy = ji["journal"]["occupancy"].as_f64().unwrap();
    assert!(occupancy > 0.0 && occupancy <= 1.0, "{ji}");
    let (oldest, stored) = (
        ji["journal"]["oldest"].as_u64(),
        ji["journal"]["stored"].as_u64(),
    );
    assert_eq!(oldest.unwrap() + stored.unwrap(), written, "{ji}");

    // A second run on the same store carries on: the bar of the second it starts in goes on
    // (its open and volume kept), later bars follow.
    let before: Vec<Value> = cli_json(&["candles", "show", &c.0, "BTCUSD", "1m", "--json"])
        .as_array()
        .unwrap()
        .clone();
    let o = shmbus(&[
        "feed",
        &s.0,
        "--symbols",
        "3",
        "--rate",
        "1000",
        "--seconds",
        "1.2",
        "--candles",
        &c.0,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after = cli_json(&["candles", "show", &c.0, "BTCUSD", "1m", "--json"]);
    let after = after.as_array().unwrap();
    let (old_last, new_same) = (before.last().unwrap(), &after[before.len() - 1]);
    assert_eq!(&after[..before.len() - 1], &before[..before.len() - 1]);
    assert_eq!(old_last["timestamp"], new_same["timestamp"]);
    if after.len() == before.len() {
        // The same minute went on: its open stays, its volume grew.
        assert_eq!(f(old_last, "open"), f(new_same, "open"));
        assert!(
            f(new_same, "volume") > f(old_last, "volume"),
            "{old_last} {new_same}"
        );
        assert!(f(new_same, "high") >= f(old_last, "high"));
        assert!(f(new_same, "low") <= f(old_last, "low"));
    }
    let secs = cli_json(&["candles", "show", &c.0, "BTCUSD", "1s", "--json"]);
    let t: Vec<u64> = secs
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["timestamp"].as_u64().unwrap())
        .collect();
    assert!(t.len() >= 3 && t.windows(2).all(|w| w[0] < w[1]), "{t:?}");
}
