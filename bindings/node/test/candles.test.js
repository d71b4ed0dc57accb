'use strict'
// Seed 000's SharedMemoryWriter and the candle reader.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const { shmbus, shmName, tmpPath, cli, child, FIXTURES } = require('../test-support/helpers.js')

const { SharedMemoryWriter, SharedMemoryReader, CandleReader } = shmbus

const HOUR = 3_600_000
const T0 = 1_704_067_200_000

function bars(n, from = T0, step = HOUR) {
  return Array.from({ length: n }, (_, i) => ({
    timestamp: from + i * step,
    open: 42000 + i,
    high: 42500 + i,
    low: 41800 + i,
    close: 42300 + i,
    volume: 125.5 + i,
  }))
}

test("seed 000's README example: create, writeCandles, getStats, close, isInitialized", (t) => {
  const name = shmName(t, 'qnxs')
  const writer = new SharedMemoryWriter()
  assert.equal(writer.isInitialized(), false)
  writer.create(name, 8 * 1024 * 1024)
  assert.equal(writer.isInitialized(), true)

  const before = Date.now() * 1000
  writer.writeCandles('BTCUSDT', '1h', bars(100))
  writer.writeCandles('ETHUSDT', '1h', bars(20))
  const stats = writer.getStats()
  assert.deepEqual(Object.keys(stats).sort(), ['lastWriteUs', 'memoryUsed', 'totalCandles', 'totalSymbols', 'writeCount'])
  assert.equal(stats.totalSymbols, 2)
  assert.equal(stats.totalCandles, 120)
  assert.equal(stats.writeCount, 2)
  // Header 256 + index to 16640, then two blocks of 56-byte headers and 48-byte candles.
  assert.ok(stats.memoryUsed >= 16640 + 2 * 56 + 120 * 48, `memoryUsed ${stats.memoryUsed}`)
  assert.ok(stats.lastWriteUs >= before - 1_000_000 && stats.lastWriteUs <= Date.now() * 1000 + 1_000_000)

  writer.close()
  assert.equal(writer.isInitialized(), false)
  writer.close() // twice is fine

  // The data stays for readers after close.
  const r = new SharedMemoryReader(name)
  assert.equal(r.readSeries('BTCUSDT', '1h').length, 100)
  assert.deepEqual(r.readSeries('ETHUSDT', '1h')[19], bars(20)[19])
  r.close()
})

test('create() defaults to 128 MiB', (t) => {
  const file = tmpPath(t, 'default.qnxs')
  const w = new SharedMemoryWriter()
  w.create(file)
  assert.equal(SharedMemoryWriter.DEFAULT_SIZE, 128 * 1024 * 1024)
  assert.equal(fs.statSync(file).size, 128 * 1024 * 1024)
  w.close()
})

test('candles round-trip exactly, as objects, tuples and the bulk Float64Array', (t) => {
  const name = shmName(t)
  const w = new SharedMemoryWriter()
  w.create(name, 4 << 20)
  const objs = bars(1000)
  w.writeCandles('BTCUSDT', '1m', objs)
  const tuples = objs.map((c) => [c.timestamp, c.open, c.high, c.low, c.close, c.volume])
  w.writeCandles('BTCUSDT', '5m', tuples)
  w.writeCandles('BTCUSDT', '15m', shmbus.toCandleArray(objs))

  const r = new CandleReader(name)
  for (const iv of ['1m', '5m', '15m']) assert.deepEqual(r.readSeries('BTCUSDT', iv), objs)
  const bulk = r.readSeriesArray('BTCUSDT', '1m')
  assert.ok(bulk instanceof Float64Array)
  assert.equal(bulk.length, 6000)
  assert.equal(bulk[6 * 999], objs[999].timestamp)
  assert.deepEqual(r.latest('BTCUSDT', '1m'), objs[999])
  assert.throws(() => r.latest('NOPE', '1m'), { code: 'SYMBOL_NOT_FOUND', qnxsCode: 6 })
})

test('series are keyed by symbol and interval; list, latest and range', (t) => {
  const name = shmName(t)
  const w = new SharedMemoryWriter()
  w.create(name, 4 << 20)
  w.writeCandles('BTCUSDT', '1h', bars(48))
  w.writeCandles('BTCUSDT', '1d', bars(2, T0, 24 * HOUR))
  const r = new CandleReader(name)
  const list = r.listSeries().map((s) => `${s.symbol} ${s.interval} ${s.count} ${s.startTs} ${s.endTs}`)
  assert.deepEqual(list.sort(), [
    `BTCUSDT 1d 2 ${T0} ${T0 + 24 * HOUR}`,
    `BTCUSDT 1h 48 ${T0} ${T0 + 47 * HOUR}`,
  ])
  const day = r.range('BTCUSDT', '1h', T0 + 10 * HOUR, T0 + 20 * HOUR)
  assert.deepEqual(day.map((c) => c.timestamp), Array.from({ length: 10 }, (_, i) => T0 + (10 + i) * HOUR))
  assert.deepEqual(r.latest('BTCUSDT', '1d'), bars(2, T0, 24 * HOUR)[1])
  assert.throws(() => r.latest('BTCUSDT', '4h'), { code: 'SYMBOL_NOT_FOUND', qnxsCode: 6, symbol: 'BTCUSDT', interval: '4h' })
  const stats = r.getStats()
  assert.equal(stats.totalSymbols, 2)
  assert.equal(stats.totalCandles, 50)
  assert.equal(r.isForeign(), false)
})

test('the live bar: the same timestamp replaces the last candle; older data is OUT_OF_ORDER, nothing written', (t) => {
  const name = shmName(t)
  const w = new SharedMemoryWriter()
  w.create(name, 1 << 20)
  const b = bars(10)
  w.writeCandles('BTCUSDT', '1h', b)
  w.writeCandles('BTCUSDT', '1h', [{ ...b[9], close: 1, low: 1 }])
  const r = new CandleReader(name)
  assert.equal(r.readSeries('BTCUSDT', '1h').length, 10)
  assert.equal(r.latest('BTCUSDT', '1h').close, 1)

  assert.throws(() => w.writeCandles('BTCUSDT', '1h', [b[3], { ...b[9], timestamp: b[9].timestamp + HOUR }]), (e) => {
    assert.equal(e.name, 'ShmbusError')
    assert.equal(e.code, 'OUT_OF_ORDER')
    assert.equal(e.qnxsCode, 5)
    assert.equal(e.qnxsName, 'WRITE_FAILED')
    assert.equal(e.index, 0)
    assert.equal(e.timestamp, b[3].timestamp)
    assert.equal(e.last, b[9].timestamp)
    assert.match(e.message, /^QNXS error 5 WRITE_FAILED: /)
    return true
  })
  assert.equal(r.readSeries('BTCUSDT', '1h').length, 10, 'all or nothing')

  // replaceCandles rewrites history from the batch's first timestamp.
  const rep = w.replaceCandles('BTCUSDT', '1h', [b[3]])
  assert.deepEqual(rep, { written: 1, replaced: 7, count: 4 })
  assert.equal(r.readSeries('BTCUSDT', '1h').length, 4)
})

test('invalid candles are QNXS error 5 with the index; nothing is written', (t) => {
  const name = shmName(t)
  const w = new SharedMemoryWriter()
  w.create(name, 1 << 20)
  const b = bars(5)
  b[2] = { ...b[2], high: 1, low: 2 }
  assert.throws(() => w.writeCandles('X', '1h', b), { code: 'INVALID_CANDLE', qnxsCode: 5, index: 2 })
  assert.throws(() => w.writeCandles('X', '1h', [{ ...b[0], timestamp: 1.5 }]), { code: 'INVALID_CANDLE', qnxsCode: 5, index: 0 })
  assert.throws(() => w.writeCandles('X', '1h', [{ open: 1 }]), { code: 'INVALID_CANDLE', qnxsCode: 5 })
  assert.throws(() => w.writeCandles('X', '1h', 'nope'), { code: 'INVALID_ARGUMENT' })
  assert.throws(() => w.writeCandlesArray('X', '1h', new Float64Array(7)), { code: 'INVALID_ARGUMENT' })
  assert.throws(() => w.writeCandles('A_SYMBOL_TOO_LONG', '1h', bars(1)), { code: 'INVALID_NAME', qnxsCode: 1 })
  assert.equal(w.getStats().totalCandles, 0)
})

test('NOT_INITIALIZED (9) before create; ALREADY_EXISTS (3) on an existing region, which open() continues', (t) => {
  const name = shmName(t)
  const w = new SharedMemoryWriter()
  assert.throws(() => w.writeCandles('X', '1h', bars(1)), { code: 'NOT_INITIALIZED', qnxsCode: 9 })
  assert.throws(() => w.getStats(), { code: 'NOT_INITIALIZED', qnxsCode: 9 })
  w.create(name, 1 << 20)
  w.writeCandles('X', '1h', bars(3))
  assert.throws(() => w.create(name, 1 << 20), { code: 'INVALID_ARGUMENT' })

  // A second writer while the first is alive: the writer lock.
  const other = new SharedMemoryWriter()
  assert.throws(() => other.create(name, 1 << 20), { code: 'ALREADY_EXISTS', qnxsCode: 3 })
  assert.throws(() => other.open(name), (e) => e.code === 'WRITER_BUSY' && e.pid === process.pid)
  w.close()
  other.open(name)
  other.writeCandles('X', '1h', bars(2, T0 + 3 * HOUR))
  assert.equal(other.getStats().totalCandles, 5)
  assert.equal(other.getStats().writeCount, 2)
  other.close()
})

test('SYMBOL_LIMIT_EXCEEDED (7) past 256 series', (t) => {
  const name = shmName(t)
  const w = new SharedMemoryWriter()
  w.create(name, 4 << 20)
  for (let i = 0; i < 256; i++) w.writeCandles(`S${i}`, '1h', bars(1))
  assert.throws(() => w.writeCandles('S256', '1h', bars(1)), { code: 'SYMBOL_LIMIT_EXCEEDED', qnxsCode: 7, max: 256 })
  assert.equal(w.getStats().totalSymbols, 256)
})

test('a full region is REGION_FULL (QNXS 5) with the size it needs', (t) => {
  const name = shmName(t)
  const w = new SharedMemoryWriter()
  w.create(name, 64 * 1024)
  assert.throws(() => w.writeCandles('X', '1h', bars(5000)), (e) => {
    assert.equal(e.code, 'REGION_FULL')
    assert.equal(e.qnxsCode, 5)
    assert.ok(e.suggested > 64 * 1024)
    return true
  })
})

test('closed readers throw CLOSED; open errors carry their code', (t) => {
  const name = shmName(t)
  assert.throws(() => new CandleReader(name), { code: 'NOT_FOUND' })
  const w = new SharedMemoryWriter()
  w.create(name, 1 << 20)
  const r = new CandleReader(name)
  r.close()
  assert.throws(() => r.listSeries(), { code: 'CLOSED' })
  // A journal is not a candle region.
  const j = shmName(t, 'j')
  shmbus.JournalWriter.create(j, { ring: 1 << 16 }).close()
  assert.throws(() => new CandleReader(j), { code: 'KIND_MISMATCH', qnxsCode: 9 })
})

test('reads a region written by the Rust CLI (real GOOG bars), value for value', (t) => {
  const name = shmName(t, 'goog')
  cli('create', name, '--kind', 'candles', '--size', '8M')
  cli('candles', 'import', name, path.join(FIXTURES, 'GOOG.csv'), '--symbol', 'GOOG', '--interval', '1d')
  const want = JSON.parse(cli('candles', 'show', name, 'GOOG', '1d', '--json'))
  const r = new CandleReader(name)
  const got = r.readSeries('GOOG', '1d')
  assert.equal(got.length, 300)
  assert.equal(want.length, 300)
  for (let i = 0; i < 300; i++) {
    for (const f of ['timestamp', 'open', 'high', 'low', 'close', 'volume']) assert.equal(got[i][f], want[i][f], `${i} ${f}`)
  }
  assert.deepEqual(JSON.parse(cli('candles', 'stats', name, '--json')), { ...r.getStats() })
})

test('a writer in another process, a reader here: every candle, and the CLI agrees', async (t) => {
  const name = shmName(t, 'xproc')
  const c = child(`
    const w = new shmbus.SharedMemoryWriter()
    w.create(${JSON.stringify(name)}, 4 << 20)
    const bars = []
    for (let i = 0; i < 5000; i++) bars.push({ timestamp: ${T0} + i * 60000, open: i + 1, high: i + 3, low: i, close: i + 2, volume: i * 0.5 })
    for (let k = 0; k < 5; k++) w.writeCandles('ETHUSDT', '1m', bars.slice(k * 1000, (k + 1) * 1000))
    console.log('written')
    process.stdin.once('data', () => { w.close(); process.exit(0) })
  `, { t })
  assert.equal(await c.line(), 'written')
  const r = new CandleReader(name)
  const got = r.readSeries('ETHUSDT', '1m')
  assert.equal(got.length, 5000)
  for (let i = 0; i < 5000; i++) {
    assert.deepEqual(got[i], { timestamp: T0 + i * 60000, open: i + 1, high: i + 3, low: i, close: i + 2, volume: i * 0.5 })
  }
  // The live writer holds the lock: another writer is refused with its pid.
  const w = new SharedMemoryWriter()
  assert.throws(() => w.open(name), { code: 'WRITER_BUSY', pid: c.process.pid })
  const last = JSON.parse(cli('candles', 'show', name, 'ETHUSDT', '1m', '--json', '--last', '1'))
  assert.equal(last[0].timestamp, T0 + 4999 * 60000)
  c.send('done')
  assert.equal((await c.exited).code, 0)
  w.open(name) // the lock went with the process
  w.close()
})
