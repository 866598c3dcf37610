//! Proof that bindgen's structs match the C compiler's: every size and offset listed in
//! `src/layout.list` is computed on both sides and compared. A mismatch means the
//! bindings were generated with other flags than the C code was compiled with, and every
//! field access from Rust would read the wrong bytes; the library then refuses to start.

use super::bindings;
use std::ffi::CStr;

/// Sizes and offsets as Rust sees them (generated from layout.list by build.rs).
const RUST_LAYOUT: &[(&str, usize)] = include!(concat!(env!("OUT_DIR"), "/layout_rs.rs"));

/// The same entries as the C compiler computed them (the shim's generated table).
fn c_layout() -> Vec<(String, usize)> {
    // SAFETY: the table and its length are constants defined by the generated layout_c.c;
    // every `name` points to a string literal.
    unsafe {
        let table = std::slice::from_raw_parts(
            bindings::redis_aof_c_layout.as_ptr(),
            bindings::redis_aof_c_layout_len,
        );
        table
            .iter()
            .map(|e| {
                (
                    CStr::from_ptr(e.name).to_string_lossy().into_owned(),
                    e.value,
                )
            })
            .collect()
    }
}

/// Describes every entry on which the two tables disagree (empty when they agree).
pub fn compare(rust: &[(&str, usize)], c: &[(String, usize)]) -> Vec<String> {
    let mut problems = Vec::new();
    if rust.len() != c.len() {
        problems.push(format!("{} entries in Rust, {} in C", rust.len(), c.len()));
    }
    for ((rust_name, rust_value), (c_name, c_value)) in rust.iter().zip(c) {
        if rust_name != c_name || rust_value != c_value {
            problems.push(format!(
                "{rust_name} is {rust_value} in Rust but {c_name} is {c_value} in C"
            ));
        }
    }
    problems
}

pub fn mismatches() -> Vec<String> {
    let mut problems = compare(RUST_LAYOUT, &c_layout());
    problems.extend(super::prefetch::dict_entry_mismatches());
    if !super::sds::header_agrees_with_c() {
        problems.push("an sds header reads or writes differently in Rust than in C".to_string());
    }
    problems
}

/// Runs before `main` in every binary that links the library (redis-server,
/// redis-check-aof, test binaries): a wrong layout must stop the process before any Rust
/// code reads the server struct. Logging is not set up yet, so it writes to stderr.
extern "C" fn refuse_to_start_on_layout_mismatch() {
    let problems = mismatches();
    if problems.is_empty() {
        return;
    }
    eprintln!(
        "redis-aof: the Rust bindings disagree with the C compiler on struct layout ({}); \
         refusing to start. Rebuild the Rust library against this Redis tree.",
        problems.join("; ")
    );
    // SAFETY: _exit only ends the process; nothing is running yet that needs cleanup.
    unsafe { libc::_exit(1) };
}

#[used]
#[link_section = ".init_array"]
static LAYOUT_CHECK_AT_START: extern "C" fn() = refuse_to_start_on_layout_mismatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_agree_with_the_c_compiler() {
        let problems = mismatches();
        assert!(problems.is_empty(), "{problems:#?}");
        assert!(
            RUST_LAYOUT.len() > 50,
            "the layout list covers the fields Rust touches"
        );
    }

    #[test]
    fn server_struct_holds_aof_buf_where_upstream_puts_it() {
        // Known for each supported release on x86_64, read off the stock binary's debug
        // info (`gdb -batch -ex 'p sizeof(struct redisServer)'
        // -ex 'p &((struct redisServer *)0)->aof_buf' build/<version>/stock/src/redis-server`).
        #[cfg(target_arch = "x86_64")]
        {
            let version = env!("REDIS_AOF_UPSTREAM_VERSION");
            let (size, aof_buf) = match version {
                // lua_enable_deprecated_api is new in 8.0.6, in what was a padding hole.
                "8.0.6" => (8424, 6616),
                "8.6.3" => (8736, 6752),
                _ => panic!(
                    "no measured layout for Redis {version}: measure struct redisServer on the \
                     stock build (see above) and add a line here"
                ),
            };
            let c = c_layout();
            let find = |n: &str| c.iter().find(|(name, _)| name == n).map(|e| e.1);
            assert_eq!(find("redisServer"), Some(size));
            assert_eq!(find("redisServer.aof_buf"), Some(aof_buf));
        }
    }

    #[test]
    fn sds_headers_are_read_and_written_like_c() {
        assert!(super::super::sds::header_agrees_with_c());
    }

    #[test]
    fn a_deliberately_broken_layout_is_reported() {
        let mut c = c_layout();
        let entry = c
            .iter_mut()
            .find(|(n, _)| n == "redisServer.aof_fd")
            .unwrap();
        entry.1 += 8;
        let problems = compare(RUST_LAYOUT, &c);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("redisServer.aof_fd"));

        let shorter = &c[..c.len() - 1];
        assert!(!compare(RUST_LAYOUT, shorter).is_empty());
    }
}
