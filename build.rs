//! Writes `include/redis_aof.h` with cbindgen from the `#[no_mangle]` exports of
//! `src/exports` (the bindings to the upstream tree are built by `crates/aof-glue`).

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    generate_header(&manifest_dir);
    release_features();
    println!("cargo:rerun-if-changed=src/exports");
    println!("cargo:rerun-if-changed=cbindgen.toml");
}

/// The upstream release's API differences, as the glue's build script read them off the
/// headers (`crates/aof-glue/build.rs`, RELEASE_FEATURES): the same cfgs here, so
/// `src/aof` follows the release exactly where the glue does.
fn release_features() {
    let known =
        env::var("DEP_REDIS_UPSTREAM_KNOWN_FEATURES").expect("the glue names its release features");
    for cfg in known.split(',').filter(|c| !c.is_empty()) {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    let present = env::var("DEP_REDIS_UPSTREAM_FEATURES").unwrap_or_default();
    for cfg in present.split(',').filter(|c| !c.is_empty()) {
        println!("cargo::rustc-cfg={cfg}");
    }
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
