// The dashboard in a real browser: Debian's chromium, driven by playwright-core, opens the page
// served by a real `shmbus serve` over a real `shmbus feed` (slot table + trade journal) and a
// candle region made by `shmbus candles import`, and checks it through the DOM contract of
// docs/GATEWAY.md ("Dashboard"): live status, quotes that change and then equal `shmbus slot get`
// exactly, the chart's bars equal to the imported CSV (and a bar imported later appearing live,
// and another series picked in #pick-series), the trades tape equal to the journal, the region
// panel (writer alive, rate, newest sequence, occupancy, then dead after SIGKILL), the latency
// figures, a token-protected gateway through ?token=, no console error, no failed request, and
// no request leaving 127.0.0.1.
//
//   scripts/ci/browser.sh            (setup, build, then this test)
//   UPDATE_SCREENSHOT=1 scripts/ci/browser.sh    (also writes docs/dashboard.png)
//
// Every process it starts is stopped in `after`, also when a check fails; every wait is bounded.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { isDeepStrictEqual } = require('node:util');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..', '..');
const SHMBUS = process.env.SHMBUS || path.join(ROOT, 'target', 'release', 'shmbus');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FIXTURE = path.join(__dirname, 'fixtures', 'bars.csv');
const WAIT = 15000; // the bound of every wait on the page (ms)

// Unique names: other engineers' tests share /dev/shm.
const TAG = `browser${process.pid}`;
const QUOTES = `${TAG}-quotes`;
const TRADES = `${TAG}-trades`;
const BARS = `${TAG}-bars`;
const SYMBOL = 'TEST';
const INTERVAL = '1d';
const FEED_SYMBOLS = 8;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${TAG}-`));
const children = []; // every spawned process, killed in `after`

/**
 * Kills what is still running and removes the regions and the temp dir; idempotent and
 * synchronous, so that it also runs on `exit` and on SIGTERM/SIGINT (a test process killed by a
 * timeout, or dying of an uncaught error, leaves nothing behind).
 */
function cleanup() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  // `rm` of a journal also removes its reader registry (NAME.readers); named here too in case.
  for (const n of [QUOTES, TRADES, BARS, `${TRADES}.readers`]) {
    try {
      execFileSync(SHMBUS, ['rm', '--force', n], { timeout: 10000, stdio: 'ignore' });
    } catch {
      // not created, or already removed
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const [sig, n] of [
  ['SIGTERM', 15],
  ['SIGINT', 2],
]) {
  process.once(sig, () => {
    cleanup();
    process.exit(128 + n);
  });
}

/** Runs the CLI to the end; its stdout. Throws (with its stderr) on a non-zero exit. */
function cli(...args) {
  return execFileSync(SHMBUS, args, { encoding: 'utf8', timeout: 20000, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Starts a long-running CLI process, remembered for `after`. */
function start(...args) {
  const child = spawn(SHMBUS, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderrText = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    child.stderrText += d;
  });
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  children.push(child);
  return child;
}

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

/** The first stdout line of `child`, within `ms`. */
function firstLine(child, ms, what) {
  const rl = readline.createInterface({ input: child.stdout });
  const line = new Promise((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (code, signal) =>
      reject(new Error(`${what} exited (${code ?? signal}) before printing a line: ${child.stderrText}`)),
    );
  });
  return withTimeout(line, ms, what).finally(() => {
    // Keep draining stdout so the child never blocks on a full pipe.
    child.stdout.resume();
  });
}

/** The bars of a CSV of `date,open,high,low,close,volume` rows, as the chart gives them. */
function csvBars(text) {
  const [header, ...rows] = text.trim().split('\n');
  assert.equal(header, 'date,open,high,low,close,volume');
  return rows.map((row) => {
    const [date, open, high, low, close] = row.split(',');
    return {
      time: Date.parse(`${date}T00:00:00Z`) / 1000,
      open: Number(open),
      high: Number(high),
      low: Number(low),
      close: Number(close),
    };
  });
}

/** A chart bar's time and prices (chartBars() may add volume). */
function ohlc(b) {
  return { time: b.time, open: b.open, high: b.high, low: b.low, close: b.close };
}

/** The dashboard's URL query for our regions (and `extra`). */
function dashboardQuery(extra = {}) {
  const query = { slots: QUOTES, journal: TRADES, candles: BARS, symbol: SYMBOL, interval: INTERVAL };
  return new URLSearchParams({ ...query, ...extra });
}

/** The quote table as the page shows it: {SYM: {price, volume, time, seq}} of data-value strings. */
function readQuotes(page) {
  return page.evaluate(() => {
    const out = {};
    for (const tr of document.querySelectorAll('#quotes tr[data-symbol]')) {
      const row = {};
      for (const f of ['price', 'volume', 'time', 'seq']) {
        const td = tr.querySelector(`[data-field="${f}"]`);
        row[f] = td ? td.getAttribute('data-value') : null;
      }
      out[tr.getAttribute('data-symbol')] = row;
    }
    return out;
  });
}

/** `shmbus slot get` of every symbol, in the page's data-value form (String of the JSON number). */
function slotTable() {
  const out = {};
  for (const s of JSON.parse(cli('slot', 'get', QUOTES, '--json'))) {
    out[s.symbol] = { price: String(s.price), volume: String(s.volume), time: String(s.timestamp), seq: String(s.seq) };
  }
  return out;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits, at most WAIT ms, until `fn(arg)` is truthy in the page. On timeout the error says what
 * was awaited and shows the element `show` selects, as the page had it.
 */
async function until(page, what, fn, arg, show) {
  try {
    await page.waitForFunction(fn, arg, { timeout: WAIT, polling: 100 });
  } catch (e) {
    const seen = show
      ? await page
          .evaluate((sel) => {
            const el = document.querySelector(sel);
            return el ? el.outerHTML.slice(0, 3000) : `(nothing matches ${sel})`;
          }, show)
          .catch((err) => `(page unreadable: ${err.message})`)
      : '';
    const why = e.message.split('\n')[0];
    throw new Error(`${what}: not within ${WAIT} ms (${why})${seen ? `; the page shows: ${seen}` : ''}`);
  }
}

/** Waits, at most WAIT ms, until `selector` matches; on timeout shows the element `show` selects. */
function untilSelector(page, what, selector, show) {
  return until(page, what, (sel) => document.querySelector(sel) !== null, selector, show);
}

describe('dashboard in chromium', { timeout: 110000 }, () => {
  let feed; // `shmbus feed`
  let base; // http://127.0.0.1:PORT of the `shmbus serve` without a token
  let browser;
  let context;
  let page;
  const origins = new Set(); // the gateways' origins: the only ones the pages may reach
  const bars = csvBars(fs.readFileSync(FIXTURE, 'utf8'));
  // What the page did that it must not: console errors, failed requests, traffic off loopback.
  const consoleErrors = [];
  const failedRequests = [];
  const offHost = [];
  const webSockets = [];

  before(async () => {
    assert.ok(fs.existsSync(SHMBUS), `${SHMBUS} is missing; build it (cargo build --release -p shmbus-cli)`);
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing; run scripts/setup.sh`);

    // The regions: a candle series imported from the CSV; a trade journal and a slot table
    // written by a live feed process.
    cli('candles', 'import', BARS, FIXTURE, '--symbol', SYMBOL, '--interval', INTERVAL, '--size', '1M');
    cli('journal', 'create', TRADES, '--ring', '4M');
    feed = start('feed', QUOTES, '--create', '--journal', TRADES, '--symbols', String(FEED_SYMBOLS), '--rate', '200');
    const deadline = Date.now() + WAIT;
    for (;;) {
      let n = 0;
      try {
        n = JSON.parse(cli('slot', 'get', QUOTES, '--json')).length;
      } catch {
        // not created yet
      }
      if (n === FEED_SYMBOLS) break;
      assert.ok(feed.exitCode === null, `the feed exited: ${feed.stderrText}`);
      assert.ok(Date.now() < deadline, `the feed did not publish ${FEED_SYMBOLS} symbols within ${WAIT} ms`);
      await sleep(50);
    }

    base = await serve();

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30000,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
        // Defence in depth for "works offline": no host name but the gateway's resolves.
        '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      ],
    });
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    context.setDefaultTimeout(WAIT);
    // Offline: anything not for a gateway is aborted and recorded.
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (origins.has(new URL(url).origin)) return route.continue();
      offHost.push(url);
      return route.abort('blockedbyclient');
    });
    page = await open(`${base}/?${dashboardQuery()}`);
  });

  /** Starts `shmbus serve --listen 127.0.0.1:0 ARGS...`; its base URL, from its first stdout line. */
  async function serve(...args) {
    const server = start('serve', '--listen', '127.0.0.1:0', ...args);
    const line = await firstLine(server, WAIT, 'shmbus serve');
    const m = /^shmbus serve: listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
    assert.ok(m, `unexpected first line of shmbus serve: ${line}`);
    origins.add(m[1]);
    return m[1];
  }

  /** A new page at `url`, watched for console errors, failed requests and its WebSockets. */
  async function open(url) {
    const p = await context.newPage();
    p.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(`${msg.text()} (${JSON.stringify(msg.location())})`);
    });
    p.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.stack || err}`));
    p.on('requestfailed', (req) => {
      failedRequests.push(`${req.method()} ${req.url()}: ${req.failure() && req.failure().errorText}`);
    });
    p.on('response', (res) => {
      if (res.status() >= 400) failedRequests.push(`${res.request().method()} ${res.url()}: HTTP ${res.status()}`);
    });
    p.on('websocket', (ws) => {
      webSockets.push(ws.url());
      ws.on('socketerror', (e) => failedRequests.push(`websocket ${ws.url()}: ${e}`));
    });
    const res = await p.goto(url, { waitUntil: 'load', timeout: WAIT });
    assert.equal(res.status(), 200, `GET ${url} answered ${res.status()}`);
    return p;
  }

  after(async () => {
    // Everything we started, also when a check failed: the browser (bounded), the processes, the regions.
    if (browser) await withTimeout(browser.close(), 10000, 'closing chromium').catch((e) => console.error(String(e)));
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await withTimeout(Promise.all(children.map((c) => c.exited)), 10000, 'children exiting').catch((e) =>
      console.error(String(e)),
    );
    cleanup();
  });

  it('goes live over the WebSocket', async () => {
    await untilSelector(page, 'status live', '#status[data-state="live"]', '#status');
    assert.ok(webSockets.length >= 1, 'no WebSocket was opened');
  });

  it('shows the slot table, with values that change and flash', async () => {
    await until(
      page,
      `${FEED_SYMBOLS} quote rows`,
      (n) => document.querySelectorAll('#quotes tr[data-symbol]').length === n,
      FEED_SYMBOLS,
      '#quotes',
    );
    const shown = await readQuotes(page);
    assert.deepEqual(Object.keys(shown).sort(), Object.keys(slotTable()).sort());
    for (const [sym, row] of Object.entries(shown)) {
      for (const [f, v] of Object.entries(row)) {
        assert.ok(v !== null && v !== '' && Number.isFinite(Number(v)), `${sym} ${f} has no numeric data-value: ${v}`);
      }
    }
    // The values move: some row's seq and price differ from the first look.
    await until(
      page,
      'a quote whose seq and price change',
      (before) =>
        [...document.querySelectorAll('#quotes tr[data-symbol]')].some((tr) => {
          const b = before[tr.getAttribute('data-symbol')];
          const v = (f) => tr.querySelector(`[data-field="${f}"]`).getAttribute('data-value');
          return b && v('seq') !== b.seq && v('price') !== b.price;
        }),
      shown,
      '#quotes',
    );
    await untilSelector(page, 'a flashing quote row', '#quotes tr.flash-up, #quotes tr.flash-down', '#quotes');
  });

  it('shows exactly the imported bars in the chart', async () => {
    await until(
      page,
      `${bars.length} bars in the chart`,
      (n) => window.shmbusDashboard && window.shmbusDashboard.chartBars().length >= n,
      bars.length,
      '#chart',
    );
    const series = await page.evaluate(() => window.shmbusDashboard.series);
    assert.deepEqual(series, { candles: BARS, symbol: SYMBOL, interval: INTERVAL });
    const shown = await page.evaluate(() => window.shmbusDashboard.chartBars());
    assert.deepEqual(shown.map(ohlc), bars);
  });

  it('adds a bar imported later, live', async () => {
    const last = bars[bars.length - 1];
    const next = { time: last.time + 86400, open: last.close, high: 93.25, low: 88.5, close: 91.75 };
    const date = new Date(next.time * 1000).toISOString().slice(0, 10);
    const file = path.join(tmp, 'next.csv');
    const row = `${date},${next.open},${next.high},${next.low},${next.close},1234`;
    fs.writeFileSync(file, `date,open,high,low,close,volume\n${row}\n`);
    cli('candles', 'import', BARS, file, '--symbol', SYMBOL, '--interval', INTERVAL);
    await until(
      page,
      'the bar imported later, in the chart',
      (n) => window.shmbusDashboard.chartBars().length === n,
      bars.length + 1,
      '#chart',
    );
    const shown = await page.evaluate(() => window.shmbusDashboard.chartBars());
    assert.deepEqual(shown.map(ohlc), [...bars, next]);
  });

  it('switches the chart to the series picked in #pick-series, live', async () => {
    // A second series of the same region: 12 hourly bars.
    const hourly = [];
    const lines = ['date,open,high,low,close,volume'];
    for (let i = 0; i < 12; i++) {
      const time = Date.parse('2024-03-01T00:00:00Z') / 1000 + 3600 * i;
      const b = { time, open: 50 + i, high: 52.5 + i, low: 49.25 + i, close: 51.75 + i };
      hourly.push(b);
      lines.push(`${time},${b.open},${b.high},${b.low},${b.close},${10 + i}`);
    }
    const file = path.join(tmp, 'hourly.csv');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    cli('candles', 'import', BARS, file, '--symbol', SYMBOL, '--interval', '1h');
    const other = `${SYMBOL}|1h`;
    await until(
      page,
      `the series ${other} offered in #pick-series`,
      (v) => [...document.querySelectorAll('#pick-series option')].some((o) => o.value === v),
      other,
      '#pick-series',
    );
    await page.selectOption('#pick-series', other, { timeout: WAIT });
    await until(
      page,
      `the chart switched to ${other}`,
      (n) =>
        window.shmbusDashboard.series &&
        window.shmbusDashboard.series.interval === '1h' &&
        window.shmbusDashboard.chartBars().length === n,
      hourly.length,
      '#chart',
    );
    assert.deepEqual(await page.evaluate(() => window.shmbusDashboard.series), {
      candles: BARS,
      symbol: SYMBOL,
      interval: '1h',
    });
    assert.deepEqual((await page.evaluate(() => window.shmbusDashboard.chartBars())).map(ohlc), hourly);
    assert.equal(new URL(page.url()).searchParams.get('interval'), '1h', 'the URL follows the pick');
    // And back: the daily bars again, all of them.
    await page.selectOption('#pick-series', `${SYMBOL}|${INTERVAL}`, { timeout: WAIT });
    await until(
      page,
      `the chart switched back to ${SYMBOL}|${INTERVAL}`,
      ([iv, n]) =>
        window.shmbusDashboard.series &&
        window.shmbusDashboard.series.interval === iv &&
        window.shmbusDashboard.chartBars().length === n,
      [INTERVAL, bars.length + 1],
      '#chart',
    );
  });

  it('fills the trades tape from the journal, newest first', async () => {
    await until(
      page,
      '20 trades on the tape',
      () => document.querySelectorAll('#tape li[data-seq]').length >= 20,
      null,
      '#tape',
    );
    const rows = await page.evaluate(() =>
      [...document.querySelectorAll('#tape li[data-seq]')].map((li) => ({
        seq: li.getAttribute('data-seq'),
        symbol: li.getAttribute('data-symbol'),
        price: li.getAttribute('data-price'),
        size: li.getAttribute('data-size'),
        side: li.getAttribute('data-side'),
      })),
    );
    assert.ok(rows.length <= 200, `the tape holds ${rows.length} rows, more than 200`);
    const seqs = rows.map((r) => Number(r.seq));
    for (let i = 1; i < seqs.length; i++) {
      assert.ok(seqs[i - 1] > seqs[i], `tape not newest first at row ${i}: ${seqs[i - 1]} then ${seqs[i]}`);
    }
    // Each row is the journal's message of that sequence.
    const oldest = seqs[seqs.length - 1];
    const res = await fetch(`${base}/api/journal/${TRADES}?from=${oldest}&count=${seqs[0] - oldest + 1}`);
    assert.equal(res.status, 200);
    const bySeq = new Map((await res.json()).messages.filter((m) => m.trade).map((m) => [m.seq, m.trade]));
    for (const r of rows) {
      const t = bySeq.get(Number(r.seq));
      assert.ok(t, `tape row seq ${r.seq} is not a trade of the journal`);
      assert.deepEqual(
        { symbol: r.symbol, price: Number(r.price), size: Number(r.size), side: r.side },
        { symbol: t.symbol, price: t.price, size: t.volume, side: t.side },
        `tape row seq ${r.seq}`,
      );
    }
  });

  it('shows the regions, the feed writer alive, and the latency', async () => {
    for (const [name, kind] of [
      [QUOTES, 'slots'],
      [TRADES, 'journal'],
    ]) {
      const sel = `#regions section.region[data-region="${name}"]`;
      const live = `${sel}[data-kind="${kind}"][data-alive="true"]`;
      await untilSelector(page, `${name} shown as a live ${kind}`, live, '#regions');
      const writer = await page.textContent(`${sel} [data-field="writer"]`);
      assert.match(writer, new RegExp(`pid ${feed.pid} alive`), `${name} writer`);
      // The rate, from successive polls, becomes positive while the feed writes.
      await until(
        page,
        `a positive rate for ${name}`,
        (s) => parseFloat((document.querySelector(s).textContent.match(/[\d.]+/) || ['0'])[0]) > 0,
        `${sel} [data-field="rate"]`,
        sel,
      );
    }
    const candles = `#regions section.region[data-region="${BARS}"]`;
    await untilSelector(page, `${BARS} shown as candles`, `${candles}[data-kind="candles"]`, '#regions');
    assert.equal(await page.getAttribute(candles, 'data-alive'), 'none');
    // The journal's newest sequence and ring occupancy are shown, and are the journal's.
    const tr = `#regions section.region[data-region="${TRADES}"]`;
    await until(
      page,
      `${TRADES}'s newest sequence and ring occupancy`,
      (sel) =>
        /^\d+$/.test(document.querySelector(`${sel} [data-field="newest"]`).textContent.trim()) &&
        parseFloat(document.querySelector(`${sel} [data-field="occupancy"]`).textContent) > 0,
      tr,
      tr,
    );
    const newest = Number((await page.textContent(`${tr} [data-field="newest"]`)).trim());
    const next = JSON.parse(cli('stats', TRADES, '--json', '--interval', '0')).next_seq;
    assert.ok(newest > 0 && newest < next, `the journal's newest sequence shows ${newest}; its next is ${next}`);
    const occupancy = parseFloat(await page.textContent(`${tr} [data-field="occupancy"]`));
    assert.ok(occupancy > 0 && occupancy <= 100, `ring occupancy ${occupancy}%`);
    // Reader lag: a number when the gateway knows the journal's registered readers, else `-`.
    const known = await (await fetch(`${base}/api/regions/${TRADES}`)).json();
    const readers = (known.readers || []).filter((r) => typeof r.lag === 'number');
    if (readers.length) {
      await until(
        page,
        `${TRADES}'s reader lag (the gateway lists ${readers.length} registered readers)`,
        (sel) => /^\d+/.test(document.querySelector(`${sel} [data-field="lag"]`).textContent.trim()),
        tr,
        tr,
      );
    } else {
      const lag = (await page.textContent(`${tr} [data-field="lag"]`)).trim();
      assert.match(lag, /^(-|\d+)/, `reader lag shows ${lag}`);
    }

    await until(
      page,
      'latency samples',
      () => Number(document.querySelector('#latency').getAttribute('data-count')) > 0,
      null,
      '#latency',
    );
    const lat = await page.evaluate(() => {
      const e = document.querySelector('#latency');
      return {
        p50: Number(e.getAttribute('data-p50-us')),
        p99: Number(e.getAttribute('data-p99-us')),
        count: Number(e.getAttribute('data-count')),
        text: e.textContent,
      };
    });
    assert.ok(lat.count > 0 && lat.p50 > 0 && lat.p99 >= lat.p50, `latency: ${JSON.stringify(lat)}`);
    console.log(`write-to-browser latency: p50 ${lat.p50} µs, p99 ${lat.p99} µs over ${lat.count} messages`);
  });

  it('saves a screenshot while the feed is live', async () => {
    assert.equal(feed.exitCode, null, 'the feed must still run');
    const shot = path.join(os.tmpdir(), `${TAG}-dashboard.png`);
    await page.screenshot({ path: shot, fullPage: true, timeout: WAIT });
    console.log(`screenshot: ${shot}`);
    if (process.env.UPDATE_SCREENSHOT === '1') {
      fs.copyFileSync(shot, path.join(ROOT, 'docs', 'dashboard.png'));
      console.log('screenshot: docs/dashboard.png updated');
    }
  });

  it('shows the killed writer dead, and the last values exactly as `shmbus slot get`', async () => {
    feed.kill('SIGKILL');
    await withTimeout(feed.exited, WAIT, 'the feed exiting');
    for (const name of [QUOTES, TRADES]) {
      const sel = `#regions section.region[data-region="${name}"]`;
      await untilSelector(page, `${name}'s killed writer shown dead`, `${sel}[data-alive="false"]`, sel);
      assert.match(await page.textContent(`${sel} [data-field="writer"]`), new RegExp(`pid ${feed.pid} dead`));
    }
    // The table stops moving at the last values written; the page shows exactly those.
    const want = slotTable();
    assert.equal(Object.keys(want).length, FEED_SYMBOLS);
    let shown;
    const deadline = Date.now() + WAIT;
    do {
      shown = await readQuotes(page);
      if (isDeepStrictEqual(shown, want)) break;
      await sleep(100);
    } while (Date.now() < deadline);
    assert.deepEqual(shown, want);
  });

  it('passes ?token= on to every API call and the WebSocket', async () => {
    const token = `browser-test-${process.pid}-token`;
    const tokenFile = path.join(tmp, 'token');
    fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const secured = await serve('--token-file', tokenFile);
    // The token is required (so the page below works only if it passes it on).
    assert.equal((await fetch(`${secured}/api/regions`)).status, 401);
    const p = await open(`${secured}/?${dashboardQuery({ token })}`);
    try {
      await untilSelector(p, 'status live (with a token)', '#status[data-state="live"]', '#status');
      await until(
        p,
        `${FEED_SYMBOLS} quote rows (with a token)`,
        (n) => document.querySelectorAll('#quotes tr[data-symbol]').length === n,
        FEED_SYMBOLS,
        '#quotes',
      );
      assert.deepEqual(await readQuotes(p), slotTable());
      await until(
        p,
        'the chart (with a token)',
        (n) => window.shmbusDashboard.chartBars().length === n,
        bars.length + 1,
        '#chart',
      );
      const dead = `#regions section.region[data-region="${QUOTES}"][data-alive="false"]`;
      await untilSelector(p, 'the regions (with a token)', dead, '#regions');
    } finally {
      await withTimeout(p.close(), WAIT, 'closing the page').catch(() => {});
    }
  });

  it('worked offline: no console error, no failed request, nothing but 127.0.0.1', () => {
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(failedRequests, []);
    assert.deepEqual(offHost, []);
    assert.ok(webSockets.length >= 2);
    for (const u of webSockets) {
      assert.ok([...origins].some((o) => u.startsWith(o.replace(/^http/, 'ws') + '/')), `WebSocket to ${u}`);
    }
  });
});
