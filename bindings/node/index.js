'use strict'
// shmbus for Node.js: loads the native addon (the Rust core, built from src/) and adds the
// JavaScript-level API: seed 000's candle writer and reader taking arrays of candle objects,
// seed 002's shmio classes (SharedMemory, Pool, SharedMemoryConsumer, SharedMemoryIterator),
// async iteration over new journal messages, and rxjs Observables when rxjs is installed.
//
// Every byte of a region is read and written by the Rust core; this file only moves data
// between JavaScript objects and the core's bulk forms. No Buffer handed out here points into
// a mapping: reads are copies into memory that JavaScript owns.

const path = require('node:path')

const native = require(path.join(__dirname, 'shmbus.node'))

const {
  SharedMemoryWriter,
  CandleReader,
  JournalWriter,
  JournalReader,
  JournalWatcher,
  SlotWriter,
  SlotReader,
} = native

// ---------------------------------------------------------------------------------------------
// Buffer views

/** A Buffer over `len` bytes of `buf` from `start` (Buffer.from on the ArrayBuffer: a real
 * Buffer, made without Buffer#subarray's species lookup). */
function view(buf, start, len) {
  return Buffer.from(buf.buffer, buf.byteOffset + start, len)
}

// ---------------------------------------------------------------------------------------------
// Errors

/** A JavaScript error of this binding (a core error has the same shape, made natively). */
function shmbusError(code, message, props) {
  const e = new Error(message)
  e.name = 'ShmbusError'
  e.code = code
  if (props) Object.assign(e, props)
  return e
}

function invalidArg(message) {
  return shmbusError('INVALID_ARGUMENT', message)
}

// ---------------------------------------------------------------------------------------------
// Candles (seed 000)

const CANDLE_FIELDS = 6

/** Seed 000's candles (objects, or [ts, o, h, l, c, v] arrays) to the bulk Float64Array form. */
function toCandleArray(candles) {
  if (candles instanceof Float64Array) return candles
  if (!Array.isArray(candles)) {
    throw invalidArg('candles must be an array of {timestamp, open, high, low, close, volume} or a Float64Array')
  }
  const n = candles.length
  const out = new Float64Array(n * CANDLE_FIELDS)
  for (let i = 0, k = 0; i < n; i++, k += CANDLE_FIELDS) {
    const c = candles[i]
    if (c === null || typeof c !== 'object') {
      throw invalidArg(`candle ${i} is not an object`)
    }
    if (Array.isArray(c)) {
      for (let j = 0; j < CANDLE_FIELDS; j++) out[k + j] = +c[j]
    } else {
      out[k] = +c.timestamp
      out[k + 1] = +c.open
      out[k + 2] = +c.high
      out[k + 3] = +c.low
      out[k + 4] = +c.close
      out[k + 5] = +c.volume
    }
  }
  return out
}

/** The bulk form to candle objects. */
function fromCandleArray(a) {
  const n = a.length / CANDLE_FIELDS
  const out = new Array(n)
  for (let i = 0, k = 0; i < n; i++, k += CANDLE_FIELDS) {
    out[i] = {
      timestamp: a[k],
      open: a[k + 1],
      high: a[k + 2],
      low: a[k + 3],
      close: a[k + 4],
      volume: a[k + 5],
    }
  }
  return out
}

const DEFAULT_CANDLE_REGION = 128 * 1024 * 1024

SharedMemoryWriter.DEFAULT_SIZE = DEFAULT_CANDLE_REGION

/** Seed 000: writes candles (array of objects, or the bulk Float64Array form). */
SharedMemoryWriter.prototype.writeCandles = function writeCandles(symbol, interval, candles) {
  this.writeCandlesArray(symbol, interval, toCandleArray(candles))
}

/** Replaces stored candles from the batch's first timestamp on. Returns what it did. */
SharedMemoryWriter.prototype.replaceCandles = function replaceCandles(symbol, interval, candles) {
  return this.replaceCandlesArray(symbol, interval, toCandleArray(candles))
}

/** A copy of a series as candle objects (the writer's own read). */
SharedMemoryWriter.prototype.readSeries = function readSeries(symbol, interval) {
  return fromCandleArray(this.readSeriesArray(symbol, interval))
}

/** A copy of a series as candle objects. */
CandleReader.prototype.readSeries = function readSeries(symbol, interval) {
  return fromCandleArray(this.readSeriesArray(symbol, interval))
}

/** The candles with fromMs <= timestamp < toMs, as objects. */
CandleReader.prototype.range = function range(symbol, interval, fromMs, toMs) {
  return fromCandleArray(this.rangeArray(symbol, interval, fromMs, toMs))
}

// ---------------------------------------------------------------------------------------------
// Journal: the batch encoding (see src/journal.rs) and JavaScript-level reading

const BATCH_HEADER = 24
const TWO_32 = 2 ** 32

function seqAt(buf, off) {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * TWO_32
}

/** Decodes a batch into message objects {seq, type, position, payload} (payload: a view). */
function decodeBatch(buf, out = []) {
  let off = 0
  const end = buf.length
  while (off < end) {
    const len = buf.readUInt32LE(off)
    const start = off + BATCH_HEADER
    out.push({
      seq: seqAt(buf, off + 8),
      type: buf.readUInt16LE(off + 4),
      position: seqAt(buf, off + 16),
      payload: view(buf, start, len),
    })
    off = start + ((len + 7) & ~7)
  }
  return out
}

/** Reads up to `max` committed messages as objects (an empty array if none). */
JournalReader.prototype.readMessages = function readMessages(max = 1024, maxBytes) {
  const buf = this.readBatch(max, maxBytes)
  return buf === null ? [] : decodeBatch(buf)
}

/** Iterates over the messages committed so far (never waits). */
JournalReader.prototype[Symbol.iterator] = function* iterate() {
  for (;;) {
    const batch = this.readMessages(1024)
    if (batch.length === 0) return
    yield* batch
  }
}

const PULL_MESSAGES = 4096
const PULL_BYTES = 4 << 20

/**
 * An async iterator of a journal's messages that waits for new ones without blocking the event
 * loop (a JournalWatcher waits on its own thread and is woken by the writer's commits).
 */
class MessageStream {
  /**
   * @param {string} name journal name
   * @param {{from?: 'beginning'|'end'|number, batchSize?: number, signal?: AbortSignal}} [options]
   */
  constructor(name, options = {}) {
    const from = options.from === undefined ? 'end' : options.from
    this._watcher = new JournalWatcher(name, from)
    this._batchSize = options.batchSize || PULL_MESSAGES
    this._queue = []
    this._head = 0
    this._done = false
    if (options.signal) {
      if (options.signal.aborted) this.close()
      else options.signal.addEventListener('abort', () => this.close(), { once: true })
    }
  }

  /** The sequence number of the next message the stream will deliver. */
  get nextSeq() {
    if (this._head < this._queue.length) return this._queue[this._head].seq
    return this._watcher.nextSeq
  }

  /** The next batch (an array of messages) as soon as one is committed; null once closed. */
  async nextBatch() {
    if (this._head < this._queue.length) {
      const rest = this._queue.slice(this._head)
      this._queue = []
      this._head = 0
      return rest
    }
    while (!this._done) {
      const buf = await this._watcher.pull(this._batchSize, PULL_BYTES)
      if (buf !== null) return decodeBatch(buf)
      if (this._watcher.closed) break
    }
    this._done = true
    return null
  }

  async next() {
    if (this._head < this._queue.length) {
      return { value: this._queue[this._head++], done: false }
    }
    const batch = await this.nextBatch()
    if (batch === null) return { value: undefined, done: true }
    this._queue = batch
    this._head = 1
    return { value: batch[0], done: false }
  }

  /** Stops waiting: the iterator ends. */
  close() {
    this._done = true
    this._queue = []
    this._head = 0
    this._watcher.close()
  }

  async return(value) {
    this.close()
    return { value, done: true }
  }

  /** An async iterator of batches (arrays of messages) instead of single messages. */
  batches() {
    const self = this
    return {
      next: async () => {
        const b = await self.nextBatch()
        return b === null ? { value: undefined, done: true } : { value: b, done: false }
      },
      return: async (value) => {
        self.close()
        return { value, done: true }
      },
      [Symbol.asyncIterator]() {
        return this
      },
    }
  }

  [Symbol.asyncIterator]() {
    return this
  }
}

/** Follows journal `name`: `for await (const m of subscribe(name)) ...` (new messages). */
function subscribe(name, options) {
  return new MessageStream(name, options)
}

// ---------------------------------------------------------------------------------------------
// shmio (seed 002) over the journal

/** An Observable: rxjs's when rxjs is installed, else a minimal one with the same subscribe. */
let rxjs = null
try {
  rxjs = require('rxjs')
} catch {
  rxjs = null
}

class MiniObservable {
  constructor(subscribeFn) {
    this._subscribe = subscribeFn
  }

  subscribe(observerOrNext, error, complete) {
    const o =
      typeof observerOrNext === 'function' || observerOrNext == null
        ? { next: observerOrNext, error, complete }
        : observerOrNext
    let closed = false
    let teardown = null
    const sub = {
      get closed() {
        return closed
      },
      unsubscribe() {
        if (closed) return
        closed = true
        if (teardown) teardown()
      },
    }
    const subscriber = {
      get closed() {
        return closed
      },
      next(v) {
        if (!closed && o.next) o.next(v)
      },
      error(e) {
        if (closed) return
        closed = true
        if (teardown) teardown()
        if (o.error) o.error(e)
        else setImmediate(() => { throw e })
      },
      complete() {
        if (closed) return
        closed = true
        if (teardown) teardown()
        if (o.complete) o.complete()
      },
    }
    const t = this._subscribe(subscriber)
    teardown = typeof t === 'function' ? t : null
    if (closed && teardown) teardown()
    return sub
  }
}

function makeObservable(fn) {
  return rxjs ? new rxjs.Observable(fn) : new MiniObservable(fn)
}

function positiveInt(v, what, { min = 1 } = {}) {
  if (!Number.isSafeInteger(v) || v < min) {
    throw invalidArg(`${what} must be a whole number >= ${min}, got ${v}`)
  }
  return v
}

/**
 * shmio's SharedMemory, over a shmbus journal. `path` names the journal (a file path such as
 * /dev/shm/myapp-events, or a shm name). A writable one is created if missing (a ring of
 * size x num data bytes, rounded up to a power of two; or, with `mode: 'segments'`, a persisted
 * journal: a directory of `num` retained segment files of `size` bytes) and opened as its one
 * writer otherwise. `overlap` is accepted and checked, but a journal needs none: a message
 * never straddles anything, readers get copies.
 */
class SharedMemory {
  constructor(config) {
    if (config === null || typeof config !== 'object') {
      throw invalidArg('SharedMemory needs a config object {path, size, num, overlap, writable}')
    }
    const { path: p, writable = false } = config
    if (typeof p !== 'string' || p.length === 0) throw invalidArg('config.path must be a non-empty string')
    const num = config.num === undefined ? 1 : positiveInt(config.num, 'config.num')
    const overlap = config.overlap === undefined ? 0 : positiveInt(config.overlap, 'config.overlap', { min: 0 })
    const mode = config.mode === undefined ? 'ring' : config.mode
    if (mode !== 'ring' && mode !== 'segments') throw invalidArg(`config.mode must be 'ring' or 'segments', got ${mode}`)
    this._config = { path: p, size: config.size, num, overlap, writable: !!writable, mode }
    this._writer = null
    let created = false
    if (writable) {
      const size = positiveInt(config.size, 'config.size')
      ;({ writer: this._writer, created } = openOrCreate(p, mode, size, num, !!config.crc))
    } else {
      // Validate now that it is a journal (errors such as NOT_FOUND are thrown here, as shmio
      // fails to map a missing file); readers open their own cursors.
      new JournalReader(p, 'end').close()
    }
    const info = this.getInfo()
    if (overlap > info.maxMessage) {
      // shmio's overlap must hold the largest message; tell the user if theirs cannot fit (and
      // leave no journal behind if this call made it).
      this.close()
      if (created) native.removeRegion(p, true)
      throw invalidArg(`overlap ${overlap} exceeds the journal's largest message (${info.maxMessage} bytes)`)
    }
  }

  get path() {
    return this._config.path
  }

  get writable() {
    return this._writer !== null
  }

  /** The config as given, with what the journal really is: capacity, maxMessage, mode. */
  getConfig() {
    const info = this.getInfo()
    return {
      ...this._config,
      size: this._config.size === undefined ? info.capacity : this._config.size,
      mode: info.mode,
      capacity: info.capacity,
      maxMessage: info.maxMessage,
    }
  }

  /** The journal's shared state (committed end, oldest message, ...). */
  getInfo() {
    if (this._writer) return this._writer.info()
    const r = new JournalReader(this._config.path, 'end')
    try {
      return r.info()
    } finally {
      r.close()
    }
  }

  /**
   * shmio handed out Buffers over the mapping itself; shmbus never does (they would outlive the
   * mapping, and a writer could change bytes under a reader). Read through a consumer instead.
   */
  getBuffers() {
    throw shmbusError(
      'UNSUPPORTED',
      'getBuffers(): shmbus never hands out Buffers over the mapping (no use after unmap, no torn reads); read with SharedMemoryConsumer or SharedMemoryIterator, write with Pool',
    )
  }

  /** Releases the writer lock (if writable). The journal stays for readers. */
  close() {
    if (this._writer) this._writer.close()
  }
}

function openOrCreate(p, mode, size, num, crc) {
  let w
  let created = true
  try {
    w = JournalWriter.create(
      p,
      mode === 'ring'
        ? { ring: size * num, crc }
        : { segmentSize: size, retainSegments: num, crc },
    )
  } catch (e) {
    if (e.code !== 'ALREADY_EXISTS') throw e
    w = JournalWriter.open(p)
    created = false
  }
  if (mode === 'segments') w.setRetention(num)
  return { writer: w, created }
}

const CHUNK = 1 << 20

/**
 * shmio's Pool: hands out Buffers to fill (slice, sliceSize, wrap with bendec) and publishes
 * them all at once with commit(). Slices are carved in order from staging memory that
 * JavaScript owns; commit() copies them into the journal in one native call and publishes them
 * with one release store. Writing to a slice after commit() changes nothing in the journal, and
 * can never change a later message: staging memory is reused only after a transfer that detaches
 * every old slice (from then on, writing to one throws ERR_BUFFER_OUT_OF_BOUNDS).
 */
class Pool {
  /**
   * @param bendec a Bendec instance (for slice/wrap by type name)
   * @param {SharedMemory} sharedMemory a writable SharedMemory
   * @param {{type?: number, typeOf?: (name: string) => number}} [options] journal type tags
   */
  constructor(bendec, sharedMemory, options = {}) {
    if (!(sharedMemory instanceof SharedMemory) || !sharedMemory.writable) {
      throw invalidArg('Pool needs a writable SharedMemory')
    }
    this.bendec = bendec
    this._shm = sharedMemory
    this._writer = sharedMemory._writer
    this._type = options.type === undefined ? 0 : options.type
    this._typeOf = options.typeOf || null
    this._maxMessage = this._writer.maxMessage
    this._active = true
    // Staging: the current chunk (bump allocation) and a spare, recycled when the current one
    // is full and nothing in the spare awaits a commit.
    this._chunk = Buffer.alloc(CHUNK)
    this._spare = null
    this._off = 0
    // Pending messages: offsets, lengths and types; `_runs` says which chunk each range uses.
    this._offsets = new Uint32Array(1024)
    this._lengths = new Uint32Array(1024)
    this._types = new Uint16Array(1024)
    this._n = 0
    this._runs = []
    this._runStart = 0
    this._pendingBytes = 0
  }

  _grow() {
    const n = this._offsets.length * 2
    const grow = (A, old) => {
      const a = new A(n)
      a.set(old)
      return a
    }
    this._offsets = grow(Uint32Array, this._offsets)
    this._lengths = grow(Uint32Array, this._lengths)
    this._types = grow(Uint16Array, this._types)
  }

  _nextChunk(size) {
    if (this._n > this._runStart) {
      this._runs.push([this._chunk, this._runStart, this._n])
      this._runStart = this._n
    }
    const spare = this._spare
    let next
    if (spare !== null && spare.length >= size && !this._runs.some((r) => r[0] === spare)) {
      // Every slice of the spare is committed: move its memory to a new ArrayBuffer, which
      // detaches those slices, and clear it.
      const ab = structuredClone(spare.buffer, { transfer: [spare.buffer] })
      next = Buffer.from(ab)
      next.fill(0)
    } else {
      next = Buffer.alloc(Math.max(CHUNK, size))
    }
    this._spare = this._chunk
    this._chunk = next
    this._off = 0
  }

  /** A zeroed Buffer of `size` bytes that becomes the next message at commit(). */
  sliceSize(size, type = this._type) {
    if (!this._active) return Buffer.alloc(size)
    if (!(size >= 0 && size <= this._maxMessage) || !Number.isInteger(size)) {
      throw shmbusError(
        'MESSAGE_TOO_LARGE',
        `cannot allocate ${size} bytes: a message of this journal is 0 to ${this._maxMessage} bytes`,
        { length: size, max: this._maxMessage },
      )
    }
    let off = (this._off + 7) & ~7
    if (off + size > this._chunk.length) {
      this._nextChunk(size)
      off = 0
    }
    if (this._n === this._offsets.length) this._grow()
    const n = this._n++
    this._offsets[n] = off
    this._lengths[n] = size
    this._types[n] = type
    this._off = off + size
    this._pendingBytes += size
    return view(this._chunk, off, size)
  }

  /** A slice for Bendec type `name`. */
  slice(name) {
    return this.sliceSize(this.bendec.getSize(name), this._typeOf ? this._typeOf(name) : this._type)
  }

  /** A slice for Bendec type `name`, wrapped (Bendec reuses one wrapper object per type). */
  wrap(name) {
    return this.bendec.wrap(name, this.slice(name))
  }

  /** Publishes every slice handed out since the last commit, at once. */
  commit() {
    const w = this._writer
    if (this._n > 0) {
      const runs = this._runs
      runs.push([this._chunk, this._runStart, this._n])
      this._runs = []
      this._runStart = 0
      this._n = 0
      this._pendingBytes = 0
      for (const [chunk, a, b] of runs) {
        w.appendBatch(chunk, this._offsets.subarray(a, b), this._lengths.subarray(a, b), this._types.subarray(a, b))
      }
    }
    w.commit()
  }

  /** [committed bytes (the journal's committed position), bytes sliced but not committed]. */
  getSize() {
    return [this._writer.info().commitPosition, this._pendingBytes + this._writer.pendingBytes]
  }

  /**
   * [buffer index, byte offset] of the committed end, in shmio's terms: the ring is read as
   * consecutive buffers of `size` bytes (persisted: segments of `size`; approximate, as a
   * segment ends early when the next message does not fit).
   */
  getStatus() {
    const info = this._writer.info()
    const { size } = this._shm.getConfig()
    const p = info.mode === 'ring' ? info.commitPosition % info.capacity : info.commitPosition
    return [Math.floor(p / size), p % size]
  }

  /** An inactive pool hands out plain Buffers that never reach the journal (as shmio). */
  setActive(active) {
    this._active = !!active
  }
}

/**
 * Iterates over the payloads (Buffers, copies) of messages fromIndex <= seq < toIndex. Indices
 * are sequence numbers (shmio used byte offsets, which do not survive a ring's wrap-around).
 * Defaults: from the oldest stored message to the committed end when created.
 */
class SharedMemoryIterator {
  constructor(sharedMemory, fromIndex, toIndex) {
    if (sharedMemory === BATCH) {
      // Internal: over a batch already read (getAll).
      this._reader = null
      this._batch = decodeBatch(fromIndex)
      this._head = 0
      this.fromIndex = this._batch.length ? this._batch[0].seq : 0
      this.toIndex = this._batch.length ? this._batch[this._batch.length - 1].seq + 1 : 0
      return
    }
    const name = typeof sharedMemory === 'string' ? sharedMemory : sharedMemory.path
    this._reader = new JournalReader(name, fromIndex === undefined ? 'beginning' : fromIndex)
    this.fromIndex = this._reader.nextSeq
    this.toIndex = toIndex === undefined ? this._reader.info().nextSeq : toIndex
    this._batch = []
    this._head = 0
  }

  [Symbol.iterator]() {
    return this
  }

  /** The next message object {seq, type, position, payload}, or null at the end. */
  nextMessage() {
    if (this._head < this._batch.length) return this._batch[this._head++]
    const r = this._reader
    if (r === null) return null
    const left = this.toIndex - r.nextSeq
    if (left > 0) {
      const buf = r.readBatch(Math.min(left, 1024))
      if (buf !== null) {
        this._batch = decodeBatch(buf)
        this._head = 1
        return this._batch[0]
      }
    }
    this.return()
    return null
  }

  next() {
    const m = this.nextMessage()
    return m === null ? { value: undefined, done: true } : { value: m.payload, done: false }
  }

  /** The messages (objects with seq, type, position, payload) instead of payloads. */
  *messages() {
    for (let m = this.nextMessage(); m !== null; m = this.nextMessage()) yield m
  }

  return(value) {
    if (this._reader) {
      this._reader.close()
      this._reader = null
    }
    this._batch = []
    this._head = 0
    return { value, done: true }
  }
}

const BATCH = Symbol('batch')

/**
 * shmio's SharedMemoryConsumer. getData() iterates over what is committed; getAll() streams
 * everything, past then future, woken by the writer's commits (not by polling).
 */
class SharedMemoryConsumer {
  constructor(sharedMemory) {
    this._shm = sharedMemory
    this._name = typeof sharedMemory === 'string' ? sharedMemory : sharedMemory.path
  }

  /** An iterator over the messages from fromIndex (a sequence number; default the oldest). */
  getData(fromIndex) {
    return new SharedMemoryIterator(this._name, fromIndex)
  }

  /**
   * An Observable (rxjs's when installed) that emits an iterator over the messages stored at
   * subscription, then one iterator per batch of newly committed messages. `pollInterval` is
   * accepted for compatibility and unused: a thread sleeps on the journal's futex and the
   * writer's commit wakes it. Errors (e.g. OVERRUN for a consumer the writer lapped) end the
   * stream; unsubscribing stops the thread.
   */
  getAll(pollInterval = 10, options = {}) {
    if (typeof pollInterval !== 'number' || !(pollInterval >= 0)) {
      throw invalidArg(`pollInterval must be a non-negative number, got ${pollInterval}`)
    }
    const name = this._name
    const batchSize = options.batchSize || PULL_MESSAGES
    return makeObservable((subscriber) => {
      let stream = null
      let stopped = false
      try {
        const first = new SharedMemoryIterator(name)
        const from = first.toIndex
        subscriber.next(first)
        if (subscriber.closed) return undefined
        stream = new MessageStream(name, { from, batchSize })
      } catch (e) {
        subscriber.error(e)
        return undefined
      }
      const loop = () => {
        stream._watcher.pull(batchSize, PULL_BYTES).then(
          (buf) => {
            if (stopped) return
            if (buf === null) {
              if (stream._watcher.closed) return
            } else {
              subscriber.next(new SharedMemoryIterator(BATCH, buf))
            }
            if (!stopped) loop()
          },
          (err) => {
            if (!stopped) subscriber.error(err)
          },
        )
      }
      loop()
      return () => {
        stopped = true
        stream.close()
      }
    })
  }

  /** Follows new messages as objects: `for await (const m of consumer.messages())`. */
  messages(options) {
    return new MessageStream(this._name, options)
  }

  /** `for await (const payload of consumer)`: the payloads of new messages. */
  [Symbol.asyncIterator]() {
    const stream = new MessageStream(this._name, { from: 'end' })
    return {
      next: async () => {
        const r = await stream.next()
        return r.done ? r : { value: r.value.payload, done: false }
      },
      return: (v) => stream.return(v),
      [Symbol.asyncIterator]() {
        return this
      },
    }
  }
}

/** shmio's helper: an iterator from fromIndex to toIndex. */
function shmIter(sharedMemory, fromIndex, toIndex) {
  return new SharedMemoryIterator(sharedMemory, fromIndex, toIndex)
}

// ---------------------------------------------------------------------------------------------
// Slots

/** Every key's value: {key: value or null}. */
SlotReader.prototype.snapshot = function snapshot() {
  const out = {}
  for (const { key, id } of this.keys()) out[key] = this.read(id)
  return out
}

module.exports = {
  // Seed 000: candles
  SharedMemoryWriter,
  SharedMemoryReader: CandleReader,
  CandleReader,
  // Journal
  JournalWriter,
  JournalReader,
  JournalWatcher,
  MessageStream,
  subscribe,
  decodeBatch,
  // Seed 002: shmio
  SharedMemory,
  Pool,
  SharedMemoryConsumer,
  SharedMemoryIterator,
  shmIter,
  // Slots
  SlotWriter,
  SlotReader,
  // Regions
  removeRegion: native.removeRegion,
  regionExists: native.regionExists,
  version: native.version,
  // Helpers
  toCandleArray,
  fromCandleArray,
}
