'use strict'
throw new Error('@napi-rs/wasm-tools is not installed: shmbus uses @napi-rs/cli only for its type generation')
