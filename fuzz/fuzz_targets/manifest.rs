//! Any bytes: the manifest parser never panics, and whatever it accepts writes back to a
//! manifest that parses to the same model.
#![no_main]

use aof_core::aof_manifest::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = parse(data) {
        let written = manifest.to_bytes();
        match parse(&written) {
            Ok(again) => assert_eq!(again, manifest),
            // A manifest of only comments has no entries and writes back as empty text,
            // which is "Found an empty AOF manifest": the one accepted input with no
            // written form.
            Err(_) => assert!(written.is_empty()),
        }
    }
});
