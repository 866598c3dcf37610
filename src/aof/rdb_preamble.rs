//! The RDB preamble of a BASE (`aof-use-rdb-preamble yes`): upstream's `rdbSaveRio`,
//! driven from Rust so the keyspace is walked with the rewrite's cache hints
//! ([`keyspace_walk::for_each_key`]): the same upstream writers in upstream's order
//! ([`aof_core::rdb_preamble`]), `dismissObject` after each key in the fork child, and the
//! child-info report on upstream's cadence ([`aof_core::child_progress`]). The keys come
//! in the kvstore iterator's order, so for the same dataset in the same process the bytes
//! are upstream's.
//!
//! A cluster's slot-info opcodes are not written here: with cluster mode on, upstream's
//! own function runs; so it does where the release tracks memory per key and that is on
//! (8.6's rdbSaveDb updates the accounting around each key's save).

use aof_core::child_progress::Progress;
use aof_core::rdb_preamble::{self, Section};
use aof_glue::child_info;
use aof_glue::db::Db;
use aof_glue::keyspace_walk;
use aof_glue::rdb_writer::RdbWriter;
use aof_glue::rio_file::RioFile;
use aof_glue::sys::Errno;
use aof_glue::{runtime, server};

/// Writes the preamble into `file`; Err carries the errno of the write that failed.
pub fn write(file: &mut RioFile) -> Result<(), Errno> {
    if server::cluster_enabled() != 0 || server::tracks_memory_per_key() {
        return file.save_rdb();
    }
    let mut rdb = file.rdb_writer();
    let mut progress = Progress::new();
    let in_fork_child = server::in_fork_child() != 0;
    let mut failure = Errno(0);
    let mut section = |section| {
        let written = match section {
            Section::Magic => rdb.magic(),
            Section::InfoAuxFields => rdb.info_aux_fields(),
            Section::ModulesAuxBefore => rdb.modules_aux(true),
            Section::Functions => rdb.functions(),
            Section::Db { index, keys } => {
                db_section(&mut rdb, index, keys, in_fork_child, &mut progress)
            }
            Section::ModulesAuxAfter => rdb.modules_aux(false),
            Section::Eof => rdb.eof(),
            Section::Checksum => rdb.checksum(),
        };
        written.map_err(|errno| failure = errno).is_ok()
    };
    let keys_in = |index| Db::of_index(index).map_or(0, Db::size);
    if !rdb_preamble::write_sections(server::dbnum(), keys_in, &mut section) {
        return Err(failure);
    }
    if cfg!(rdb_save_done_log) {
        aof_glue::server_log!(
            aof_glue::log::Level::Notice,
            "BGSAVE done, {} keys saved, 0 keys skipped, {} bytes written.",
            progress.keys(),
            rdb.processed_bytes()
        );
    }
    Ok(())
}

/// One db's section: SELECTDB, RESIZEDB, then each key (`rdbSaveKeyValuePair`), its pages
/// dismissed after it in the fork child (told how many bytes the key produced), and the
/// progress reported on its cadence.
#[inline]
fn db_section(
    rdb: &mut RdbWriter<'_>,
    index: i32,
    keys: u64,
    in_fork_child: bool,
    progress: &mut Progress,
) -> Result<(), Errno> {
    let Some(db) = Db::of_index(index) else {
        return Ok(());
    };
    rdb.db_header(index, keys, db.expires_size())?;
    // Standalone: no slot is ever in a trim job, so nothing is skipped.
    let mut skipped = 0u64;
    let written = keyspace_walk::for_each_key(db, &mut skipped, |key, value, expire| {
        let before = rdb.processed_bytes();
        if !rdb.key_value(key, value, expire, index) {
            return false;
        }
        if in_fork_child {
            value.dismiss(rdb.processed_bytes() - before);
        }
        if let Some(done) = progress.key_written(runtime::mstime) {
            child_info::report_keys_done(done as usize);
        }
        true
    });
    if written {
        Ok(())
    } else {
        Err(Errno::last())
    }
}
