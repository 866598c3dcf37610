//! The C ABI: upstream `aof.c`'s global functions, same names, same prototypes. Each one
//! translates its arguments and calls [`crate::aof`]; cbindgen turns this floor into
//! `include/redis_aof.h`, which `make test` compiles together with upstream's server.h.

pub mod files;
pub mod load;
pub mod manifest;
pub mod rewrite;
pub mod write;
