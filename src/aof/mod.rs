//! The behaviour of upstream `aof.c`, one module per concern, in safe Rust over
//! [`aof_core`] and [`aof_glue`]. No `unsafe` here: every touch of C memory goes through
//! a glue wrapper, and the compiler holds this floor to it.
#![forbid(unsafe_code)]

pub mod files;
pub mod load;
pub mod load_file;
pub mod lookahead;
pub mod manifest;
pub mod rewrite;
pub mod rewrite_child;
pub mod start_stop;
pub mod status;
pub mod write;
