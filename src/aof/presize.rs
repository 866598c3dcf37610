//! Sizing each database's keyspace once while a RESP file is replayed, from what the
//! file's first megabytes say it will add ([`aof_core::key_estimate`]). Without it the
//! keyspace doubles again and again as the replay adds keys, and every doubling rehashes
//! every key so far. An RDB BASE (or preamble) is left alone: upstream's RDB loader
//! handles its own RESIZEDB opcodes (which size the table again from 8.6 on, when
//! `kvstoreExpand` creates a missing table), and the keys a later file names that the
//! database already holds are not counted again, so the table an RDB BASE sized stays as
//! it is unless the INCR adds keys beyond it.
//!
//! Upstream creates a database's table when its first key arrives, and its expand skips
//! a table that does not exist yet, so the estimate is made before the file replays
//! ([`plan`]) and applied at the loader's periodic checkpoint once the table is there
//! ([`apply_planned`]).

use crate::aof::files;
use aof_core::key_estimate::{estimate_keys_over, KeyEstimate};
use aof_glue::db::{Db, KeyLookup};
use std::io::Read;
use std::sync::Mutex;

/// How much of a file is read for the estimate: enough records to average over, little
/// enough to read in a few milliseconds (the loader reads these bytes again, from the
/// page cache).
const SAMPLE_BYTES: u64 = 4 << 20;

/// The growth still to apply while the current file replays: (db, keys to add, TTLs to
/// add), a half set to 0 once done.
static PLANNED: Mutex<Vec<(i32, u64, u64)>> = Mutex::new(Vec::new());

fn planned() -> std::sync::MutexGuard<'static, Vec<(i32, u64, u64)>> {
    PLANNED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Estimates what replaying AOF file `name` adds to each database. Best effort: a file
/// that cannot be read here is reported by the loader itself.
pub fn plan(name: &[u8]) {
    let estimates = sample_estimates(name);
    let mut planned = planned();
    planned.clear();
    planned.extend(estimates.into_iter().filter_map(|e: KeyEstimate| {
        let db = i32::try_from(e.db).ok()?;
        Db::of_index(db)?;
        Some((db, e.keys, e.expires))
    }));
}

fn sample_estimates(name: &[u8]) -> Vec<KeyEstimate> {
    let path = files::path_in_aof_dir(name);
    let Ok(file) = std::fs::File::open(aof_glue::sys::os_path(&path)) else {
        return Vec::new();
    };
    let Ok(file_len) = file.metadata().map(|m| m.len()) else {
        return Vec::new();
    };
    let mut sample = Vec::with_capacity(SAMPLE_BYTES.min(file_len) as usize);
    if file.take(SAMPLE_BYTES).read_to_end(&mut sample).is_err() || sample.starts_with(b"REDIS") {
        return Vec::new();
    }
    // A key the database holds already (a file after an RDB BASE, whose RESIZEDB sized the
    // table for it) is no addition. Asked only of databases that hold keys.
    let mut lookup = KeyLookup::new();
    estimate_keys_over(&sample, file_len, |db, key| {
        let Some(db) = i32::try_from(db).ok().and_then(Db::of_index) else {
            return false;
        };
        db.size() > 0 && lookup.holds(db, key)
    })
}

/// Grows each planned table that exists by now (called at the loader's checkpoint, every
/// so many commands).
#[inline]
pub fn apply_planned() {
    let mut planned = planned();
    if planned.is_empty() {
        return;
    }
    planned.retain_mut(|(index, keys, expires)| {
        let Some(db) = Db::of_index(*index) else {
            return false;
        };
        let (keys_there, expires_there) = db.grow(
            if *keys > 0 { db.size() + *keys } else { 0 },
            if *expires > 0 {
                db.expires_size() + *expires
            } else {
                0
            },
        );
        if keys_there {
            *keys = 0;
        }
        if expires_there {
            *expires = 0;
        }
        *keys > 0 || *expires > 0
    });
}

/// The file has replayed: what was not applied is dropped.
pub fn forget() {
    planned().clear();
}
