'use strict'
// Shared helpers of the tests: unique region names removed after each test, the shmbus CLI,
// and child processes that load this package.

const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const shmbus = require('..')

const ROOT = path.resolve(__dirname, '../../..')
const CLI = path.join(ROOT, 'target/release/shmbus')
const FIXTURES = path.join(ROOT, 'crates/shmbus-cli/tests/fixtures')
const PKG = path.resolve(__dirname, '..')

let counter = 0

/** A fresh region name (a shm name), removed when the test ends. */
function shmName(t, what = 'r') {
  const name = `/shmbus-node-test-${process.pid}-${what}-${counter++}`
  t.after(() => remove(name))
  return name
}

/** A fresh path in a temporary directory, removed when the test ends. */
function tmpPath(t, what = 'r') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shmbus-node-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, what)
}

function remove(name) {
  try {
    shmbus.removeRegion(name, true)
  } catch (e) {
    if (e.code === 'NOT_FOUND') return
    // A test truncated it (sigbus.test.js): an empty file is nothing shmbus can recognise, so
    // removeRegion refuses it even when forced; the name is this test's own.
    const file = path.join('/dev/shm', name.replace(/^\//, ''))
    if (fs.existsSync(file) && fs.statSync(file).size === 0) return fs.unlinkSync(file)
    throw e
  }
}

/** Runs the shmbus CLI and returns its stdout. */
function cli(...args) {
  if (!fs.existsSync(CLI)) {
    throw new Error(`${CLI} is missing: build it with cargo build --release -p shmbus-cli (scripts/ci/node.sh does)`)
  }
  return execFileSync(CLI, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/**
 * Starts a node child process running `code` with `shmbus` (this package) in scope. It can
 * talk to the test through stdout lines; `lines()` yields them.
 */
function child(code, { env = {}, t = null } = {}) {
  const script = `const shmbus = require(${JSON.stringify(PKG)});\n${code}`
  const p = spawn(process.execPath, ['-e', script], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  // Killed when the test ends, passed or not (a failed test must not leave it running).
  if (t) t.after(() => p.exitCode === null && p.signalCode === null && p.kill('SIGKILL'))
  let stderr = ''
  p.stderr.on('data', (d) => {
    stderr += d
  })
  const rawExit = new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal, stderr })))
  // A child that hangs fails the test (after 30 s) instead of stalling the run.
  let exited = null
  let buffered = ''
  const waiting = []
  const lines = []
  p.stdout.on('data', (d) => {
    buffered += d
    let i
    while ((i = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, i)
      buffered = buffered.slice(i + 1)
      if (waiting.length) waiting.shift()(line)
      else lines.push(line)
    }
  })
  return {
    process: p,
    get exited() {
      if (exited === null) exited = within(30_000, rawExit, 'the child process to exit')
      return exited
    },
    /** The next line the child prints (rejects if it exits first). */
    line(ms = 30_000) {
      if (lines.length) return Promise.resolve(lines.shift())
      const next = new Promise((resolve, reject) => {
        waiting.push(resolve)
        rawExit.then(({ code }) => reject(new Error(`child exited (${code}) before printing: ${stderr}`)))
      })
      return within(ms, next, 'a line from the child process')
    },
    /** What the child printed on stderr so far. */
    stderr() {
      return stderr
    },
    /** Writes a line to the child's stdin. */
    send(line) {
      p.stdin.write(`${line}\n`)
    },
    kill() {
      p.kill('SIGKILL')
    },
  }
}

/** Resolves after `ms`. */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Rejects if `promise` takes longer than `ms` (a hang fails the test instead of stalling it). */
function within(ms, promise, what = 'operation') {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${typeof what === 'function' ? what() : what} took longer than ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

module.exports = { shmbus, shmName, tmpPath, remove, cli, child, sleep, within, CLI, FIXTURES, ROOT }
