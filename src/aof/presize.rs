//! Sizing each database's keyspace once, before a RESP file is replayed, from what the
//! file's first megabytes say it will add ([`aof_core::key_estimate`]). Without it the
//! keyspace doubles again and again as the replay adds keys, and every doubling rehashes
//! every key so far (14 % of a 2 M key restart). An RDB BASE (or preamble) is left alone:
//! upstream's RDB loader sizes the keyspace itself from the file's RESIZEDB opcodes.

use crate::aof::files;
use aof_core::key_estimate::estimate_keys;
use aof_glue::db::Db;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;

/// How much of a file is read for the estimate: enough records to average over, little
/// enough to read in a few milliseconds (the loader reads these bytes again, from the
/// page cache).
const SAMPLE_BYTES: u64 = 4 << 20;

/// Grows each database's tables by what replaying AOF file `name` is expected to add.
/// Best effort: a file that cannot be read here is reported by the loader itself.
pub fn before_replay(name: &[u8]) {
    let path = files::path_in_aof_dir(name);
    let Ok(file) = std::fs::File::open(std::ffi::OsStr::from_bytes(&path)) else {
        return;
    };
    let Ok(file_len) = file.metadata().map(|m| m.len()) else {
        return;
    };
    let mut sample = Vec::with_capacity(SAMPLE_BYTES.min(file_len) as usize);
    if file.take(SAMPLE_BYTES).read_to_end(&mut sample).is_err() || sample.starts_with(b"REDIS") {
        return;
    }
    for estimate in estimate_keys(&sample, file_len) {
        let Some(db) = i32::try_from(estimate.db).ok().and_then(Db::of_index) else {
            continue;
        };
        db.grow(
            db.size() + estimate.keys,
            db.expires_size() + estimate.expires,
        );
    }
}
