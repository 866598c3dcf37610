//! The behaviour of upstream `aof.c`, one module per concern, in safe Rust over
//! [`crate::core`] and [`crate::glue`].

pub mod files;
pub mod load;
pub mod load_file;
pub mod lookahead;
pub mod manifest;
pub mod rewrite;
pub mod rewrite_child;
pub mod start_stop;
pub mod write;
