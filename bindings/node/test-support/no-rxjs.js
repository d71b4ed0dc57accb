'use strict'
// Preloaded (node --require) by a test: makes `require('rxjs')` fail, as when rxjs is not
// installed, so index.js falls back to its minimal Observable.
const Module = require('node:module')
const load = Module._load
Module._load = function (request, ...rest) {
  if (request === 'rxjs') {
    const e = new Error("Cannot find module 'rxjs'")
    e.code = 'MODULE_NOT_FOUND'
    throw e
  }
  return load.call(this, request, ...rest)
}
