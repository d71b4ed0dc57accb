#!/usr/bin/env node
'use strict'
// The Node.js side of the interop matrix: writes or reads the values of tests/interop/SPEC.md.
//
//   node bindings/node/interop.js write slots /shmbus-interop-node-slots
//   node bindings/node/interop.js read  slots /shmbus-interop-node-slots
//
// read: prints `ok node read KIND COUNT` and exits 0; a value that differs is printed on stderr
// and exits 1; an error opening (or any other error) exits 2.

const shmbus = require('./index.js')

const SLOT_KEYS = 8
const MESSAGES = 1000
const RING = 1 << 20
const CANDLE_REGION = 8 << 20
const T0 = 1_700_000_000_000

class Mismatch extends Error {}

function check(kind, at, field, want, got) {
  if (!Object.is(want, got) && want !== got) {
    throw new Mismatch(`${kind} ${at}: field ${field}: expected ${String(want)}, found ${String(got)}`)
  }
}

function slotValue(k) {
  return {
    price: 100.25 + 1.5 * k,
    timestamp: 1_700_000_000_000_000_000n + BigInt(k),
    volume: 1000 + 7 * k,
    valid: true,
  }
}

function msgType(i) {
  return 1 + (i % 5)
}

function msgPayload(i) {
  const len = (7 * i) % 300
  const p = Buffer.alloc(len)
  for (let j = 0; j < len; j++) p[j] = (31 * i + 7 * j) % 256
  return p
}

/** The three series: [symbol, interval, candles]. */
function series() {
  const make = (n, step, f) => Array.from({ length: n }, (_, i) => ({ timestamp: T0 + step * i, ...f(i) }))
  const m1 = make(500, 60_000, (i) => {
    const open = 100 + 0.5 * i
    return { open, high: open + 2, low: open - 1.25, close: open + 0.75, volume: 10 * i + 0.5 }
  })
  const h1 = make(50, 3_600_000, (i) => {
    const open = 200 + i
    return { open, high: open + 3, low: open - 2, close: open + 1, volume: i + 1 }
  })
  const d1 = make(30, 86_400_000, (i) => {
    const open = 150 + 0.25 * i
    return { open, high: open + 1, low: open - 1, close: open + 0.5, volume: 1_000_000 + i }
  })
  return [
    ['BTCUSDT', '1m', m1],
    ['BTCUSDT', '1h', h1],
    ['GOOG', '1d', d1],
  ]
}

function write(kind, name) {
  switch (kind) {
    case 'slots': {
      const w = shmbus.SlotWriter.create(name, 16)
      for (let k = 0; k < SLOT_KEYS; k++) {
        const key = `SYM${k}`
        w.put(key, { price: 0, volume: 0, timestamp: 0n })
        w.put(key, slotValue(k))
      }
      w.close()
      return
    }
    case 'journal': {
      const w = shmbus.JournalWriter.create(name, { ring: RING })
      for (let i = 0; i < MESSAGES; i++) {
        w.append(msgType(i), msgPayload(i))
        if (i % 10 === 9) w.commit()
      }
      w.close()
      return
    }
    case 'candles': {
      const w = new shmbus.SharedMemoryWriter()
      w.create(name, CANDLE_REGION)
      for (const [symbol, interval, candles] of series()) {
        const calls = interval === '1m' ? 5 : 1
        const per = candles.length / calls
        for (let c = 0; c < calls; c++) w.writeCandles(symbol, interval, candles.slice(c * per, (c + 1) * per))
      }
      w.close()
      return
    }
    default:
      throw new Error(`unknown kind ${JSON.stringify(kind)} (slots, journal or candles)`)
  }
}

function read(kind, name) {
  switch (kind) {
    case 'slots': {
      const r = new shmbus.SlotReader(name)
      check('slots', 'table', 'keys', SLOT_KEYS, r.length)
      for (let k = 0; k < SLOT_KEYS; k++) {
        const key = `SYM${k}`
        const v = r.get(key)
        if (v === null) throw new Mismatch(`slots ${key}: never written`)
        const want = slotValue(k)
        check('slots', key, 'price', want.price, v.price)
        check('slots', key, 'timestamp', want.timestamp, v.timestamp)
        check('slots', key, 'volume', want.volume, v.volume)
        check('slots', key, 'valid', want.valid, v.valid)
      }
      r.close()
      return SLOT_KEYS
    }
    case 'journal': {
      const r = new shmbus.JournalReader(name, 'beginning')
      for (let i = 0; i < MESSAGES; i++) {
        const m = r.next()
        if (m === null) throw new Mismatch(`journal: only ${i} messages, expected ${MESSAGES}`)
        check('journal', i, 'seq', i, m.seq)
        check('journal', i, 'type', msgType(i), m.type)
        const want = msgPayload(i)
        check('journal', i, 'length', want.length, m.payload.length)
        for (let j = 0; j < want.length; j++) {
          if (want[j] !== m.payload[j]) check('journal', i, `payload byte ${j}`, want[j], m.payload[j])
        }
      }
      const extra = r.next()
      if (extra !== null) throw new Mismatch(`journal: an extra message, sequence ${extra.seq}`)
      r.close()
      return MESSAGES
    }
    case 'candles': {
      const r = new shmbus.CandleReader(name)
      check('candles', 'region', 'series', 3, r.listSeries().length)
      let count = 0
      for (const [symbol, interval, want] of series()) {
        const got = r.readSeries(symbol, interval)
        check('candles', `${symbol} ${interval}`, 'count', want.length, got.length)
        for (let i = 0; i < want.length; i++) {
          const at = `${symbol} ${interval} #${i}`
          for (const f of ['timestamp', 'open', 'high', 'low', 'close', 'volume']) {
            check('candles', at, f, want[i][f], got[i][f])
          }
        }
        count += got.length
      }
      r.close()
      return count
    }
    default:
      throw new Error(`unknown kind ${JSON.stringify(kind)} (slots, journal or candles)`)
  }
}

function main() {
  const [verb, kind, name, ...rest] = process.argv.slice(2)
  if (!verb || !kind || !name || rest.length || (verb !== 'write' && verb !== 'read')) {
    console.error('usage: interop.js write|read slots|journal|candles NAME')
    return 2
  }
  if (verb === 'write') {
    try {
      write(kind, name)
      return 0
    } catch (e) {
      console.error(`interop node write ${kind} ${name}: ${e.message}`)
      return 2
    }
  }
  try {
    const n = read(kind, name)
    console.log(`ok node read ${kind} ${n}`)
    return 0
  } catch (e) {
    if (e instanceof Mismatch) {
      console.error(`interop node read ${name}: ${e.message}`)
      return 1
    }
    console.error(`interop node read ${kind} ${name}: ${e.message}`)
    return 2
  }
}

process.exitCode = main()
