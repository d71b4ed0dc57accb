'use strict'
// A region truncated under a Node.js reader (by another process, or another user) is an Error
// with code TRUNCATED_WHILE_MAPPED, never a SIGBUS that kills the process (issue 10, item 1).
// The truncation runs as uid 65534 when the tests run as root (the region's group is set to
// 65534), else as this user: the kernel raises the same SIGBUS either way.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { execFileSync } = require('node:child_process')

const { shmbus, shmName, within } = require('../test-support/helpers.js')

const { SlotWriter, SlotReader, JournalWriter, JournalReader, JournalWatcher, SharedMemoryWriter, CandleReader } = shmbus

const NOBODY = 65534

function truncate(name) {
  const path = `/dev/shm${name}`
  if (process.geteuid() === 0) {
    fs.chownSync(path, 0, NOBODY)
    fs.chmodSync(path, 0o660)
    execFileSync('truncate', ['-s', '0', path], { uid: NOBODY, gid: NOBODY })
  } else {
    fs.truncateSync(path, 0)
  }
  assert.equal(fs.statSync(path).size, 0)
}

function truncated(name) {
  return (e) => {
    assert.equal(e.code, 'TRUNCATED_WHILE_MAPPED', e.message)
    assert.equal(e.path, `/dev/shm${name}`)
    assert.match(e.message, /truncated by another process/)
    return true
  }
}

test('a truncated slot table: the reader and the writer get TRUNCATED_WHILE_MAPPED', (t) => {
  const name = shmName(t, 'sigbus-slots')
  const w = SlotWriter.create(name, 8)
  w.put('BTCUSD', { price: 1 })
  const r = new SlotReader(name)
  assert.equal(r.get('BTCUSD').price, 1)
  truncate(name)
  assert.throws(() => r.get('BTCUSD'), truncated(name))
  assert.throws(() => w.put('BTCUSD', { price: 2 }), truncated(name))
  w.close()
})

test('a truncated journal: a reader, a waiting watcher and the writer get TRUNCATED_WHILE_MAPPED', async (t) => {
  const name = shmName(t, 'sigbus-journal')
  const w = JournalWriter.create(name, { ring: 1 << 20 })
  w.append(1, Buffer.from('first'))
  w.commit()
  const r = new JournalReader(name, 'beginning')
  assert.equal(r.next().seq, 0)
  const watcher = new JournalWatcher(name, 'end')
  // The watcher's thread is asleep on the journal's futex when the file goes.
  const pending = watcher.pull(16, 1 << 16, 5000)
  await new Promise((resolve) => setTimeout(resolve, 100))
  truncate(name)
  assert.throws(() => r.next(), truncated(name))
  await within(5000, assert.rejects(pending, truncated(name)), 'the watcher')
  assert.throws(() => w.append(1, Buffer.from('second')), truncated(name))
  watcher.close()
  w.close()
})

test('a truncated candle region: the reader gets TRUNCATED_WHILE_MAPPED', (t) => {
  const name = shmName(t, 'sigbus-candles')
  const w = new SharedMemoryWriter()
  w.create(name, 1 << 20)
  w.writeCandles('BTCUSD', '1m', [{ timestamp: 60000, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10 }])
  const r = new CandleReader(name)
  assert.ok(r.latest('BTCUSD', '1m'))
  truncate(name)
  assert.throws(() => r.latest('BTCUSD', '1m'), truncated(name))
  w.close()
})
