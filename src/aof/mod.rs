//! The behaviour of upstream `aof.c`, one module per concern, in safe Rust over
//! [`aof_core`] and [`aof_glue`]. No `unsafe` here: every touch of C memory goes through
//! a glue wrapper, and the compiler holds this floor to it.
#![forbid(unsafe_code)]

pub mod block_reader;
pub mod checksum;
pub mod files;
pub mod fsync_health;
pub mod load;
pub mod load_file;
pub mod manifest;
pub mod presize;
pub mod rdb_preamble;
pub mod rdb_read_ahead;
pub mod read_ahead;
pub mod replay_prefetch;
pub mod rewrite;
pub mod rewrite_child;
pub mod start_stop;
pub mod status;
pub mod write;

/// A failed operation whose cause is already in the log. Upstream reports each failure
/// where it happens (with its own wording) and hands its caller only `C_ERR`; this crate
/// keeps that split, and the C ABI skin turns `Err(Reported)` into `C_ERR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reported;
