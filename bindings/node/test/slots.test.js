'use strict'
// Slot tables of TradingData (seed 001's record), keyed by symbol.

const test = require('node:test')
const assert = require('node:assert/strict')

const { shmbus, shmName, cli, child, within } = require('../test-support/helpers.js')

const { SlotWriter, SlotReader } = shmbus

test('write and read TradingData: exact values, BigInt nanosecond timestamps, sequences', (t) => {
  const name = shmName(t)
  const w = SlotWriter.create(name, 64)
  assert.equal(w.capacity, 64)
  const btc = w.slot('BTCUSD')
  const eth = w.put('ETHUSD', { price: 3150.25, volume: 12, timestamp: 1_700_000_000_000_000_123n })
  w.write(btc, { price: 97000.5, volume: 3, timestamp: 1_700_000_000_000_000_456n })

  const r = new SlotReader(name)
  assert.equal(r.length, 2)
  assert.deepEqual(r.keys(), [
    { key: 'BTCUSD', id: btc },
    { key: 'ETHUSD', id: eth },
  ])
  const v = r.read(r.find('BTCUSD'))
  assert.deepEqual(v, { seq: 2, price: 97000.5, volume: 3, timestamp: 1_700_000_000_000_000_456n, valid: true })
  assert.equal(r.get('ETHUSD').timestamp, 1_700_000_000_000_000_123n)

  // Change detection: null until the writer publishes again.
  assert.equal(r.readIfChanged(btc, v.seq), null)
  w.write(btc, { price: 97001, volume: 4, valid: false, timestamp: 5 })
  const v2 = r.readIfChanged(btc, v.seq)
  assert.deepEqual(v2, { seq: 4, price: 97001, volume: 4, timestamp: 5n, valid: false })
  assert.equal(r.sequence(btc), 4)

  // The default timestamp is now.
  const before = BigInt(Date.now()) * 1_000_000n
  w.put('SOLUSD', { price: 1 })
  const sol = r.get('SOLUSD')
  assert.ok(sol.timestamp >= before - 1_000_000_000n && sol.timestamp <= BigInt(Date.now() + 1000) * 1_000_000n)
  assert.equal(sol.volume, 0)
  assert.deepEqual(Object.keys(r.snapshot()).sort(), ['BTCUSD', 'ETHUSD', 'SOLUSD'])
  // A slot registered after the reader learned the ids: found by id too.
  const ada = w.put('ADAUSD', { price: 0.5 })
  assert.equal(r.read(ada).price, 0.5)
})

test('errors: UNKNOWN_KEY, INVALID_KEY, SLOTS_FULL, bad ids, WRITER_BUSY, CLOSED', (t) => {
  const name = shmName(t)
  const w = SlotWriter.create(name, 2)
  const r = new SlotReader(name)
  assert.throws(() => r.find('NOPE'), { code: 'UNKNOWN_KEY', key: 'NOPE' })
  assert.throws(() => r.get('NOPE'), { code: 'UNKNOWN_KEY' })
  assert.throws(() => w.slot('X'.repeat(40)), { code: 'INVALID_KEY' })
  w.slot('A')
  w.slot('B')
  assert.throws(() => w.slot('C'), { code: 'SLOTS_FULL', capacity: 2 })
  assert.throws(() => r.read(7), { code: 'INVALID_ARGUMENT', index: 7 })
  assert.throws(() => w.write(7, { price: 1 }), { code: 'INVALID_ARGUMENT' })
  assert.throws(() => w.put('A', { price: 1, timestamp: -1n }), { code: 'INVALID_ARGUMENT' })
  assert.throws(() => SlotWriter.open(name), { code: 'WRITER_BUSY', pid: process.pid })
  assert.throws(() => SlotWriter.create(name, 2), { code: 'ALREADY_EXISTS' })
  w.close()
  assert.throws(() => w.slot('A'), { code: 'CLOSED' })
  const again = SlotWriter.open(name)
  assert.deepEqual(
    again.keys().map((k) => k.key),
    ['A', 'B'],
  )
  assert.equal(again.read(again.slot('A')), null, 'registered, never written')
  // A journal is not a slot table.
  const j = shmName(t, 'j')
  shmbus.JournalWriter.create(j, { ring: 1 << 16 }).close()
  assert.throws(() => new SlotReader(j), { code: 'KIND_MISMATCH' })
})

test('the Rust CLI reads what Node wrote, and Node reads what the CLI wrote', (t) => {
  const name = shmName(t)
  const w = SlotWriter.create(name, 16)
  w.put('BTCUSD', { price: 97000.5, volume: 3, timestamp: 1_795_317_128_191_092_166n })
  w.close()
  const got = JSON.parse(cli('slot', 'get', name, 'BTCUSD', '--json'))
  assert.equal(got.price, 97000.5)
  assert.equal(got.volume, 3)
  assert.equal(got.valid, true)
  assert.equal(got.seq, 2)

  const other = shmName(t, 'cli')
  cli('create', other, '--kind', 'slots', '--size', '64K')
  cli('slot', 'put', other, 'ETHUSD', '--price', '3150.25', '--volume', '12')
  const r = new SlotReader(other)
  const v = r.get('ETHUSD')
  assert.equal(v.price, 3150.25)
  assert.equal(v.volume, 12)
  assert.equal(v.valid, true)
})

test('a writer process updating fast, a reader here: every read is one consistent update', async (t) => {
  const name = shmName(t)
  // Each update keeps price, volume and timestamp in step (volume = i, price = i * 0.5,
  // timestamp = i): a torn read would mix two updates. The writer runs until told to stop;
  // the reader reads until it has seen 1000 different updates.
  const c = child(`
    const w = shmbus.SlotWriter.create(${JSON.stringify(name)}, 8)
    const id = w.slot('BTCUSD')
    w.write(id, { price: 0, volume: 0, timestamp: 0n })
    let stop = false
    process.stdin.once('data', () => { stop = true })
    console.log('ready')
    let i = 0
    const burst = () => {
      for (let k = 0; k < 100000; k++) { i++; w.write(id, { price: i * 0.5, volume: i, timestamp: BigInt(i) }) }
      if (stop) { console.log(String(i)); w.close(); process.exit(0) }
      setImmediate(burst)
    }
    burst()
  `, { t })
  assert.equal(await c.line(), 'ready')
  const r = new SlotReader(name)
  const id = r.find('BTCUSD')
  let reads = 0
  let changes = 0
  let last = -1
  const deadline = Date.now() + 20_000
  while (changes < 1000 && Date.now() < deadline) {
    const v = r.read(id)
    reads++
    assert.equal(v.price, v.volume * 0.5)
    assert.equal(v.timestamp, BigInt(v.volume))
    assert.ok(v.volume >= last, 'never backwards')
    if (v.volume !== last) changes++
    last = v.volume
  }
  c.send('stop')
  const written = Number(await within(10_000, c.line(), 'writer'))
  assert.equal((await within(10_000, c.exited, 'writer exit')).code, 0)
  assert.equal(changes, 1000, `${changes} changes seen in ${reads} reads of ${written} writes`)
})

test('stable codes: shmbusCode and shmbusCodeNumber, from the core error, not its message', (t) => {
  const name = shmName(t)
  assert.throws(() => new SlotReader(name), {
    code: 'NOT_FOUND',
    shmbusCode: 'not_found',
    shmbusCodeNumber: 101,
  })
  const w = SlotWriter.create(name, 2)
  assert.throws(() => SlotWriter.open(name), {
    code: 'WRITER_BUSY',
    shmbusCode: 'writer_busy',
    shmbusCodeNumber: 119,
  })
  assert.throws(() => new SlotReader(name).get('NOPE'), { shmbusCode: 'unknown_key' })
  // A journal's corrupt frame and a region's corrupt header share `code` CORRUPT; the stable
  // codes differ. An error of the binding itself has none.
  w.close()
  try {
    w.slot('A')
    assert.fail('expected CLOSED')
  } catch (e) {
    assert.equal(e.code, 'CLOSED')
    assert.equal(e.shmbusCode, undefined)
  }
})
