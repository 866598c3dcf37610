//! Directives the patch adds to upstream's config table, bound to variables this library
//! owns (see `redis-patch/README.md`).

use std::sync::atomic::{AtomicI32, Ordering};

/// `aof-checksum yes|no` (issue #31): `createBoolConfig("aof-checksum", ...)` in config.c
/// stores the setting here through an `int *`, and `INFO persistence` prints it as
/// `aof_checksum`. `AtomicI32` has `int`'s size and alignment (`i32` is C's `int` on every
/// target Redis builds for), so config.c's plain `int` stores and loads, made on the main
/// thread, see the same bytes; Rust reads it with an atomic load.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static redis_aof_checksum: AtomicI32 = AtomicI32::new(0);

/// Whether `aof-checksum` is `yes` now.
#[inline]
pub fn aof_checksum() -> bool {
    redis_aof_checksum.load(Ordering::Relaxed) != 0
}
