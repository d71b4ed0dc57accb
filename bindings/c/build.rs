//! Generates the C header with cbindgen into `$OUT_DIR/shmbus.h`.
//!
//! The checked-in `include/shmbus.h` is never written by a build: `scripts/ci/c.sh` compares it
//! with this output and fails if they differ (`scripts/ci/c.sh --update-header` copies it).

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
        .expect("read bindings/c/cbindgen.toml");
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("generate the C header from bindings/c/src")
        .write_to_file(out.join("shmbus.h"));
}
