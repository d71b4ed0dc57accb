'use strict'
// The journal: writer, non-blocking reader, the watcher thread and async iteration.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')

const { shmbus, shmName, tmpPath, cli, child, sleep, within } = require('../test-support/helpers.js')

const { JournalWriter, JournalReader, JournalWatcher, subscribe } = shmbus

function payload(i, len = (i * 13) % 200) {
  const p = Buffer.alloc(len)
  for (let j = 0; j < len; j++) p[j] = (i * 31 + j * 7) & 0xff
  return p
}

test('appended messages are invisible until commit, then all visible at once', (t) => {
  const name = shmName(t)
  const w = JournalWriter.create(name, { ring: 1 << 20 })
  const r = new JournalReader(name, 'beginning')
  assert.equal(w.append(7, Buffer.from('a')), 0)
  assert.equal(w.append(8, new Uint8Array([1, 2, 3])), 1)
  assert.equal(w.pendingBytes > 0, true)
  assert.equal(r.next(), null)
  assert.equal(r.hasNext(), false)
  w.commit()
  assert.equal(w.pendingBytes, 0)
  assert.equal(r.hasNext(), true)
  const a = r.next()
  assert.deepEqual({ seq: a.seq, type: a.type, payload: [...a.payload] }, { seq: 0, type: 7, payload: [0x61] })
  const b = r.next()
  assert.deepEqual({ seq: b.seq, type: b.type, payload: [...b.payload] }, { seq: 1, type: 8, payload: [1, 2, 3] })
  assert.equal(r.next(), null)
  assert.equal(r.nextSeq, 2)
  // Backwards, and seek.
  assert.equal(r.prev().seq, 1)
  assert.equal(r.next().seq, 1)
  r.seek(0)
  assert.equal(r.next().type, 7)
  assert.throws(() => r.seek(5), { code: 'NOT_YET', seq: 5, next: 2 })
  const info = r.info()
  assert.equal(info.mode, 'ring')
  assert.equal(info.nextSeq, 2)
  assert.equal(info.writerAlive, true)
  assert.equal(w.info().nextSeq, 2)
})

test('appendBatch: many messages in one call, with offsets, lengths and types', (t) => {
  const name = shmName(t)
  const w = JournalWriter.create(name, { ring: 1 << 20 })
  const msgs = Array.from({ length: 500 }, (_, i) => payload(i))
  const data = Buffer.concat(msgs)
  const offsets = new Uint32Array(msgs.length)
  const lengths = new Uint32Array(msgs.length)
  const types = new Uint16Array(msgs.length)
  let off = 0
  msgs.forEach((m, i) => {
    offsets[i] = off
    lengths[i] = m.length
    types[i] = i % 7
    off += m.length
  })
  assert.equal(w.appendBatch(data, offsets, lengths, types), 0)
  assert.equal(w.appendBatch(data, offsets.subarray(0, 2), lengths.subarray(0, 2), 42), 500)
  w.commit()
  const r = new JournalReader(name)
  const got = r.readMessages(10_000)
  assert.equal(got.length, 502)
  got.slice(0, 500).forEach((m, i) => {
    assert.equal(m.seq, i)
    assert.equal(m.type, i % 7)
    assert.deepEqual(m.payload, msgs[i])
  })
  assert.equal(got[501].type, 42)
  assert.deepEqual(got[501].payload, msgs[1])
  // Out of range: refused with the message's index.
  assert.throws(() => w.appendBatch(data, new Uint32Array([data.length]), new Uint32Array([1]), 0), {
    code: 'INVALID_ARGUMENT',
    index: 0,
  })
})

test('errors: MESSAGE_TOO_LARGE with the maximum, WRITER_BUSY, ALREADY_EXISTS, NOT_FOUND, CLOSED', (t) => {
  const name = shmName(t)
  const w = JournalWriter.create(name, { ring: 1 << 16 })
  assert.throws(() => w.append(0, Buffer.alloc(w.maxMessage + 1)), { code: 'MESSAGE_TOO_LARGE', max: w.maxMessage })
  assert.throws(() => JournalWriter.open(name), { code: 'WRITER_BUSY', pid: process.pid })
  assert.throws(() => JournalWriter.create(name, { ring: 1 << 16 }), { code: 'ALREADY_EXISTS' })
  assert.throws(() => new JournalReader(`${name}-missing`), { code: 'NOT_FOUND' })
  assert.throws(() => w.append(70000, Buffer.alloc(1)), { code: 'INVALID_ARGUMENT' })
  w.close()
  assert.equal(w.closed, true)
  assert.throws(() => w.append(0, Buffer.alloc(1)), { code: 'CLOSED' })
  JournalWriter.open(name).close() // the lock is free again
})

test('a lapped reader gets OVERRUN with lost and resumeSeq, then continues at resumeSeq', (t) => {
  const name = shmName(t)
  const w = JournalWriter.create(name, { ring: 64 * 1024 })
  const r = new JournalReader(name, 'beginning')
  for (let i = 0; i < 5000; i++) {
    w.append(1, payload(i, 100))
    w.commit()
  }
  let resume = -1
  assert.throws(() => r.next(), (err) => {
    assert.equal(err.code, 'OVERRUN')
    assert.equal(err.expectedSeq, 0)
    assert.ok(err.lost > 4000, `lost ${err.lost}`)
    assert.equal(err.resumeSeq, err.lost)
    assert.match(err.message, /messages lost/)
    resume = err.resumeSeq
    return true
  })
  const m = r.next()
  assert.equal(m.seq, resume)
  assert.deepEqual(m.payload, payload(m.seq, 100))
})

test('readBatch delivers what it read before an overrun, and the OVERRUN with the next call', (t) => {
  const name = shmName(t)
  const w = JournalWriter.create(name, { ring: 64 * 1024 })
  const r = new JournalReader(name, 'beginning')
  for (let i = 0; i < 10; i++) w.append(1, payload(i, 100))
  w.commit()
  assert.equal(r.readMessages(3).length, 3)
  for (let i = 10; i < 5000; i++) {
    w.append(1, payload(i, 100))
    w.commit()
  }
  assert.throws(() => r.readMessages(100), { code: 'OVERRUN', expectedSeq: 3 })
  const after = r.readMessages(100)
  assert.equal(after.length, 100)
  after.forEach((m) => assert.deepEqual(m.payload, payload(m.seq, 100)))
})

test('payload Buffers are copies: they stay intact after the reader closes and the region is removed', (t) => {
  const name = shmName(t)
  const w = JournalWriter.create(name, { ring: 1 << 16 })
  for (let i = 0; i < 100; i++) w.append(1, payload(i, 64))
  w.commit()
  const r = new JournalReader(name)
  const batch = r.readMessages(100)
  const one = new JournalReader(name).next()
  r.close()
  w.close()
  shmbus.removeRegion(name)
  assert.equal(shmbus.regionExists(name), false)
  // Touch every byte: nothing points into the (now unmapped) region.
  batch.forEach((m, i) => assert.deepEqual(m.payload, payload(i, 64)))
  assert.deepEqual(one.payload, payload(0, 64))
  assert.throws(() => r.next(), { code: 'CLOSED' })
})

test('a persisted journal rolls across segment files; readers follow', (t) => {
  const dir = tmpPath(t, 'persisted.journal')
  const w = JournalWriter.create(dir, { segmentSize: 64 * 1024 })
  for (let i = 0; i < 3000; i++) w.append(2, payload(i, 100))
  w.commit()
  assert.ok(fs.readdirSync(dir).length > 3, 'several segment files')
  const r = new JournalReader(dir)
  let n = 0
  for (const m of r) {
    assert.equal(m.seq, n)
    assert.deepEqual(m.payload, payload(n, 100))
    n++
  }
  assert.equal(n, 3000)
  assert.equal(r.info().mode, 'segments')
  w.setRetention(2)
  for (let i = 3000; i < 6000; i++) w.append(2, payload(i, 100))
  w.commit()
  assert.ok(fs.readdirSync(dir).length <= 3, `retention: ${fs.readdirSync(dir).length} files`)
})

test('reads a journal written by the Rust CLI, and the CLI reads what Node wrote', (t) => {
  const name = shmName(t)
  cli('journal', 'create', name, '--ring', '1M', '--crc')
  cli('append', name, 'first message', 'second message')
  const r = new JournalReader(name)
  assert.deepEqual(
    r.readMessages().map((m) => [m.seq, m.payload.toString()]),
    [
      [0, 'first message'],
      [1, 'second message'],
    ],
  )
  const w = JournalWriter.open(name)
  w.append(1, Buffer.from('{"px":97000.5}'))
  w.commit()
  w.close()
  const out = cli('tail', name, '--from', '2', '--json')
  const line = JSON.parse(out.trim().split('\n').pop())
  assert.equal(line.seq, 2)
  assert.match(JSON.stringify(line), /97000\.5/)
})

test('the event loop keeps ticking while a consumer waits; a commit in another process wakes it', async (t) => {
  const name = shmName(t)
  JournalWriter.create(name, { ring: 1 << 20 }).close()
  const stream = subscribe(name) // new messages only
  t.after(() => stream.close())
  const first = stream.next()
  let ticks = 0
  const timer = setInterval(() => ticks++, 10)
  await sleep(300)
  // The wait runs on another thread: timers kept firing (about 30 in 300 ms).
  assert.ok(ticks >= 15, `only ${ticks} ticks in 300 ms while waiting`)

  const c = child(`
    const w = shmbus.JournalWriter.open(${JSON.stringify(name)})
    process.stdin.on('data', (d) => {
      for (const line of d.toString().trim().split('\\n')) {
        if (line === 'exit') { w.close(); process.exit(0) }
        const [from, n] = line.split(' ').map(Number)
        for (let i = from; i < from + n; i++) w.append(3, Buffer.from('m' + i))
        w.commit()
      }
      console.log('committed')
    })
    console.log('ready')
  `, { t })
  assert.equal(await c.line(), 'ready')
  c.send('0 1')
  const m = await within(20_000, first, 'wake-up by the commit')
  clearInterval(timer)
  assert.equal(m.value.payload.toString(), 'm0')
  assert.equal(m.value.type, 3)

  // Then many batches, every message in order.
  await c.line()
  for (let b = 0; b < 20; b++) c.send(`${1 + b * 500} 500`)
  let next = 1
  while (next < 10_001) {
    const { value } = await within(20_000, stream.next(), 'messages')
    assert.equal(value.payload.toString(), `m${next}`)
    assert.equal(value.seq, next)
    next++
  }
  c.send('exit')
  assert.equal((await c.exited).code, 0)
  stream.close()
  assert.deepEqual(await stream.next(), { value: undefined, done: true })
})

test('for await ... of: break closes the watcher; an AbortSignal ends a waiting stream', async (t) => {
  const name = shmName(t)
  const w = JournalWriter.create(name, { ring: 1 << 20 })
  for (let i = 0; i < 10; i++) w.append(1, Buffer.from(`x${i}`))
  w.commit()
  const seen = []
  for await (const m of subscribe(name, { from: 'beginning' })) {
    seen.push(m.payload.toString())
    if (seen.length === 10) break
  }
  assert.deepEqual(seen, Array.from({ length: 10 }, (_, i) => `x${i}`))

  const ac = new AbortController()
  const s = subscribe(name, { signal: ac.signal })
  const pending = s.next()
  setTimeout(() => ac.abort(), 50)
  assert.deepEqual(await within(5000, pending, 'abort'), { value: undefined, done: true })

  // From a saved sequence, in batches.
  const s2 = subscribe(name, { from: 4 })
  const batch = await s2.nextBatch()
  assert.deepEqual(batch.map((m) => m.seq), [4, 5, 6, 7, 8, 9])
  s2.close()
})

test('JournalWatcher.pull: timeout resolves null; close resolves a pending pull; OVERRUN rejects', async (t) => {
  const name = shmName(t)
  const w = JournalWriter.create(name, { ring: 64 * 1024 })
  const watcher = new JournalWatcher(name, 'end')
  const t0 = Date.now()
  assert.equal(await watcher.pull(10, 1 << 20, 50), null)
  assert.ok(Date.now() - t0 >= 45)
  const pending = watcher.pull(10, 1 << 20)
  watcher.close()
  assert.equal(await within(5000, pending, 'close'), null)
  assert.equal(await watcher.pull(10, 1 << 20), null) // closed: at once

  const lagging = new JournalWatcher(name, 'end')
  t.after(() => lagging.close())
  for (let i = 0; i < 5000; i++) {
    w.append(1, payload(i, 100))
    w.commit()
  }
  await assert.rejects(lagging.pull(10, 1 << 20), (e) => e.code === 'OVERRUN' && e.lost > 0)
  const after = shmbus.decodeBatch(await lagging.pull(10, 1 << 20))
  assert.equal(after.length, 10)
  after.forEach((m) => assert.deepEqual(m.payload, payload(m.seq, 100)))
  lagging.close()
})

test('many idle watchers do not occupy the libuv thread pool', async (t) => {
  const name = shmName(t)
  JournalWriter.create(name, { ring: 1 << 16 }).close()
  const streams = Array.from({ length: 8 }, () => subscribe(name))
  t.after(() => streams.forEach((s) => s.close()))
  const waits = streams.map((s) => s.next())
  // fs.promises uses the libuv pool (4 threads by default): it must not be starved.
  const t0 = Date.now()
  await within(2000, Promise.all(Array.from({ length: 16 }, () => fs.promises.stat(__filename))), 'fs on the pool')
  assert.ok(Date.now() - t0 < 1000)
  streams.forEach((s) => s.close())
  for (const r of await Promise.all(waits)) assert.equal(r.done, true)
})

test('removeRegion refuses what is not shmbus\'s own by its code, even with force', (t) => {
  const name = tmpPath(t, 'persisted.journal')
  const w = JournalWriter.create(name, { segmentSize: 1 << 16 })
  w.append(1, payload(1, 64))
  w.commit()
  w.close()
  const notes = `${name}/notes.txt`
  fs.writeFileSync(notes, 'mine')
  assert.throws(() => shmbus.removeRegion(name, true), (e) => {
    assert.equal(e.shmbusCode, 'foreign_file')
    assert.equal(e.shmbusCodeNumber, 123)
    assert.equal(e.file, notes)
    assert.match(e.message, /notes\.txt.*even with force/)
    return true
  })
  fs.unlinkSync(notes)
  shmbus.removeRegion(name)
  assert.equal(fs.existsSync(name), false)
  const junk = tmpPath(t, 'junk')
  fs.writeFileSync(junk, Buffer.alloc(4096, 1))
  assert.throws(() => shmbus.removeRegion(junk, true), { shmbusCode: 'not_a_region' })
  assert.equal(fs.existsSync(junk), true)
})
