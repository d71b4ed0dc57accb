'use strict'
throw new Error('@napi-rs/cross-toolchain is not installed: shmbus uses @napi-rs/cli only for its type generation')
