//! Redis 8.0.x's append-only-file persistence (upstream `src/aof.c`), in Rust.
//!
//! Four floors, arrows only downward:
//! - [`exports`]: `#[no_mangle] extern "C"` functions with upstream `aof.c`'s names and
//!   prototypes; each translates its arguments and calls [`aof`].
//! - [`aof`]: the behaviour (files and manifest, write path, rewrite, loading).
//! - [`core`]: pure Rust with no FFI: manifest grammar, RESP encoding, the AOF stream
//!   reader, rewrite policy. Tested with plain `cargo test` and fuzzed.
//! - [`glue`]: bindgen bindings to the upstream tree, a small C shim for its macros and
//!   `static inline` functions, and thin safe wrappers. `unsafe` lives here and in the
//!   skin of `exports`.

pub mod aof;
pub mod core;
pub mod exports;
pub mod glue;
