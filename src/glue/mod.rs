//! The only floor that talks to C: bindgen bindings over upstream's headers, the C shim for
//! its macros and `static inline` functions, and thin safe wrappers over both.

pub mod adlist;
pub mod aof_buf;
pub mod aof_client;
pub mod bindings;
pub mod child;
pub mod client;
pub mod dataset;
pub mod db;
pub mod layout;
pub mod loading;
pub mod log;
pub mod manifest;
pub mod manifest_c;
pub mod object;
pub mod prefetch;
pub mod process;
pub mod rio_file;
pub mod runtime;
pub mod sds;
pub mod server;
pub mod stream;
pub mod sys;
