#!/usr/bin/env node
'use strict'
// Builds the addon and its type declarations:
//
//   node bindings/node/build.js          # cargo build --release -p shmbus-node, copy the addon
//                                        # to bindings/node/shmbus.node, write index.d.ts
//   node bindings/node/build.js --check  # the same, but fail if index.d.ts is stale
//
// The types come from napi's own generator: napi-derive writes one intermediate declaration
// per exported item while the crate compiles (NAPI_TYPE_DEF_TMP_FOLDER), and @napi-rs/cli's
// generateTypeDef turns them into TypeScript, after the header dts-header.d.ts (the API that
// index.js adds). We call cargo ourselves rather than `napi build`, which always passes
// --target and so would compile the whole workspace a second time in another directory.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const here = __dirname
const root = path.resolve(here, '../..')
const check = process.argv.includes('--check')

function fail(msg) {
  console.error(`build.js: ${msg}`)
  process.exit(1)
}

// napi-derive writes the declarations while the macros expand, so the crate must really be
// compiled: a new NAPI_FORCE_BUILD_SHMBUS_NODE (napi-build's build script reruns when it
// changes) forces that, as `napi build` does. It costs one compile of this crate (not of its
// dependencies) per run, and guarantees the declarations come from the sources as they are.
const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target')
const typeDefDir = path.join(targetDir, 'napi-typedef')
const typeDefFile = path.join(typeDefDir, 'shmbus-node')
fs.mkdirSync(typeDefDir, { recursive: true })

function cargoBuild(force) {
  const r = spawnSync('cargo', ['build', '--release', '-p', 'shmbus-node'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, NAPI_TYPE_DEF_TMP_FOLDER: typeDefDir, NAPI_FORCE_BUILD_SHMBUS_NODE: force },
  })
  if (r.status !== 0) fail(`cargo build failed (exit ${r.status})`)
}

fs.rmSync(typeDefFile, { force: true })
cargoBuild(String(Date.now()))
if (!fs.existsSync(typeDefFile)) fail(`napi-derive wrote no declarations to ${typeDefFile}`)

// Copy the addon next to index.js. A rename, so that a running node process keeps the file it
// has mapped instead of seeing it rewritten under it.
const lib = path.join(targetDir, 'release', 'libshmbus_node.so')
const dest = path.join(here, 'shmbus.node')
const tmp = `${dest}.tmp-${process.pid}`
fs.copyFileSync(lib, tmp)
fs.renameSync(tmp, dest)

async function types() {
  let cli
  try {
    cli = await import('@napi-rs/cli')
  } catch (e) {
    fail(`@napi-rs/cli is missing (run npm ci in bindings/node): ${e.message}`)
  }
  const header = fs.readFileSync(path.join(here, 'dts-header.d.ts'), 'utf8')
  const { dts } = await cli.generateTypeDef({
    typeDefDir,
    dtsHeader: header,
    constEnum: true,
    cwd: here,
  })
  const out = path.join(here, 'index.d.ts')
  if (check) {
    const old = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : ''
    if (old !== dts) {
      fs.writeFileSync(`${out}.fresh`, dts)
      fail(
        `bindings/node/index.d.ts is stale: the generated one is in index.d.ts.fresh ` +
          `(diff them; run \`node bindings/node/build.js\` and commit index.d.ts)`,
      )
    }
    console.log('build.js: addon built, index.d.ts is up to date')
  } else {
    fs.writeFileSync(out, dts)
    console.log('build.js: addon built, index.d.ts written')
  }
}

types().catch((e) => fail(e.stack || String(e)))
