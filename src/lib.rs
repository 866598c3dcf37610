//! Redis 8.0.x's append-only-file persistence (upstream `src/aof.c`), in Rust.
//!
//! Four floors, arrows only downward, which the compiler enforces: `aof_core` and
//! `aof_glue` are crates of their own (neither can reach up), `aof_core` forbids `unsafe`
//! and has no FFI, and [`aof`] forbids `unsafe`:
//! - [`exports`]: `#[no_mangle] extern "C"` functions with upstream `aof.c`'s names and
//!   prototypes; each translates its arguments and calls [`aof`].
//! - [`aof`]: the behaviour (files and manifest, write path, rewrite, loading).
//! - [`aof_core`] (the workspace crate `crates/aof-core`): pure Rust with no FFI: manifest
//!   grammar, RESP encoding, the AOF stream reader, rewrite policy. Tested with plain
//!   `cargo test -p redis-aof-core` and fuzzed, with no Redis tree.
//! - [`aof_glue`] (the workspace crate `crates/aof-glue`): bindgen bindings to the
//!   upstream tree, a small C shim for its macros and `static inline` functions, the
//!   layout check, and safe wrappers. `unsafe` lives there and in the skin of `exports`.

pub mod aof;
pub mod exports;
