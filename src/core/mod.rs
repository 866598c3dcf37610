//! Pure Rust, no FFI: everything here is testable with `cargo test` alone.

pub mod aof_manifest;
pub mod command_reader;
pub mod resp;
pub mod rewrite_policy;
