//! The only floor that talks to C: bindgen bindings over upstream's headers, the C shim for
//! its macros and `static inline` functions, and thin safe wrappers over both.

pub mod bindings;
pub mod layout;
pub mod log;
pub mod sds;
pub mod server;
