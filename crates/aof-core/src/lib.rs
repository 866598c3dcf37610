//! The pure floor of the Rust AOF: the manifest grammar, the AOF command reader, the
//! loader's state machine, the RESP encoder, the rewrite back-off policy and the
//! fsync-failure machine. No FFI and no `unsafe`: it builds, tests and
//! fuzzes with plain `cargo test -p redis-aof-core` / `cargo fuzz` on a fresh clone, with
//! no Redis tree and no build script. The staticlib (`redis-aof`) builds on it.
#![forbid(unsafe_code)]

pub mod aof_manifest;
pub mod block_reader;
pub mod checksum;
pub mod child_progress;
pub mod command_reader;
pub mod framer;
pub mod fsync_health;
pub mod key_estimate;
pub mod load_machine;
pub mod module_rewrite;
pub mod rdb_blob;
pub mod rdb_checksum;
pub mod rdb_preamble;
pub mod rdb_scan;
pub mod resp;
pub mod rewrite_policy;
pub mod walk_prefetch;
pub mod xorshift;
