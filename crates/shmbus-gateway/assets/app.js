// shmbus dashboard: hand-written, no framework, no build step. The DOM it keeps is a contract
// (ids and data-* attributes) that the browser test reads; docs/GATEWAY.md "Dashboard".
// Region names and symbols come from other processes: they only ever go in as textContent,
// attribute values or option values, never as HTML.
'use strict';
(function () {
  const LC = window.LightweightCharts;
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  const TAPE_MAX = 200;
  const LAT_WINDOW = 5000;

  // ---------- helpers ----------
  const $ = (id) => document.getElementById(id);
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function withToken(u) {
    if (token) u.searchParams.set('token', token);
    return u;
  }
  function apiUrl(parts, query) {
    const path = 'api/' + parts.map(encodeURIComponent).join('/');
    const u = new URL(path, location.href);
    u.search = '';
    u.hash = '';
    for (const [k, v] of Object.entries(query || {})) u.searchParams.set(k, String(v));
    return withToken(u);
  }
  async function api(parts, query) {
    const r = await fetch(apiUrl(parts, query), { cache: 'no-store' });
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    if (!r.ok) {
      const msg = body && body.error ? body.error : 'HTTP ' + r.status;
      const e = new Error(msg);
      e.code = body && body.code;
      throw e;
    }
    return body;
  }
  function digits(v) {
    const a = Math.abs(v);
    return a >= 1000 ? 2 : a >= 10 ? 3 : 5;
  }
  function fmtPrice(v) {
    if (typeof v !== 'number' || !isFinite(v)) return '-';
    const d = digits(v);
    return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  }
  function fmtNum(v) {
    if (typeof v !== 'number' || !isFinite(v)) return '-';
    return v.toLocaleString('en-US', { maximumFractionDigits: 4 });
  }
  function fmtRate(r) {
    if (r === null || r === undefined || !isFinite(r)) return '-';
    if (r >= 1e6) return (r / 1e6).toFixed(2) + 'M/s';
    if (r >= 1e4) return (r / 1e3).toFixed(1) + 'k/s';
    return (r >= 100 ? r.toFixed(0) : r.toFixed(1)) + '/s';
  }
  // A time in ns since the epoch as HH:MM:SS.mmm (UTC).
  function fmtNs(ns) {
    if (typeof ns !== 'number' || !isFinite(ns) || ns <= 0) return '-';
    const d = new Date(ns / 1e6);
    return isNaN(d) ? '-' : d.toISOString().slice(11, 23);
  }
  function fmtUs(us) {
    if (us === null || !isFinite(us)) return '-';
    if (us >= 10000) return (us / 1000).toFixed(1) + ' ms';
    if (us >= 1000) return (us / 1000).toFixed(2) + ' ms';
    return us.toFixed(0) + ' µs';
  }
  function nowNs() {
    return (performance.timeOrigin + performance.now()) * 1e6;
  }

  // ---------- state ----------
  const sel = {
    slots: params.get('slots'),
    journal: params.get('journal'),
    candles: params.get('candles'),
    series: params.get('symbol') && params.get('interval')
      ? params.get('symbol') + '|' + params.get('interval') : null,
  };
  const pick = {
    slots: $('pick-slots'),
    journal: $('pick-journal'),
    candles: $('pick-candles'),
    series: $('pick-series'),
  };
  let regions = [];

  // ---------- status ----------
  const statusEl = $('status');
  function setStatus(state, text) {
    statusEl.setAttribute('data-state', state);
    statusEl.querySelector('.text').textContent = text || state;
  }

  // ---------- WebSocket and subscriptions ----------
  let ws = null;
  let wsOpen = false;
  let backoff = 250;
  let subN = 0;
  // id -> {kind, onFrame, answered}
  const subs = new Map();
  // The current subscription of each panel: {id, key, retry}
  const cur = { slots: null, journal: null, candles: null };

  function send(obj) {
    if (ws && wsOpen) ws.send(JSON.stringify(obj));
  }
  function updateLive() {
    if (!wsOpen) return;
    for (const s of subs.values()) if (!s.answered) { setStatus('connecting', 'subscribing'); return; }
    setStatus('live', 'live');
  }
  function subscribe(panel, req, onFrame) {
    const id = panel[0] + (++subN);
    const s = { panel, onFrame, answered: false };
    subs.set(id, s);
    cur[panel] = { id, key: req, retry: null };
    send(Object.assign({ op: 'subscribe', id }, req));
    updateLive();
    return id;
  }
  function unsubscribe(panel) {
    const c = cur[panel];
    if (!c) return;
    if (c.retry) clearTimeout(c.retry);
    if (subs.has(c.id)) {
      subs.delete(c.id);
      send({ op: 'unsubscribe', id: c.id });
    }
    cur[panel] = null;
    updateLive();
  }
  // A subscription that ended (region removed) or failed: try again while it is still wanted.
  function retryLater(panel, id, start) {
    subs.delete(id);
    updateLive();
    const c = cur[panel];
    if (!c || c.id !== id) return;
    c.retry = setTimeout(() => { if (cur[panel] && cur[panel].id === id) start(); }, 2000);
  }

  function connect() {
    const u = withToken(new URL('ws', location.href));
    u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    u.hash = '';
    setStatus('connecting', 'connecting');
    let sock;
    try { sock = new WebSocket(u); } catch (e) { scheduleReconnect(); return; }
    ws = sock;
    sock.onopen = () => {
      if (ws !== sock) return;
      wsOpen = true;
      backoff = 250;
      subs.clear();
      startSlots();
      startJournal();
      startCandles();
      updateLive();
    };
    sock.onmessage = (ev) => {
      if (ws !== sock || typeof ev.data !== 'string') return;
      let f;
      try { f = JSON.parse(ev.data); } catch (_) { return; }
      if (f && typeof f.sub === 'string') {
        const s = subs.get(f.sub);
        if (!s) return;
        if (f.subscribed || f.error) { s.answered = true; updateLive(); }
        s.onFrame(f, f.sub);
      }
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      wsOpen = false;
      ws = null;
      for (const p of Object.keys(cur)) if (cur[p] && cur[p].retry) clearTimeout(cur[p].retry);
      subs.clear();
      setStatus('closed', 'closed, reconnecting');
      scheduleReconnect();
    };
    sock.onerror = () => { /* onclose follows */ };
  }
  function scheduleReconnect() {
    const wait = backoff;
    backoff = Math.min(backoff * 2, 5000);
    setTimeout(connect, wait);
  }

  // ---------- quotes ----------
  const quotesBody = $('quotes').tBodies[0];
  const rows = new Map(); // symbol -> {tr, cells, price, first, timer}
  let quoteUpdates = 0;
  function clearQuotes() {
    slotPending = new Map();
    for (const r of rows.values()) clearTimeout(r.timer);
    rows.clear();
    quotesBody.replaceChildren();
  }
  function quoteRow(symbol) {
    let r = rows.get(symbol);
    if (r) return r;
    const tr = el('tr');
    tr.setAttribute('data-symbol', symbol);
    const cells = {};
    for (const f of ['symbol', 'price', 'chg', 'volume', 'time', 'seq']) {
      const td = el('td', f === 'symbol' ? 'l' : '');
      td.setAttribute('data-field', f);
      cells[f] = td;
      tr.appendChild(td);
    }
    cells.symbol.textContent = symbol;
    r = { tr, cells, price: null, first: null, timer: null };
    rows.set(symbol, r);
    quotesBody.appendChild(tr);
    $('quotes-empty').hidden = true;
    return r;
  }
  function setCell(td, raw, text) {
    td.setAttribute('data-value', raw === undefined || raw === null ? '' : String(raw));
    td.textContent = text;
  }
  // Slot frames come at up to a few thousand a second: the newest value per symbol is kept and
  // the table redrawn every 50 ms (the last value always lands).
  let slotPending = new Map();
  let slotTimer = null;
  function onSlot(v) {
    if (!v || typeof v.symbol !== 'string') return;
    quoteUpdates++;
    slotPending.set(v.symbol, v);
    if (!slotTimer) slotTimer = setTimeout(flushSlots, 50);
  }
  function flushSlots() {
    slotTimer = null;
    const batch = slotPending;
    slotPending = new Map();
    for (const v of batch.values()) drawSlot(v);
  }
  function drawSlot(v) {
    const r = quoteRow(v.symbol);
    if (v.written === false) {
      setCell(r.cells.price, '', '-');
      setCell(r.cells.volume, '', '-');
      setCell(r.cells.time, '', '-');
      setCell(r.cells.seq, v.seq, String(v.seq));
      return;
    }
    setCell(r.cells.price, v.price, fmtPrice(v.price));
    setCell(r.cells.volume, v.volume, fmtNum(v.volume));
    setCell(r.cells.time, v.timestamp, fmtNs(v.timestamp));
    setCell(r.cells.seq, v.seq, String(v.seq));
    if (r.first === null) r.first = v.price;
    const chg = r.first ? (v.price / r.first - 1) * 100 : 0;
    r.cells.chg.textContent = (chg >= 0 ? '+' : '') + chg.toFixed(2) + '%';
    r.cells.chg.className = chg > 0 ? 'pos' : chg < 0 ? 'neg' : '';
    if (r.price !== null && v.price !== r.price) {
      const cls = v.price > r.price ? 'flash-up' : 'flash-down';
      r.tr.classList.remove('flash-up', 'flash-down');
      r.tr.classList.add(cls);
      clearTimeout(r.timer);
      r.timer = setTimeout(() => r.tr.classList.remove('flash-up', 'flash-down'), 600);
    }
    r.price = v.price;
  }
  function startSlots() {
    unsubscribe('slots');
    const name = sel.slots;
    $('quotes-title').textContent = name || '';
    if (!name) {
      clearQuotes();
      showEmpty('quotes-empty', 'no slot table: start a writer, e.g. shmbus feed quotes --create');
      return;
    }
    if (!wsOpen) return;
    const id = subscribe('slots', { slots: name }, (f) => {
      if (f.subscribed) {
        clearQuotes();
        $('quotes-empty').hidden = true;
      } else if (f.slot) {
        onSlot(f.slot);
      } else if (f.error || f.end) {
        showEmpty('quotes-empty', (f.error || f.end.reason) + ' (retrying)');
        retryLater('slots', id, startSlots);
      }
    });
  }
  function showEmpty(id, text) {
    const e = $(id);
    e.textContent = text;
    e.hidden = false;
  }

  // ---------- trades tape ----------
  const tape = $('tape');
  let tapeQueue = [];
  let tapeTimer = null;
  let lastSeq = null; // the last journal sequence seen (for resume)
  let journalOf = null; // the journal lastSeq belongs to
  let liveFrom = Infinity; // messages from this sequence on were written after we subscribed
  function tapeItem(f) {
    const li = el('li');
    if (f.gap) {
      li.className = 'notice';
      li.setAttribute('data-gap-from', String(f.gap.from));
      li.setAttribute('data-gap-to', String(f.gap.to));
      li.setAttribute('data-gap-count', String(f.gap.count));
      li.textContent = 'gap: messages ' + f.gap.from + '..' + f.gap.to + ' lost (' + f.gap.count + ')';
      return li;
    }
    if (f.notice) {
      li.className = 'notice';
      li.textContent = f.notice;
      return li;
    }
    li.setAttribute('data-seq', String(f.seq));
    if (f.trade) {
      const t = f.trade;
      li.setAttribute('data-symbol', t.symbol);
      li.setAttribute('data-price', String(t.price));
      li.setAttribute('data-size', String(t.volume));
      li.setAttribute('data-side', t.side);
      li.append(el('span', 't', fmtNs(t.timestamp_ns).slice(0, 8)), el('span', 's', t.symbol),
        el('span', 'p', fmtPrice(t.price)), el('span', 'z', fmtNum(t.volume)),
        el('span', 'q', '#' + f.seq));
      li.title = t.side + ' ' + t.exchange + ' id ' + t.trade_id;
    } else {
      li.className = 'other';
      let type = 'type ' + f.type;
      if (f.bar) type = 'bar ' + f.bar.symbol + ' ' + f.bar.interval + ' close ' + fmtPrice(f.bar.close);
      else if (f.trading_data) type = 'trading_data ' + fmtPrice(f.trading_data.price);
      li.setAttribute('data-type', String(f.type));
      li.append(el('span', 't', f.ts ? fmtNs(f.ts).slice(0, 8) : ''), el('span', '', type),
        el('span', '', ''), el('span', 'z', f.len + ' B'), el('span', 'q', '#' + f.seq));
    }
    return li;
  }
  function pushTape(f) {
    tapeQueue.push(f);
    if (tapeQueue.length > TAPE_MAX) tapeQueue.splice(0, tapeQueue.length - TAPE_MAX);
    if (!tapeTimer) tapeTimer = setTimeout(flushTape, 50);
  }
  function flushTape() {
    tapeTimer = null;
    const frag = document.createDocumentFragment();
    for (let i = tapeQueue.length - 1; i >= 0; i--) frag.appendChild(tapeItem(tapeQueue[i]));
    tapeQueue = [];
    tape.insertBefore(frag, tape.firstChild);
    while (tape.children.length > TAPE_MAX) tape.lastElementChild.remove();
  }
  let journalMsgs = 0;
  function onJournalMessage(f) {
    if (typeof f.seq !== 'number') return;
    lastSeq = f.seq;
    journalMsgs++;
    // Latency: only for records stamped by their writer (trades, TradingData), and only for
    // messages written after we subscribed (a resumed backlog is old by design).
    if ((f.trade || f.trading_data) && typeof f.ts === 'number' && f.seq >= liveFrom) {
      latency.add((nowNs() - f.ts) / 1000);
    }
    pushTape(f);
  }
  function startJournal(fromEnd) {
    unsubscribe('journal');
    const name = sel.journal;
    $('tape-title').textContent = name || '';
    if (journalOf !== name) {
      journalOf = name;
      lastSeq = null;
      tapeQueue = [];
      tape.replaceChildren();
    }
    if (!name) return;
    if (!wsOpen) return;
    const from = !fromEnd && lastSeq !== null ? lastSeq + 1 : 'end';
    const id = subscribe('journal', { journal: name, from }, (f) => {
      if (f.subscribed) {
        liveFrom = f.subscribed.next;
      } else if (f.gap) {
        pushTape(f);
        lastSeq = f.gap.to;
      } else if (typeof f.seq === 'number') {
        onJournalMessage(f);
      } else if (f.error && f.code === 'not_yet') {
        // The journal is younger than what we saw (it was re-created): start at its end.
        subs.delete(id);
        pushTape({ notice: 'journal ' + name + ' restarted: following it from its end' });
        lastSeq = null;
        startJournal(true);
      } else if (f.error || f.end) {
        pushTape({ notice: (f.error || f.end.reason) + ' (retrying)' });
        retryLater('journal', id, () => startJournal());
      }
    });
  }

  // ---------- latency ----------
  const latency = {
    samples: new Float64Array(LAT_WINDOW),
    n: 0,
    total: 0,
    add(us) {
      this.samples[this.n % LAT_WINDOW] = us;
      this.n++;
      this.total++;
    },
    render() {
      const k = Math.min(this.n, LAT_WINDOW);
      const box = $('latency');
      box.setAttribute('data-count', String(this.total));
      box.querySelector('[data-field="count"]').textContent = String(this.total);
      if (!k) return;
      const s = Array.from(this.samples.subarray(0, k)).sort((a, b) => a - b);
      const q = (p) => s[Math.min(k - 1, Math.floor(p * k))];
      const p50 = q(0.5);
      const p99 = q(0.99);
      box.setAttribute('data-p50-us', p50.toFixed(1));
      box.setAttribute('data-p99-us', p99.toFixed(1));
      box.querySelector('[data-field="p50"]').textContent = fmtUs(p50);
      box.querySelector('[data-field="p99"]').textContent = fmtUs(p99);
    },
  };

  // ---------- chart ----------
  const chartEl = $('chart');
  let chart = null;
  let candleSeries = null;
  let volumeSeries = null;
  let bars = []; // [{time, open, high, low, close, volume}] oldest first, as in the chart
  let chartLoaded = false;
  let pendingBars = [];
  let chartGen = 0;
  function makeChart() {
    if (!LC || chart) return;
    chart = LC.createChart(chartEl, {
      autoSize: true,
      layout: {
        background: { type: 'solid', color: '#11151c' },
        textColor: '#8a94a3',
        fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, monospace',
        fontSize: 11,
        attributionLogo: true,
      },
      grid: { vertLines: { color: '#1a202a' }, horzLines: { color: '#1a202a' } },
      rightPriceScale: { borderColor: '#263042' },
      timeScale: { borderColor: '#263042', timeVisible: true, secondsVisible: true, rightOffset: 4 },
      crosshair: { mode: LC.CrosshairMode ? LC.CrosshairMode.Normal : 0 },
    });
    candleSeries = chart.addSeries(LC.CandlestickSeries, {
      upColor: '#26a69a', downColor: '#ef5350', borderVisible: false,
      wickUpColor: '#26a69a', wickDownColor: '#ef5350',
    });
    volumeSeries = chart.addSeries(LC.HistogramSeries, {
      priceFormat: { type: 'volume' }, priceScaleId: 'vol', lastValueVisible: false, priceLineVisible: false,
    });
    chart.priceScale('vol').applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
    chart.subscribeCrosshairMove((p) => {
      const b = p && p.time !== undefined ? bars.find((x) => x.time === p.time) : null;
      legend(b || bars[bars.length - 1]);
    });
  }
  function legend(b) {
    const e = $('chart-legend');
    if (!b) { e.textContent = ''; return; }
    e.textContent = 'O ' + fmtPrice(b.open) + '  H ' + fmtPrice(b.high) + '  L ' + fmtPrice(b.low) +
      '  C ' + fmtPrice(b.close) + '  V ' + fmtNum(b.volume);
  }
  function toBar(c) {
    return {
      time: Math.floor(c.timestamp / 1000), open: c.open, high: c.high, low: c.low,
      close: c.close, volume: c.volume,
    };
  }
  function volBar(b) {
    return { time: b.time, value: b.volume, color: b.close >= b.open ? 'rgba(38,166,154,.45)' : 'rgba(239,83,80,.45)' };
  }
  function setPrecision() {
    if (!candleSeries || !bars.length) return;
    const d = digits(bars[bars.length - 1].close);
    candleSeries.applyOptions({ priceFormat: { type: 'price', precision: d, minMove: Math.pow(10, -d) } });
  }
  function setBars(list) {
    bars = list;
    if (!candleSeries) return;
    candleSeries.setData(bars.map((b) => ({ time: b.time, open: b.open, high: b.high, low: b.low, close: b.close })));
    volumeSeries.setData(bars.map(volBar));
    setPrecision();
    legend(bars[bars.length - 1]);
    // A new series fills the chart's width (a short history would sit in its right half).
    if (bars.length) chart.timeScale().fitContent();
  }
  function applyBar(b) {
    const last = bars[bars.length - 1];
    if (!last || b.time > last.time) {
      bars.push(b);
    } else if (b.time === last.time) {
      bars[bars.length - 1] = b;
    } else {
      // An older bar changed (history re-written): place it and redraw.
      const i = bars.findIndex((x) => x.time >= b.time);
      if (bars[i].time === b.time) bars[i] = b; else bars.splice(i, 0, b);
      setBars(bars);
      return;
    }
    if (!candleSeries) return;
    candleSeries.update({ time: b.time, open: b.open, high: b.high, low: b.low, close: b.close });
    volumeSeries.update(volBar(b));
    if (bars.length === 1) setPrecision();
    legend(b);
  }
  async function loadHistory(gen, name, symbol, interval) {
    try {
      const list = await api(['candles', name, symbol, interval], { limit: 10000 });
      if (gen !== chartGen) return;
      const out = [];
      for (const c of list) {
        const b = toBar(c);
        if (out.length && out[out.length - 1].time >= b.time) out[out.length - 1] = b; else out.push(b);
      }
      setBars(out);
      chartLoaded = true;
      for (const b of pendingBars) applyBar(b);
      pendingBars = [];
      if (chart) chart.timeScale().scrollToRealTime();
      $('chart-empty').hidden = bars.length > 0;
      if (!bars.length) showEmpty('chart-empty', 'no bars yet in ' + symbol + ' ' + interval);
    } catch (e) {
      if (gen !== chartGen) return;
      showEmpty('chart-empty', e.message);
    }
  }
  function startCandles() {
    unsubscribe('candles');
    chartGen++;
    chartLoaded = false;
    pendingBars = [];
    const name = sel.candles;
    const [symbol, interval] = (sel.series || '|').split('|');
    window.shmbusDashboard.series = name && symbol && interval ? { candles: name, symbol, interval } : null;
    $('chart-title').textContent = name && symbol ? symbol + ' · ' + interval + '  (' + name + ')' : '';
    if (!name || !symbol || !interval) {
      setBars([]);
      showEmpty('chart-empty', name ? 'no series in ' + name + ' yet' : 'no candle store: shmbus feed quotes --candles bars');
      return;
    }
    if (!wsOpen) return;
    const gen = chartGen;
    const id = subscribe('candles', { candles: name, symbol, interval }, (f) => {
      if (gen !== chartGen) return;
      if (f.subscribed) {
        setBars([]);
        loadHistory(gen, name, symbol, interval);
      } else if (f.candle) {
        const b = toBar(f.candle);
        if (chartLoaded) { applyBar(b); $('chart-empty').hidden = true; } else pendingBars.push(b);
      } else if (f.error || f.end) {
        showEmpty('chart-empty', (f.error || f.end.reason) + ' (retrying)');
        retryLater('candles', id, startCandles);
      }
    });
  }

  // ---------- pickers ----------
  function isJournal(r) { return typeof r.kind === 'string' && r.kind.startsWith('journal'); }
  function isCandles(r) { return typeof r.kind === 'string' && r.kind.startsWith('candles'); }
  function isSlots(r) { return r.kind === 'slots'; }
  function defaults() {
    const first = (f) => { const r = regions.find(f); return r ? r.name : null; };
    return {
      slots: first((r) => isSlots(r) && /TradingData/.test(r.record || '')) || first(isSlots),
      journal: first((r) => isJournal(r) && /trades$/.test(r.name)) || first(isJournal),
      candles: first(isCandles),
    };
  }
  function fillSelect(select, values, current, label) {
    const want = values.slice();
    if (current && !want.includes(current)) want.unshift(current);
    const have = Array.from(select.options).map((o) => o.value);
    if (have.length === want.length && have.every((v, i) => v === want[i])) {
      if (current !== null && select.value !== current) select.value = current;
      return;
    }
    select.replaceChildren();
    if (!want.length) {
      const o = el('option', '', '(none)');
      o.value = '';
      select.appendChild(o);
    }
    for (const v of want) {
      const o = el('option', '', label ? label(v) : v);
      o.value = v;
      select.appendChild(o);
    }
    select.value = current || '';
  }
  function refreshPickers() {
    const d = defaults();
    const changed = [];
    for (const p of ['slots', 'journal', 'candles']) {
      if (!sel[p] && d[p]) { sel[p] = d[p]; changed.push(p); }
    }
    fillSelect(pick.slots, regions.filter(isSlots).map((r) => r.name), sel.slots);
    fillSelect(pick.journal, regions.filter(isJournal).map((r) => r.name), sel.journal);
    fillSelect(pick.candles, regions.filter(isCandles).map((r) => r.name), sel.candles);
    if (changed.includes('slots')) startSlots();
    if (changed.includes('journal')) startJournal();
    if (changed.includes('candles')) refreshSeries();
  }
  let seriesList = [];
  let seriesOf = null;
  async function refreshSeries() {
    const name = sel.candles;
    if (!name) { fillSelect(pick.series, [], null); return; }
    let list = [];
    try { list = await api(['candles', name]); } catch (_) { list = []; }
    if (name !== sel.candles) return;
    seriesList = list.map((s) => s.symbol + '|' + s.interval);
    let restart = seriesOf !== name;
    seriesOf = name;
    if (!sel.series && seriesList.length) { sel.series = seriesList[0]; restart = true; }
    fillSelect(pick.series, seriesList, sel.series, (v) => v.replace('|', ' · '));
    const running = cur.candles !== null;
    if (restart || (!running && sel.series)) startCandles();
  }
  function onPick(p) {
    pick[p].addEventListener('change', () => {
      const v = pick[p].value || null;
      if (v === sel[p]) return;
      sel[p] = v;
      if (p === 'slots') startSlots();
      if (p === 'journal') startJournal();
      if (p === 'candles') { sel.series = null; seriesOf = null; refreshSeries(); }
      if (p === 'series') startCandles();
      markSelected();
      const q = new URLSearchParams(location.search);
      for (const k of ['slots', 'journal', 'candles']) if (sel[k]) q.set(k, sel[k]); else q.delete(k);
      if (sel.series) {
        const [s, i] = sel.series.split('|');
        q.set('symbol', s);
        q.set('interval', i);
      }
      history.replaceState(null, '', '?' + q.toString());
    });
  }

  // ---------- regions panel ----------
  const regionsEl = $('regions');
  const cards = new Map(); // name -> {sec, f: {field: dd}, prev: {t, count}}
  function card(r) {
    let c = cards.get(r.name);
    if (c) return c;
    const sec = el('section', 'region');
    sec.setAttribute('data-region', r.name);
    const head = el('div', 'name');
    head.append(el('span', 'nm', r.name), el('span', 'kind'));
    head.title = r.name;
    const dl = el('dl');
    const f = {};
    for (const [k, label] of [['writer', 'writer'], ['rate', 'rate'], ['newest', 'newest seq'],
      ['occupancy', 'ring'], ['lag', 'reader lag'], ['size', 'size']]) {
      const dd = el('dd', '', '-');
      dd.setAttribute('data-field', k);
      dl.append(el('dt', '', label), dd);
      f[k] = dd;
    }
    const bar = el('div', 'bar');
    const fill = el('i');
    bar.appendChild(fill);
    sec.append(head, dl, bar);
    sec.addEventListener('click', () => {
      const kind = sec.getAttribute('data-kind') || '';
      const p = kind === 'slots' ? 'slots' : kind.startsWith('journal') ? 'journal' : kind.startsWith('candles') ? 'candles' : null;
      if (!p || sel[p] === r.name) return;
      pick[p].value = r.name;
      pick[p].dispatchEvent(new Event('change'));
    });
    c = { sec, f, fill, kindEl: head.lastChild, prev: null };
    cards.set(r.name, c);
    return c;
  }
  function fmtBytes(n) {
    if (typeof n !== 'number') return '-';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
  }
  function setField(dd, text, raw) {
    dd.textContent = text;
    if (raw === undefined || raw === null) dd.removeAttribute('data-value');
    else dd.setAttribute('data-value', String(raw));
  }
  function markSelected() {
    for (const [name, c] of cards) {
      c.sec.classList.toggle('selected', name === sel.slots || name === sel.journal || name === sel.candles);
    }
  }
  // How many messages or updates a region has had, for its rate.
  function counter(d) {
    if (!d) return null;
    if (d.journal && typeof d.journal.next === 'number') return d.journal.next;
    if (d.slots && typeof d.slots.writes === 'number') return d.slots.writes;
    if (d.candles && typeof d.candles.writes === 'number') return d.candles.writes;
    return null;
  }
  function renderRegion(r, d, t) {
    const c = card(r);
    const s = c.sec;
    s.setAttribute('data-kind', r.kind || '');
    c.kindEl.textContent = r.kind || '';
    const pid = d && typeof d.writer_pid === 'number' ? d.writer_pid : r.writer_pid;
    const alive = d && typeof d.writer_alive === 'boolean' ? d.writer_alive : r.writer_alive;
    let state = 'none';
    let text = 'no writer';
    if (pid) {
      state = alive ? 'true' : 'false';
      text = 'pid ' + pid + (alive ? ' alive' : ' dead');
    } else if (alive) {
      state = 'true';
      text = 'alive';
    }
    s.setAttribute('data-alive', state);
    setField(c.f.writer, text, pid || null);
    const n = counter(d);
    let rate = null;
    if (n !== null && c.prev && c.prev.n !== null && t > c.prev.t && n >= c.prev.n) {
      rate = (n - c.prev.n) / ((t - c.prev.t) / 1000);
    }
    if (n !== null) c.prev = { t, n };
    if (rate !== null) setField(c.f.rate, fmtRate(rate), rate.toFixed(1));
    else if (n === null) setField(c.f.rate, '-', null);
    const j = d && d.journal;
    if (j && typeof j.next === 'number') {
      setField(c.f.newest, j.next > 0 && j.next > j.oldest ? String(j.next - 1) : '-', j.next > 0 ? j.next - 1 : null);
    } else setField(c.f.newest, '-', null);
    if (j && typeof j.occupancy === 'number') {
      const pct = j.occupancy * 100;
      setField(c.f.occupancy, pct.toFixed(1) + '%', pct.toFixed(2));
      c.fill.style.width = Math.min(100, pct).toFixed(1) + '%';
    } else {
      setField(c.f.occupancy, '-', null);
      c.fill.style.width = '0';
    }
    const readers = d && Array.isArray(d.readers) ? d.readers.filter((x) => x && typeof x.lag === 'number') : [];
    if (readers.length) {
      const worst = readers.reduce((a, b) => (b.lag > a.lag ? b : a));
      setField(c.f.lag, String(worst.lag) + (worst.name ? ' (' + worst.name + ')' : ''), worst.lag);
    } else setField(c.f.lag, '-', null);
    setField(c.f.size, fmtBytes(r.size), r.size);
    return s;
  }
  const MAX_DETAILS = 100;
  // A region's inspect document; for a persisted journal (a directory, which inspect does not
  // read) the journal endpoint's sequences and writer liveness instead.
  async function detail(r) {
    if (r.kind === 'journal (persisted)') {
      try {
        const j = await api(['journal', r.name], { from: 'end', count: 1 });
        return { writer_alive: j.writer_alive, journal: { oldest: j.oldest, next: j.next } };
      } catch (_) {
        return null;
      }
    }
    return api(['regions', r.name]).catch(() => null);
  }
  let polling = false;
  async function pollRegions() {
    if (polling) return;
    polling = true;
    try {
      const list = await api(['regions']);
      // A journal's reader registry (kind `readers`) is shown as the journal's reader lag, not
      // as a card of its own.
      regions = Array.isArray(list)
        ? list.filter((r) => r && typeof r.name === 'string' && r.kind !== 'readers') : [];
      refreshPickers();
      if (sel.candles) refreshSeries();
      const details = await Promise.all(regions.map((r, i) => (i < MAX_DETAILS
        ? detail(r) : Promise.resolve(null))));
      const t = performance.now();
      const seen = new Set();
      const order = [];
      regions.forEach((r, i) => {
        seen.add(r.name);
        order.push(renderRegion(r, details[i], t));
      });
      for (const [name, c] of cards) if (!seen.has(name)) { c.sec.remove(); cards.delete(name); }
      // Keep the DOM in list order, touching it only when the order changed.
      const now = Array.from(regionsEl.children);
      if (now.length !== order.length || now.some((x, i) => x !== order[i])) regionsEl.replaceChildren(...order);
      markSelected();
      $('regions-meta').textContent = regions.length + ' regions';
      if (!regions.length) {
        const e = el('div', 'empty', 'no regions in the served directory');
        regionsEl.replaceChildren(e);
      }
    } catch (e) {
      $('regions-meta').textContent = 'cannot list regions: ' + e.message;
    } finally {
      polling = false;
    }
  }

  // ---------- the page's API for tests and tools ----------
  window.shmbusDashboard = {
    series: null,
    chartBars() {
      if (!candleSeries) return bars.map((b) => Object.assign({}, b));
      const vol = new Map(bars.map((b) => [b.time, b.volume]));
      return candleSeries.data().map((b) => ({
        time: b.time, open: b.open, high: b.high, low: b.low, close: b.close, volume: vol.get(b.time),
      }));
    },
  };

  // ---------- start ----------
  makeChart();
  for (const p of ['slots', 'journal', 'candles', 'series']) onPick(p);
  setInterval(() => latency.render(), 500);
  let lastCount = { t: performance.now(), q: 0, j: 0 };
  setInterval(() => {
    const t = performance.now();
    const dt = (t - lastCount.t) / 1000;
    $('quotes-rate').textContent = fmtRate((quoteUpdates - lastCount.q) / dt) + ' updates';
    $('tape-meta').textContent = fmtRate((journalMsgs - lastCount.j) / dt);
    lastCount = { t, q: quoteUpdates, j: journalMsgs };
  }, 1000);
  pollRegions().then(() => connect());
  setInterval(pollRegions, 1000);
})();
