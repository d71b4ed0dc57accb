'use strict'
// Seed 002's shmio API over the journal, with the real bendec and rxjs packages.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const { Bendec } = require('bendec')
const rxjs = require('rxjs')

const { shmbus, shmName, tmpPath, cli, child, within, sleep } = require('../test-support/helpers.js')

const { SharedMemory, Pool, SharedMemoryConsumer, SharedMemoryIterator, shmIter } = shmbus

// Seed 002's LogEvent, with a fixed-size message (bendec structs are fixed size).
const types = [
  { name: 'u8', size: 1 },
  { name: 'u16', size: 2 },
  { name: 'u32', size: 4 },
  { name: 'u64', size: 8 },
  { name: 'f64', size: 8 },
  { name: 'char', size: 1 },
  {
    name: 'LogEvent',
    fields: [
      { name: 'timestamp', type: 'u64' },
      { name: 'level', type: 'u8' },
      { name: 'message', type: 'char', length: 32 },
    ],
  },
  {
    name: 'Trade',
    fields: [
      { name: 'id', type: 'u64' },
      { name: 'price', type: 'f64' },
      { name: 'qty', type: 'u32' },
    ],
  },
]
const bendec = new Bendec({ types })

function text(buf) {
  const end = buf.indexOf(0)
  return buf.subarray(0, end < 0 ? buf.length : end).toString()
}

function config(p, writable, more = {}) {
  return { path: p, size: 1024 * 1024, num: 10, overlap: 4096, writable, ...more }
}

test("seed 002's quick start: a writer Pool with bendec wrap, a reader SharedMemoryConsumer", (t) => {
  const p = tmpPath(t, 'myapp-events')
  const shm = new SharedMemory(config(p, true))
  const pool = new Pool(bendec, shm)
  const event = pool.wrap('LogEvent')
  const now = BigInt(Date.now())
  event.timestamp = now
  event.level = 1
  event.message = Buffer.from('Application started')
  // Not visible before commit.
  const reader = new SharedMemory(config(p, false))
  const consumer = new SharedMemoryConsumer(reader)
  assert.deepEqual([...consumer.getData()], [])
  pool.commit()

  const events = [...consumer.getData()].map((buf) => bendec.decodeAs(buf, 'LogEvent'))
  assert.equal(events.length, 1)
  assert.equal(events[0].timestamp, now)
  assert.equal(events[0].level, 1)
  assert.equal(text(events[0].message), 'Application started')
  shm.close()
})

test('Pool: slices become messages in order at commit; getSize, getStatus, setActive', (t) => {
  const p = tmpPath(t, 'pool')
  const shm = new SharedMemory(config(p, true, { size: 4096, num: 16 }))
  const pool = new Pool(bendec, shm, { type: 9 })
  assert.deepEqual(pool.getSize(), [0, 0])
  assert.deepEqual(pool.getStatus(), [0, 0])

  const slices = []
  for (let i = 0; i < 100; i++) {
    const s = pool.slice('Trade')
    bendec.encodeAs({ id: BigInt(i), price: 100 + i / 4, qty: i }, 'Trade', s)
    slices.push(s)
  }
  const raw = pool.sliceSize(5)
  raw.write('hello')
  assert.deepEqual(pool.getSize(), [0, 100 * bendec.getSize('Trade') + 5])
  pool.commit()
  const [committed, pending] = pool.getSize()
  assert.equal(pending, 0)
  assert.equal(committed, shm.getInfo().commitPosition)
  assert.ok(committed > 100 * bendec.getSize('Trade'))
  // The ring is read as buffers of `size` bytes: [index, offset] of the committed end.
  assert.deepEqual(pool.getStatus(), [Math.floor(committed / 4096), committed % 4096])

  const it = new SharedMemoryConsumer(p).getData()
  const msgs = [...it.messages()]
  assert.equal(msgs.length, 101)
  msgs.slice(0, 100).forEach((m, i) => {
    assert.equal(m.type, 9)
    assert.deepEqual(bendec.decodeAs(m.payload, 'Trade'), { id: BigInt(i), price: 100 + i / 4, qty: i })
  })
  assert.equal(msgs[100].payload.toString(), 'hello')

  // A slice written after commit changes nothing in the journal, and is never reused.
  slices[0].fill(0xff)
  const again = pool.slice('Trade')
  assert.ok(again.buffer !== slices[0].buffer || again.byteOffset !== slices[0].byteOffset)
  pool.commit()
  const first = new SharedMemoryIterator(p, 0, 1).next().value
  assert.deepEqual(bendec.decodeAs(first, 'Trade'), { id: 0n, price: 100, qty: 0 })

  // An inactive pool hands out plain Buffers that never reach the journal.
  pool.setActive(false)
  const loose = pool.sliceSize(8)
  loose.fill(1)
  pool.commit()
  pool.setActive(true)
  assert.equal(shm.getInfo().nextSeq, 102)
})

test('Pool: a batch larger than the staging chunk, and messages up to the journal maximum', (t) => {
  const name = shmName(t)
  const shm = new SharedMemory({ path: name, size: 4 << 20, num: 2, writable: true })
  const pool = new Pool(null, shm)
  const n = 20_000
  for (let i = 0; i < n; i++) pool.sliceSize(100).writeUInt32LE(i, 0)
  const big = pool.sliceSize(shm.getConfig().maxMessage)
  big[big.length - 1] = 7
  assert.throws(() => pool.sliceSize(shm.getConfig().maxMessage + 1), { code: 'MESSAGE_TOO_LARGE' })
  pool.commit()
  let i = 0
  for (const buf of new SharedMemoryConsumer(shm).getData()) {
    if (i < n) assert.equal(buf.readUInt32LE(0), i)
    else assert.equal(buf[buf.length - 1], 7)
    i++
  }
  assert.equal(i, n + 1)
})

test('Pool: staging memory is reused only once its slices are committed, and that detaches them', (t) => {
  const name = shmName(t)
  const shm = new SharedMemory({ path: name, size: 8 << 20, num: 1, writable: true })
  const pool = new Pool(null, shm)
  const first = pool.sliceSize(100)
  first.fill(1)
  pool.commit()
  first.fill(2) // after commit: not in the journal
  const n = 40_000 // about 4 MiB of slices: the staging chunks are recycled
  for (let i = 0; i < n; i++) {
    pool.sliceSize(100).writeUInt32LE(i, 0)
    if (i % 1000 === 999) pool.commit()
  }
  pool.commit()
  assert.equal(first.length, 0, 'detached when its memory was reused')
  assert.throws(() => first.writeUInt32LE(1, 0), { code: 'ERR_BUFFER_OUT_OF_BOUNDS' })
  const it = new SharedMemoryConsumer(shm).getData()
  assert.deepEqual(it.next().value, Buffer.alloc(100, 1))
  let i = 0
  for (const buf of it) {
    assert.equal(buf.readUInt32LE(0), i)
    assert.equal(buf.length, 100)
    assert.ok(buf.subarray(4).every((b) => b === 0), 'recycled memory is cleared')
    i++
  }
  assert.equal(i, n)
})

test('SharedMemory: config, an existing journal (made by the Rust CLI) opened as writer, errors', (t) => {
  const name = shmName(t)
  assert.throws(() => new SharedMemory(config(name, false)), { code: 'NOT_FOUND' })
  cli('journal', 'create', name, '--ring', '2M')
  cli('append', name, 'from rust')
  const shm = new SharedMemory(config(name, true))
  const c = shm.getConfig()
  assert.equal(c.capacity, 2 << 20) // the journal as it is, not re-created
  assert.equal(c.mode, 'ring')
  assert.equal(c.writable, true)
  const pool = new Pool(bendec, shm)
  pool.sliceSize(9).write('from node')
  pool.commit()
  assert.deepEqual([...new SharedMemoryConsumer(name).getData()].map(String), ['from rust', 'from node'])
  // One writer: a second writable SharedMemory is refused.
  assert.throws(() => new SharedMemory(config(name, true)), { code: 'WRITER_BUSY' })
  assert.throws(() => shm.getBuffers(), { code: 'UNSUPPORTED' })
  assert.throws(() => new Pool(bendec, new SharedMemory(config(name, false))), { code: 'INVALID_ARGUMENT' })
  assert.throws(() => new SharedMemory({ path: `${name}-x`, size: 4096, num: 1, overlap: 1 << 20, writable: true }), {
    code: 'INVALID_ARGUMENT',
  })
  assert.equal(shmbus.regionExists(`${name}-x`), false, 'no journal left behind')
  assert.throws(() => new SharedMemory({ path: name, num: 0 }), { code: 'INVALID_ARGUMENT' })
  shm.close()
  const tail = cli('tail', name, '--from', '1', '--json')
  assert.match(tail, /from node/)
})

test("mode 'segments': num segment files of size bytes are kept", (t) => {
  const dir = tmpPath(t, 'events.journal')
  const shm = new SharedMemory({ path: dir, size: 64 * 1024, num: 3, overlap: 0, writable: true, mode: 'segments' })
  const pool = new Pool(null, shm)
  for (let i = 0; i < 5000; i++) {
    pool.sliceSize(100).writeUInt32LE(i, 0)
    if (i % 100 === 99) pool.commit()
  }
  pool.commit()
  const files = fs.readdirSync(dir)
  assert.ok(files.length <= 3 && files.length >= 2, `${files.length} segment files`)
  assert.equal(shm.getConfig().mode, 'segments')
  // The oldest kept message onwards, in order, to the last.
  const seqs = [...new SharedMemoryConsumer(dir).getData().messages()].map((m) => m.payload.readUInt32LE(0))
  assert.equal(seqs[seqs.length - 1], 4999)
  seqs.forEach((v, i) => i && assert.equal(v, seqs[i - 1] + 1))
})

test('SharedMemoryIterator and shmIter: a sequence range [from, to)', (t) => {
  const name = shmName(t)
  const shm = new SharedMemory({ path: name, size: 1 << 16, num: 1, writable: true })
  const pool = new Pool(null, shm)
  for (let i = 0; i < 50; i++) pool.sliceSize(4).writeUInt32LE(i, 0)
  pool.commit()
  const it = shmIter(shm, 10, 20)
  assert.equal(it.fromIndex, 10)
  assert.equal(it.toIndex, 20)
  assert.deepEqual([...it].map((b) => b.readUInt32LE(0)), Array.from({ length: 10 }, (_, i) => 10 + i))
  assert.deepEqual([...new SharedMemoryIterator(shm, 45)].map((b) => b.readUInt32LE(0)), [45, 46, 47, 48, 49])
  assert.deepEqual([...new SharedMemoryConsumer(shm).getData(48)].map((b) => b.readUInt32LE(0)), [48, 49])
  // The end is fixed when the iterator is made.
  const snapshot = new SharedMemoryConsumer(shm).getData()
  pool.sliceSize(4).writeUInt32LE(50, 0)
  pool.commit()
  assert.equal([...snapshot].length, 50)
})

test('getAll: an rxjs Observable of iterators, past then new messages from another process, woken by commits', async (t) => {
  const p = tmpPath(t, 'stream')
  const shm = new SharedMemory(config(p, true))
  const pool = new Pool(bendec, shm)
  for (let i = 0; i < 3; i++) {
    const e = pool.wrap('LogEvent')
    e.timestamp = BigInt(i)
    e.level = 2
  }
  pool.commit()
  shm.close()

  const consumer = new SharedMemoryConsumer(new SharedMemory(config(p, false)))
  const all$ = consumer.getAll(10)
  assert.ok(all$ instanceof rxjs.Observable)
  const got = []
  let emissions = 0
  let done
  const finished = new Promise((resolve) => {
    done = resolve
  })
  const sub = all$.subscribe({
    next(iterator) {
      emissions++
      for (const buf of iterator) got.push(bendec.decodeAs(buf, 'LogEvent').timestamp)
      if (got.length === 1003) done()
    },
    error: (e) => done(e),
  })
  t.after(() => sub.unsubscribe())
  assert.equal(emissions, 1, 'the stored messages come at once, on subscribe')
  assert.deepEqual(got, [0n, 1n, 2n])

  const c = child(`
    const { Bendec } = require(${JSON.stringify(require.resolve('bendec'))})
    const bendec = new Bendec({ types: ${JSON.stringify(types)} })
    const shm = new shmbus.SharedMemory(${JSON.stringify(config(p, true))})
    const pool = new shmbus.Pool(bendec, shm)
    for (let i = 3; i < 1003; i++) {
      const e = pool.wrap('LogEvent'); e.timestamp = BigInt(i); e.level = 3
      if (i % 100 === 0) pool.commit()
    }
    pool.commit()
    shm.close()
  `, { t })
  const err = await within(20_000, finished, () => `getAll delivery (${got.length} of 1003 messages in ${emissions} emissions, child: ${c.process.exitCode} ${c.stderr()})`)
  assert.equal(err, undefined)
  assert.equal((await c.exited).code, 0)
  assert.deepEqual(got, Array.from({ length: 1003 }, (_, i) => BigInt(i)))
  sub.unsubscribe()
  // rxjs operators work on it.
  const counted = await within(
    20_000,
    rxjs.firstValueFrom(consumer.getAll().pipe(rxjs.map((it) => [...it].length))),
    'firstValueFrom',
  )
  assert.equal(counted, 1003)
})

test('getAll without rxjs installed: the same subscribe on a minimal Observable', async (t) => {
  const p = tmpPath(t, 'norx')
  const c = child(
    `
    const shm = new shmbus.SharedMemory({ path: ${JSON.stringify(p)}, size: 65536, num: 1, writable: true })
    const pool = new shmbus.Pool(null, shm)
    pool.sliceSize(3).write('abc'); pool.commit()
    const seen = []
    const all$ = new shmbus.SharedMemoryConsumer(shm).getAll(10)
    console.log(all$.constructor.name)
    const sub = all$.subscribe((it) => {
      for (const b of it) seen.push(b.toString())
      if (seen.length === 2) { console.log(JSON.stringify(seen)); sub.unsubscribe(); shm.close() }
    })
    setTimeout(() => { pool.sliceSize(3).write('def'); pool.commit() }, 20)
  `,
    { t, env: { NODE_OPTIONS: `--require ${path.join(__dirname, '..', 'test-support', 'no-rxjs.js')}` } },
  )
  assert.equal(await within(20_000, c.line(), 'minimal observable'), 'MiniObservable')
  assert.equal(await within(20_000, c.line(), 'minimal observable'), '["abc","def"]')
  assert.equal((await c.exited).code, 0)
})

test('for await over a consumer: the payloads of new messages', async (t) => {
  const name = shmName(t)
  const shm = new SharedMemory({ path: name, size: 1 << 16, num: 4, writable: true })
  const pool = new Pool(null, shm)
  pool.sliceSize(3).write('old')
  pool.commit()
  const consumer = new SharedMemoryConsumer(shm)
  setTimeout(() => {
    for (const s of ['a', 'b', 'c']) pool.sliceSize(1).write(s)
    pool.commit()
  }, 20)
  const seen = []
  const loop = async () => {
    for await (const buf of consumer) {
      seen.push(buf.toString())
      if (seen.length === 3) break
    }
  }
  await within(20_000, loop(), () => `3 messages (got ${seen.length})`)
  assert.deepEqual(seen, ['a', 'b', 'c'])
  await sleep(0)
})
