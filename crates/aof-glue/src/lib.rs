//! The floor of the Rust AOF that talks to C (with the `exports` skin of the staticlib):
//! bindgen bindings over upstream's headers, built with upstream's own compiler flags; the
//! C shim for its macros and `static inline` functions; the layout check of every struct
//! Rust touches; and safe wrappers whose types carry the borrows that keep C memory valid
//! (a view of a manifest, an iterator step, a sink of a file). A wrapper whose
//! preconditions the types cannot express is an `unsafe fn` with a `# Safety` section, or
//! checks them and aborts as upstream's `serverAssert` would.
//!
//! Everything here runs under the contract of the C ABI stated in the staticlib's
//! `src/exports/mod.rs` (which threads call in, where calls re-enter, whose memory).
//!
//! Every unsafe operation sits in its own `unsafe { }` block, also inside an `unsafe fn`,
//! and every block carries a `// SAFETY:` line naming the upstream fact or the caller's
//! contract it relies on; the compiler holds the crate to both.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod adlist;
pub mod aof_buf;
pub mod aof_client;
pub mod arena;
pub mod arg_pool;
pub mod bindings;
pub mod child;
pub mod child_info;
pub mod client;
pub mod command;
pub mod config;
pub mod current_client;
pub mod db;
pub mod functions;
pub mod keyspace_walk;
pub mod layout;
pub mod loading;
pub mod log;
pub mod manifest;
pub mod manifest_c;
pub mod module_value;
pub mod object;
pub mod prefetch;
pub mod process;
pub mod rdb_stream;
pub mod rdb_value;
pub mod rdb_writer;
pub mod rio_file;
pub mod rio_sink;
pub mod runtime;
pub mod sds;
pub mod server;
pub mod stream;
pub mod sys;
pub mod unwritten;
#[cfg(test)]
mod upstream_text;
pub mod value;
