//! Upstream's source text, for the tests that pin the facts a SAFETY line relies on
//! (`upstream_facts` in `rdb_stream` and `rdb_value`): read off the tree being built
//! against, so a release that changes a fact fails its test.

/// The text of `file` in the upstream `src/` folder (`REDIS_SRC`).
pub fn source(file: &str) -> String {
    let src = std::env::var("REDIS_SRC").expect("REDIS_SRC names the upstream src/ folder");
    std::fs::read_to_string(std::path::Path::new(&src).join(file)).unwrap()
}

/// The text from `from` up to the first `until` after it, whitespace collapsed (one
/// space for each run of it), as the tests compare C code.
pub fn between(source: &str, from: &str, until: &str) -> String {
    let start = source
        .find(from)
        .unwrap_or_else(|| panic!("{from} not found"));
    let end = start + source[start..].find(until).unwrap();
    source[start..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
