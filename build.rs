//! Writes `include/redis_aof.h` with cbindgen from the `#[no_mangle]` exports of
//! `src/exports` (the bindings to the upstream tree are built by `crates/aof-glue`).

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    generate_header(&manifest_dir);
    println!("cargo:rerun-if-changed=src/exports");
    println!("cargo:rerun-if-changed=cbindgen.toml");
}

fn generate_header(manifest_dir: &Path) {
    let config = cbindgen::Config::from_file(manifest_dir.join("cbindgen.toml"))
        .expect("reading cbindgen.toml");
    match cbindgen::Builder::new()
        .with_crate(manifest_dir)
        .with_config(config)
        .generate()
    {
        Ok(header) => {
            header.write_to_file(manifest_dir.join("include/redis_aof.h"));
        }
        // A syntax error mid-edit is reported by rustc itself, more clearly.
        Err(err) => println!("cargo:warning=cbindgen: {err}"),
    }
}
