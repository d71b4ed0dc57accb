// Compiled (never run) by scripts/ci/node.sh with `tsc --noEmit --strict`: the generated
// index.d.ts must describe the API as the README uses it, or this fails to type-check.

import {
  CandleReader,
  JournalReader,
  JournalWatcher,
  JournalWriter,
  MessageStream,
  Pool,
  SharedMemory,
  SharedMemoryConsumer,
  SharedMemoryIterator,
  SharedMemoryReader,
  SharedMemoryWriter,
  ShmbusError,
  SlotReader,
  SlotWriter,
  WriterStats,
  decodeBatch,
  removeRegion,
  subscribe,
} from '..'

// Seed 000.
const writer = new SharedMemoryWriter()
writer.create('quantnexus_ohlcv', 128 * 1024 * 1024)
writer.writeCandles('BTCUSDT', '1h', [
  { timestamp: 1704067200000, open: 42000, high: 42500, low: 41800, close: 42300, volume: 125.5 },
])
writer.writeCandles('BTCUSDT', '1h', new Float64Array(6))
const stats: WriterStats = writer.getStats()
const total: number = stats.totalSymbols + stats.totalCandles + stats.memoryUsed + stats.lastWriteUs + stats.writeCount
const ready: boolean = writer.isInitialized()
writer.close()

const reader = new SharedMemoryReader('quantnexus_ohlcv')
const reader2: CandleReader = reader
const closes: number[] = reader2.readSeries('BTCUSDT', '1h').map((c) => c.close)
const last = reader.latest('BTCUSDT', '1h')
const lastClose: number | undefined = last?.close
for (const s of reader.listSeries()) console.log(s.symbol, s.interval, s.count, s.startTs, s.endTs)

// Seed 002 (shmio).
const shm = new SharedMemory({ path: '/dev/shm/myapp-events', size: 1024 * 1024, num: 10, overlap: 4096, writable: true })
const pool = new Pool(null, shm)
const slice: Buffer = pool.sliceSize(16)
pool.commit()
const [committed, uncommitted]: [number, number] = pool.getSize()
const [bufferIndex, offset] = pool.getStatus()
pool.setActive(true)
const consumer = new SharedMemoryConsumer(shm)
for (const buffer of consumer.getData()) {
  const b: Buffer = buffer
  void b
}
const sub = consumer.getAll(10).subscribe((iterator: SharedMemoryIterator) => {
  for (const buffer of iterator) void buffer.length
})
sub.unsubscribe()

async function follow(): Promise<void> {
  for await (const payload of consumer) void payload.byteLength
  const stream: MessageStream = subscribe('trades', { from: 'beginning', signal: AbortSignal.timeout(100) })
  for await (const m of stream) console.log(m.seq, m.type, m.payload.length)
  const batch = await stream.nextBatch()
  if (batch !== null) console.log(batch.length)
}

// The journal.
const w = JournalWriter.create('/trades', { ring: 1 << 20, crc: true })
const seq: number = w.append(1, Buffer.from('x'))
w.appendBatch(Buffer.alloc(8), new Uint32Array([0]), new Uint32Array([8]), 2)
w.commit()
const r = new JournalReader('/trades', 'beginning')
const m = r.next()
const payload: Buffer | undefined = m?.payload
for (const msg of r) console.log(msg.seq)
const watcher = new JournalWatcher('/trades', 'end')
watcher.pull(100, 1 << 20, 50).then((b) => (b === null ? [] : decodeBatch(b)))
watcher.close()

// Slots.
const sw = SlotWriter.create('/quotes', 64)
const id: number = sw.slot('BTCUSD')
sw.write(id, { price: 97000.5, volume: 3, timestamp: 1_700_000_000_000_000_000n })
sw.put('ETHUSD', { price: 3150.25 })
const sr = new SlotReader('/quotes')
const v = sr.read(sr.find('BTCUSD'))
const ts: bigint | undefined = v?.timestamp
const snap = sr.snapshot()

// Errors.
try {
  removeRegion('/trades')
} catch (e) {
  const err = e as ShmbusError
  if (err.code === 'OVERRUN') console.log(err.lost, err.resumeSeq)
  if (err.qnxsCode === 5) console.log(err.index)
}

void [total, ready, closes, lastClose, slice, committed, uncommitted, bufferIndex, offset, follow, seq, payload, ts, snap]
