#!/usr/bin/env node
'use strict'
// Benchmarks of the Node.js binding: journal writes (batched, as shmio users write), reads,
// candles, and the wake-up latency of a waiting consumer. Prints the median of several runs.
//
//   node bindings/node/bench.js            # 5 runs each
//   node bindings/node/bench.js --runs 9
//   node bindings/node/bench.js --quick    # 1 short run each (a smoke test)

const { spawn } = require('node:child_process')
const path = require('node:path')

const { Bendec } = require('bendec')
const shmbus = require('./index.js')

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const runsAt = args.indexOf('--runs')
const RUNS = quick ? 1 : runsAt >= 0 ? Number(args[runsAt + 1]) : 5
const N = quick ? 100_000 : 2_000_000
const BATCH = 1000
const PAYLOAD = 64

const bendec = new Bendec({
  types: [
    { name: 'u8', size: 1 },
    { name: 'u32', size: 4 },
    { name: 'u64', size: 8 },
    { name: 'f64', size: 8 },
    {
      name: 'Tick',
      fields: [
        { name: 'price', type: 'f64' },
        { name: 'volume', type: 'f64' },
        { name: 'id', type: 'u32' },
        { name: 'side', type: 'u8' },
      ],
    },
  ],
})

let seq = 0
function region() {
  const name = `/shmbus-node-bench-${process.pid}-${seq++}`
  return name
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

function fmtRate(r) {
  return r >= 1e6 ? `${(r / 1e6).toFixed(2)}M` : `${(r / 1e3).toFixed(0)}k`
}

/** Runs `once` (which returns [count, seconds]) RUNS times; prints the median rate. */
function bench(label, once) {
  const rates = []
  for (let i = 0; i < RUNS; i++) {
    const [count, secs] = once()
    rates.push(count / secs)
  }
  const m = median(rates)
  const lo = Math.min(...rates)
  const hi = Math.max(...rates)
  console.log(
    `${label.padEnd(58)} ${fmtRate(m).padStart(7)} msg/s  (${(1e9 / m).toFixed(0)} ns/msg; runs ${fmtRate(lo)}..${fmtRate(hi)})`,
  )
  return m
}

function now() {
  return process.hrtime.bigint()
}

function secondsSince(t0) {
  return Number(now() - t0) / 1e9
}

/** A writable SharedMemory (64 MiB ring) for one run, removed afterwards. */
function withShm(fn) {
  const name = region()
  const shm = new shmbus.SharedMemory({ path: name, size: 16 << 20, num: 4, writable: true })
  try {
    return fn(shm, name)
  } finally {
    shm.close()
    shmbus.removeRegion(name, true)
  }
}

function poolSliceSize() {
  return withShm((shm) => {
    const pool = new shmbus.Pool(null, shm)
    const t0 = now()
    for (let i = 0; i < N; i++) {
      const b = pool.sliceSize(PAYLOAD)
      b.writeUInt32LE(i, 0)
      b.writeDoubleLE(i * 0.5, 8)
      if (i % BATCH === BATCH - 1) pool.commit()
    }
    pool.commit()
    return [N, secondsSince(t0)]
  })
}

function poolWrap() {
  return withShm((shm) => {
    const pool = new shmbus.Pool(bendec, shm)
    const t0 = now()
    for (let i = 0; i < N; i++) {
      const tick = pool.wrap('Tick')
      tick.price = i * 0.5
      tick.volume = 1.5
      tick.id = i
      tick.side = i & 1
      if (i % BATCH === BATCH - 1) pool.commit()
    }
    pool.commit()
    return [N, secondsSince(t0)]
  })
}

function poolCommitEach() {
  const n = Math.min(N, 500_000)
  return withShm((shm) => {
    const pool = new shmbus.Pool(null, shm)
    const t0 = now()
    for (let i = 0; i < n; i++) {
      pool.sliceSize(PAYLOAD).writeUInt32LE(i, 0)
      pool.commit()
    }
    return [n, secondsSince(t0)]
  })
}

function appendBatch() {
  return withShm((shm, name) => {
    const w = shm._writer
    const data = Buffer.alloc(BATCH * PAYLOAD)
    const offsets = new Uint32Array(BATCH).map((_, i) => i * PAYLOAD)
    const lengths = new Uint32Array(BATCH).fill(PAYLOAD)
    void name
    const t0 = now()
    for (let i = 0; i < N; i += BATCH) {
      data.writeUInt32LE(i, 0)
      w.appendBatch(data, offsets, lengths, 1)
      w.commit()
    }
    return [N, secondsSince(t0)]
  })
}

function appendEach() {
  const n = Math.min(N, 1_000_000)
  return withShm((shm) => {
    const w = shm._writer
    const buf = Buffer.alloc(PAYLOAD)
    const t0 = now()
    for (let i = 0; i < n; i++) {
      buf.writeUInt32LE(i, 0)
      w.append(1, buf)
      if (i % BATCH === BATCH - 1) w.commit()
    }
    w.commit()
    return [n, secondsSince(t0)]
  })
}

/** Fills a journal with `n` messages for the read benchmarks. */
function filled(n, fn) {
  return withShm((shm, name) => {
    const pool = new shmbus.Pool(null, shm)
    for (let i = 0; i < n; i++) {
      pool.sliceSize(PAYLOAD).writeUInt32LE(i, 0)
      if (i % BATCH === BATCH - 1) pool.commit()
    }
    pool.commit()
    return fn(name)
  })
}

function readBatched() {
  const n = Math.min(N, 500_000)
  return filled(n, (name) => {
    const r = new shmbus.JournalReader(name, 'beginning')
    let count = 0
    let sum = 0
    const t0 = now()
    for (;;) {
      const batch = r.readMessages(4096)
      if (batch.length === 0) break
      for (const m of batch) sum += m.payload[0]
      count += batch.length
    }
    const secs = secondsSince(t0)
    r.close()
    if (count !== n) throw new Error(`read ${count} of ${n}`)
    return [count + (sum & 0), secs]
  })
}

function readIterator() {
  const n = Math.min(N, 500_000)
  return filled(n, (name) => {
    let count = 0
    const t0 = now()
    for (const buf of new shmbus.SharedMemoryConsumer(name).getData()) count += buf.length > 0 ? 1 : 0
    const secs = secondsSince(t0)
    if (count !== n) throw new Error(`read ${count} of ${n}`)
    return [count, secs]
  })
}

function readNext() {
  const n = Math.min(N, 300_000)
  return filled(n, (name) => {
    const r = new shmbus.JournalReader(name, 'beginning')
    let count = 0
    const t0 = now()
    while (r.next() !== null) count++
    const secs = secondsSince(t0)
    r.close()
    return [count, secs]
  })
}

function candles() {
  const n = 100_000
  const bars = Array.from({ length: n }, (_, i) => ({
    timestamp: 1_704_067_200_000 + i * 60_000,
    open: 100 + i,
    high: 102 + i,
    low: 99 + i,
    close: 101 + i,
    volume: 10,
  }))
  const name = region()
  const w = new shmbus.SharedMemoryWriter()
  w.create(name, 16 << 20)
  const writes = []
  const reads = []
  for (let run = 0; run < RUNS; run++) {
    let t0 = now()
    w.replaceCandles('BTCUSDT', '1m', bars)
    writes.push(secondsSince(t0))
    const r = new shmbus.CandleReader(name)
    t0 = now()
    const got = r.readSeries('BTCUSDT', '1m')
    reads.push(secondsSince(t0))
    if (got.length !== n) throw new Error('candles')
    r.close()
  }
  w.close()
  shmbus.removeRegion(name, true)
  console.log(`${'candles: writeCandles, 100k candle objects'.padEnd(58)} ${(median(writes) * 1e3).toFixed(2).padStart(7)} ms     (${fmtRate(n / median(writes))} candles/s)`)
  console.log(`${'candles: readSeries, 100k candles to objects'.padEnd(58)} ${(median(reads) * 1e3).toFixed(2).padStart(7)} ms     (${fmtRate(n / median(reads))} candles/s)`)
}

/** Another process commits one message every 2 ms with its send time; we wait with for await. */
async function wakeLatency() {
  const count = quick ? 200 : 1000
  const name = region()
  shmbus.JournalWriter.create(name, { ring: 1 << 20 }).close()
  const stream = shmbus.subscribe(name)
  const script = `
    const shmbus = require(${JSON.stringify(__dirname)})
    const w = shmbus.JournalWriter.open(${JSON.stringify(name)})
    const b = Buffer.alloc(16)
    let i = 0
    const tick = () => {
      b.writeBigUInt64LE(process.hrtime.bigint(), 0)
      w.append(1, b); w.commit()
      if (++i < ${count}) setTimeout(tick, 2); else w.close()
    }
    setTimeout(tick, 50)
  `
  const c = spawn(process.execPath, ['-e', script], { stdio: 'inherit' })
  const lat = []
  for await (const m of stream) {
    // hrtime is CLOCK_MONOTONIC, shared by the two processes.
    lat.push(Number(process.hrtime.bigint() - m.payload.readBigUInt64LE(0)) / 1000)
    if (lat.length === count) break
  }
  await new Promise((resolve) => c.on('exit', resolve))
  shmbus.removeRegion(name, true)
  lat.sort((a, b) => a - b)
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]
  console.log(
    `${'wake-up: commit in another process -> for await (µs)'.padEnd(58)} p50 ${q(0.5).toFixed(1)}  p99 ${q(0.99).toFixed(1)}  max ${lat[lat.length - 1].toFixed(1)}`,
  )
}

async function main() {
  console.log(
    `shmbus node bench: ${RUNS} run(s) each, median; ${PAYLOAD}-byte messages, commit per ${BATCH} unless said; node ${process.version}`,
  )
  bench('journal write: Pool.sliceSize + fill, commit/1000 (shmio)', poolSliceSize)
  bench('journal write: Pool.wrap (bendec Tick), commit/1000 (shmio)', poolWrap)
  bench('journal write: JournalWriter.appendBatch of 1000, commit', appendBatch)
  bench('journal write: JournalWriter.append, commit/1000', appendEach)
  bench('journal write: Pool.sliceSize, commit every message', poolCommitEach)
  bench('journal read: JournalReader.readMessages (batches of 4096)', readBatched)
  bench('journal read: SharedMemoryConsumer.getData() iterator', readIterator)
  bench('journal read: JournalReader.next() (one call per message)', readNext)
  candles()
  await wakeLatency()
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})

void path
