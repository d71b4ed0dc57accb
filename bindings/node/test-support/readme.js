#!/usr/bin/env node
'use strict'
// Runs every ```js example of bindings/node/README.md, each in its own node process, as a user
// would: `require('shmbus')` resolves to this package (and bendec / rxjs to its dev
// dependencies) through a temporary node_modules of links. An example that throws, exits
// non-zero or runs longer than 20 s fails the run.
//
//   node bindings/node/test-support/readme.js

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const pkg = path.resolve(__dirname, '..')
const readme = fs.readFileSync(path.join(pkg, 'README.md'), 'utf8')
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1])
if (blocks.length === 0) {
  console.error('readme.js: no ```js examples in README.md')
  process.exit(1)
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shmbus-node-readme-'))
fs.mkdirSync(path.join(dir, 'node_modules'))
fs.symlinkSync(pkg, path.join(dir, 'node_modules', 'shmbus'))
for (const dep of ['bendec', 'rxjs']) {
  fs.symlinkSync(path.join(pkg, 'node_modules', dep), path.join(dir, 'node_modules', dep))
}

// Leftovers of an interrupted run would make the examples' create() fail.
for (const f of fs.existsSync('/dev/shm') ? fs.readdirSync('/dev/shm') : []) {
  if (f.startsWith('readme-')) fs.rmSync(path.join('/dev/shm', f), { recursive: true, force: true })
}

let failed = 0
blocks.forEach((code, i) => {
  const file = path.join(dir, `example-${i + 1}.js`)
  fs.writeFileSync(file, code)
  const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 20_000 })
  const first = code.split('\n')[0]
  if (r.status === 0) {
    console.log(`ok readme example ${i + 1} (${first})`)
  } else {
    failed++
    console.error(`FAILED readme example ${i + 1} (${first}): exit ${r.status} ${r.signal || ''}\n${r.stdout}${r.stderr}`)
  }
})
fs.rmSync(dir, { recursive: true, force: true })
console.log(`${blocks.length - failed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
