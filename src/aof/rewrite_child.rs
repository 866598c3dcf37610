//! The rewrite child's work: a new BASE that rebuilds the whole dataset, either as an RDB
//! (`aof-use-rdb-preamble yes`, upstream's RDB writer) or as commands.
//!
//! The command form is where upstream is slow: every element becomes three small stdio
//! writes through `rio`. Here records are encoded into an 8 KiB buffer and handed to the
//! file rio in big pieces, so rio's 4 MB incremental fsync and its byte accounting still
//! apply. Records, their order and their batching (at most 64 items per command) are
//! upstream's, byte for byte.
//!
//! Memory: every page the child writes is a page the fork copies (the copy-on-write the
//! parent reports). The buffer has a fixed size, the file stream has none of its own (the
//! buffer is its buffer: a module type's callback writes into it too), and a payload of
//! 4 KiB or more goes to the file straight from the value, which the child only reads:
//! a large value is never copied in the child.

use crate::aof::Reported;
use aof_core::aof_manifest;
use aof_core::checksum::{self, Digest};
use aof_core::child_progress::Progress;
use aof_core::module_rewrite::{self, Verdict};
use aof_core::resp::{Arg, RecordWriter, Sink};
use aof_glue::db::Db;
use aof_glue::keyspace_walk;
use aof_glue::log::{Level, Line};
use aof_glue::module_value::{self, KeyObject};
use aof_glue::object::StringValue;
use aof_glue::rio_file::RioFile;
use aof_glue::rio_sink::{self, RioSink};
use aof_glue::stream::{Pending, StreamId, StreamRef};
use aof_glue::sys::{self, Errno};
use aof_glue::value::{self, Value, ValueType};
use aof_glue::{bindings, loading, runtime, server};
use aof_glue::{child_info, functions};

/// Upstream's AOF_REWRITE_ITEMS_PER_CMD.
const ITEMS_PER_COMMAND: u64 = bindings::AOF_REWRITE_ITEMS_PER_CMD as u64;
/// What the buffer holds before it goes to the file. Small, because every KiB here is a
/// KiB of copy-on-write (upstream's child has a 4 KiB stdio buffer), and a larger one
/// saves only `write` calls, which do not show in the rewrite's speed (figures:
/// `bench/MEASUREMENTS.md`, "Where the goals of the issues are missed", Rewrite).
const BUFFER_BYTES: usize = 8 * 1024;
/// A payload this long is written to the file from where it lies instead of being copied.
const DIRECT_PAYLOAD: usize = 4 * 1024;

fn arg(value: StringValue<'_>) -> Arg<'_> {
    match value {
        StringValue::Bytes(b) => Arg::Bytes(b),
        StringValue::Int(n) => Arg::Int(n),
    }
}

/// The child's output buffer in front of a rio: small pieces are gathered, large
/// payloads pass straight through (after what is gathered, to keep the order).
struct ChildBuffer<'s> {
    gathered: Vec<u8>,
    sink: &'s RioSink<'s>,
    /// Bytes handed to the rio so far.
    handed: usize,
    /// A write to the rio failed (rio keeps the error and refuses later writes).
    failed: bool,
    /// With `aof-checksum yes` (issue #31): the open range's digest of the bytes handed
    /// over since its `begin` or closing line.
    digest: Option<Digest>,
}

impl ChildBuffer<'_> {
    fn write(&mut self, bytes: &[u8]) {
        self.handed += bytes.len();
        if let Some(digest) = &mut self.digest {
            digest.update(bytes);
        }
        if !self.sink.write(bytes) {
            self.failed = true;
        }
    }

    /// An annotation line, in no range (and not counted as a record's bytes).
    fn annotate(&mut self, line: &[u8]) {
        self.hand_over();
        if !self.sink.write(line) {
            self.failed = true;
        }
    }

    /// Between keys: closes the open range once it holds [`checksum::RANGE_MAX`] bytes
    /// (or, `last`, whatever it holds), so a command-form BASE is checked range by range.
    fn close_range(&mut self, last: bool) {
        let Some(digest) = self.digest else {
            return;
        };
        let held = digest.len + self.gathered.len() as u64;
        if held == 0 || (!last && held < checksum::RANGE_MAX) {
            return;
        }
        self.hand_over();
        if let Some(digest) = self.digest.replace(Digest::default()) {
            self.annotate(&checksum::close_line(digest, false));
        }
    }

    fn hand_over(&mut self) {
        let gathered = std::mem::take(&mut self.gathered);
        self.write(&gathered);
        self.gathered = gathered;
        self.gathered.clear();
    }
}

impl Sink for ChildBuffer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if bytes.len() >= DIRECT_PAYLOAD {
            self.hand_over();
            self.write(bytes);
            return;
        }
        if self.gathered.len() + bytes.len() > BUFFER_BYTES {
            self.hand_over();
        }
        self.gathered.extend_from_slice(bytes);
    }
}

/// The encoded rewrite, buffered in front of a rio.
pub struct RewriteOut<'s> {
    w: RecordWriter<ChildBuffer<'s>>,
}

impl<'s> RewriteOut<'s> {
    pub fn new(sink: &'s RioSink<'s>) -> RewriteOut<'s> {
        RewriteOut {
            w: RecordWriter::new(ChildBuffer {
                gathered: Vec::with_capacity(BUFFER_BYTES),
                sink,
                handed: 0,
                failed: false,
                digest: None,
            }),
        }
    }

    /// Hands everything gathered to the rio; false if any write so far failed.
    pub fn flush(&mut self) -> bool {
        let buffer = self.w.sink_mut();
        buffer.hand_over();
        !buffer.failed
    }

    /// Where a walk checks for a failed write (the buffer hands itself over when full).
    fn no_write_failed(&mut self) -> bool {
        !self.w.sink_mut().failed
    }

    /// Bytes produced so far (upstream's `processed_bytes` delta, for dismissObject).
    fn produced(&mut self) -> usize {
        let buffer = self.w.sink_mut();
        buffer.handed + buffer.gathered.len()
    }

    fn bulk(&mut self, value: StringValue<'_>) {
        self.w.bulk(arg(value));
    }

    fn bulk_bytes(&mut self, bytes: &[u8]) {
        self.w.bulk(Arg::Bytes(bytes));
    }

    fn bulk_double(&mut self, d: f64) {
        let mut digits = [0u8; 24];
        let len = value::format_double(d, &mut digits);
        self.w.bulk(Arg::Bytes(&digits[..len]));
    }

    /// The header of a batch of up to 64 items: `*<fixed + per_item * n>`, the command
    /// name and the key.
    fn batch_header(&mut self, command: &[u8], key: &[u8], items_left: u64, per_item: u64) {
        let items = items_left.min(ITEMS_PER_COMMAND);
        self.w.array_header((2 + items * per_item) as usize);
        self.bulk_bytes(command);
        self.bulk_bytes(key);
    }
}

/// Upstream's batching of variadic commands: a header before every 64th item, sized for
/// the items left (`*<2 + per_item * n>`, the command, the key).
struct Batches<'k> {
    command: &'static [u8],
    key: &'k [u8],
    per_item: u64,
    items_left: u64,
    in_batch: u64,
}

impl<'k> Batches<'k> {
    fn new(command: &'static [u8], key: &'k [u8], per_item: u64, items: u64) -> Batches<'k> {
        Batches {
            command,
            key,
            per_item,
            items_left: items,
            in_batch: 0,
        }
    }

    /// Call before writing each item.
    fn next_item(&mut self, out: &mut RewriteOut<'_>) {
        if self.in_batch == 0 {
            out.batch_header(self.command, self.key, self.items_left, self.per_item);
        }
        self.in_batch = (self.in_batch + 1) % ITEMS_PER_COMMAND;
        self.items_left -= 1;
    }
}

/// Upstream's `rioWriteBulkObject`: a string object as one bulk.
pub fn write_string_object(out: &mut RewriteOut<'_>, value: StringValue<'_>) {
    out.bulk(value);
}

pub fn write_list(out: &mut RewriteOut<'_>, key: &[u8], value: Value) -> bool {
    let mut batches = Batches::new(b"RPUSH", key, 1, value.list_len());
    value.for_each_list_element(|element| {
        batches.next_item(out);
        out.bulk(element);
        out.no_write_failed()
    })
}

pub fn write_set(out: &mut RewriteOut<'_>, key: &[u8], value: Value) -> bool {
    let mut batches = Batches::new(b"SADD", key, 1, value.set_len());
    value.for_each_set_member(|member| {
        batches.next_item(out);
        out.bulk(member);
        out.no_write_failed()
    })
}

pub fn write_sorted_set(out: &mut RewriteOut<'_>, key: &[u8], value: Value) -> bool {
    let mut batches = Batches::new(b"ZADD", key, 2, value.zset_len());
    value.for_each_zset_member(|score, member| {
        batches.next_item(out);
        out.bulk_double(score);
        out.bulk(member);
        out.no_write_failed()
    })
}

/// Hashes without field TTLs are batched HMSETs; with any TTL, each field gets its own
/// HMSET, followed by HPEXPIREAT when it has a TTL (upstream's form).
pub fn write_hash(out: &mut RewriteOut<'_>, key: &[u8], value: Value) -> bool {
    if value.hash_has_field_expiry() {
        return value.for_each_hash_field(|field, field_value, expire| {
            out.w.raw(b"*4\r\n$5\r\nHMSET\r\n");
            out.bulk_bytes(key);
            out.bulk(field);
            out.bulk(field_value);
            if let Some(at) = expire {
                out.w.raw(b"*6\r\n$10\r\nHPEXPIREAT\r\n");
                out.bulk_bytes(key);
                out.w.bulk(Arg::Int(at as i64));
                out.bulk_bytes(b"FIELDS");
                out.bulk_bytes(b"1");
                out.bulk(field);
            }
            out.no_write_failed()
        });
    }
    let mut batches = Batches::new(b"HMSET", key, 2, value.hash_len());
    value.for_each_hash_field(|field, field_value, _| {
        batches.next_item(out);
        out.bulk(field);
        out.bulk(field_value);
        out.no_write_failed()
    })
}

/// A stream ID as one bulk: `<ms>-<seq>`.
pub fn write_stream_id(out: &mut RewriteOut<'_>, id: StreamId) {
    let mut text = itoa::Buffer::new().format(id.ms).as_bytes().to_vec();
    text.push(b'-');
    text.extend_from_slice(itoa::Buffer::new().format(id.seq).as_bytes());
    out.bulk_bytes(&text);
}

/// `XCLAIM <key> <group> <consumer> 0 <id> TIME <ms> RETRYCOUNT <n> JUSTID FORCE`: puts a
/// pending entry back into its consumer's PEL.
pub fn write_pending_entry(
    out: &mut RewriteOut<'_>,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    pending: &Pending,
) {
    out.w.array_header(12);
    out.bulk_bytes(b"XCLAIM");
    out.bulk_bytes(key);
    out.bulk_bytes(group);
    out.bulk_bytes(consumer);
    out.bulk_bytes(b"0");
    write_stream_id(out, pending.id);
    out.bulk_bytes(b"TIME");
    out.w.bulk(Arg::Int(pending.delivery_time));
    out.bulk_bytes(b"RETRYCOUNT");
    out.w.bulk(Arg::Int(pending.delivery_count as i64));
    out.bulk_bytes(b"JUSTID");
    out.bulk_bytes(b"FORCE");
}

/// `XGROUP CREATECONSUMER <key> <group> <consumer>`: a consumer with nothing pending.
pub fn write_empty_consumer(out: &mut RewriteOut<'_>, key: &[u8], group: &[u8], consumer: &[u8]) {
    out.w.array_header(5);
    out.bulk_bytes(b"XGROUP");
    out.bulk_bytes(b"CREATECONSUMER");
    out.bulk_bytes(key);
    out.bulk_bytes(group);
    out.bulk_bytes(consumer);
}

/// A stream: its entries (or, when empty, the `XADD ... MAXLEN 0` trick that creates an
/// empty stream), `XSETID` for the last/max-deleted IDs, then each consumer group with
/// its consumers and pending entries.
pub fn write_stream(out: &mut RewriteOut<'_>, key: &[u8], value: Value) -> bool {
    let stream = StreamRef::of(value);
    if stream.length() > 0 {
        let ok = stream.for_each_entry(|id, fields| {
            out.w.array_header(3 + fields.len() * 2);
            out.bulk_bytes(b"XADD");
            out.bulk_bytes(key);
            write_stream_id(out, id);
            // Each pair is written before the next is read: the iterator may hand out
            // both from buffers its next step overwrites.
            while let Some((field, field_value)) = fields.next_pair() {
                out.bulk_bytes(field);
                out.bulk_bytes(field_value);
            }
            out.no_write_failed()
        });
        if !ok {
            return false;
        }
    } else {
        out.w.array_header(7);
        out.bulk_bytes(b"XADD");
        out.bulk_bytes(key);
        out.bulk_bytes(b"MAXLEN");
        out.bulk_bytes(b"0");
        write_stream_id(out, StreamId { ms: 0, seq: 1 });
        out.bulk_bytes(b"x");
        out.bulk_bytes(b"y");
    }
    // After the entries, so a deleted last ID is restored too.
    out.w.array_header(7);
    out.bulk_bytes(b"XSETID");
    out.bulk_bytes(key);
    write_stream_id(out, stream.last_id());
    out.bulk_bytes(b"ENTRIESADDED");
    out.w.bulk(Arg::Int(stream.entries_added() as i64));
    out.bulk_bytes(b"MAXDELETEDID");
    write_stream_id(out, stream.max_deleted_entry_id());

    stream.for_each_group(|group, last_id, entries_read, consumers| {
        out.w.array_header(7);
        out.bulk_bytes(b"XGROUP");
        out.bulk_bytes(b"CREATE");
        out.bulk_bytes(key);
        out.bulk_bytes(group);
        write_stream_id(out, last_id);
        out.bulk_bytes(b"ENTRIESREAD");
        out.w.bulk(Arg::Int(entries_read));
        consumers.for_each(|consumer, pending| {
            if pending.is_empty() {
                write_empty_consumer(out, key, group, consumer);
                return out.no_write_failed();
            }
            pending.for_each(|entry| {
                write_pending_entry(out, key, group, consumer, &entry);
                out.no_write_failed()
            })
        })
    }) && write_stream_idmp(out, key, &stream)
        && out.no_write_failed()
}

/// `XIDMPRECORD <key> <producer> <iid> <id>`: one IID an idempotent producer added.
pub fn write_idmp_entry(
    out: &mut RewriteOut<'_>,
    key: &[u8],
    producer: &[u8],
    iid: &[u8],
    id: StreamId,
) {
    out.w.array_header(5);
    out.bulk_bytes(b"XIDMPRECORD");
    out.bulk_bytes(key);
    out.bulk_bytes(producer);
    out.bulk_bytes(iid);
    write_stream_id(out, id);
}

/// Idempotent producers (8.6), after the groups: `XCFGSET` when the stream's IDMP settings
/// differ from the server's defaults (restored before the records, whose trimming they
/// govern), then one `XIDMPRECORD` per remembered IID whose entry still exists (the
/// command refuses an ID the stream no longer holds, which would stop the load).
#[cfg(stream_idmp)]
fn write_stream_idmp(out: &mut RewriteOut<'_>, key: &[u8], stream: &StreamRef<'_>) -> bool {
    let (duration, max_entries) = stream.idmp_settings();
    if duration != server::stream_idmp_duration() as u64
        || max_entries != server::stream_idmp_maxsize() as u64
    {
        out.w.array_header(6);
        out.bulk_bytes(b"XCFGSET");
        out.bulk_bytes(key);
        out.bulk_bytes(b"IDMP-DURATION");
        out.w.bulk(Arg::Int(duration as i64));
        out.bulk_bytes(b"IDMP-MAXSIZE");
        out.w.bulk(Arg::Int(max_entries as i64));
    }
    stream.for_each_idmp_entry(|producer, iid, id| {
        if stream.contains_entry(id) {
            write_idmp_entry(out, key, producer, iid, id);
        }
        out.no_write_failed()
    })
}

/// Releases before 8.6 have no idempotent producers.
#[cfg(not(stream_idmp))]
fn write_stream_idmp(_: &mut RewriteOut<'_>, _: &[u8], _: &StreamRef<'_>) -> bool {
    true
}

/// Upstream's `rewriteObject`: the commands that rebuild one key, its value, its expiry
/// (`PEXPIREAT`, when `expire` is not -1) and (8.6) its module key metadata. The rewrite
/// walks the keyspace through it; atomic slot migration streams keys through it too.
pub fn write_object(
    out: &mut RewriteOut<'_>,
    db: i32,
    key: &[u8],
    value: Value,
    expire: i64,
) -> bool {
    let ok = match value.value_type() {
        ValueType::String => {
            out.w.raw(b"*3\r\n$3\r\nSET\r\n");
            out.bulk_bytes(key);
            write_string_object(out, value.string());
            true
        }
        ValueType::List => write_list(out, key, value),
        ValueType::Set => write_set(out, key, value),
        ValueType::SortedSet => write_sorted_set(out, key, value),
        ValueType::Hash => write_hash(out, key, value),
        ValueType::Stream => write_stream(out, key, value),
        // The module's callback writes through a rio: one that appends to our buffer.
        ValueType::Module => module_value::with_key_object(key, |k| {
            let buffer = out.w.sink_mut();
            rio_sink::with_callback_rio(
                |bytes| {
                    buffer.put(bytes);
                    !buffer.failed
                },
                |rio| write_module_value(rio, k, value, db),
            )
        }),
    };
    if !ok {
        return false;
    }
    if expire != -1 {
        out.w.raw(b"*3\r\n$9\r\nPEXPIREAT\r\n");
        out.bulk_bytes(key);
        out.w.bulk(Arg::Int(expire));
    }
    write_key_metadata(out, db, key, value) && out.no_write_failed()
}

/// Upstream's `rewriteModuleObject`: a module value is rewritten by its type's own
/// `aof_rewrite` callback, writing through the module API into `sink`. False when the
/// callback reported an error, or when the type has none (the rewrite then fails with a
/// line naming the type and the key: [`aof_core::module_rewrite`] says why).
pub fn write_module_value(sink: &RioSink<'_>, key: &KeyObject<'_>, value: Value, db: i32) -> bool {
    match module_rewrite::verdict(value.call_module_aof_rewrite(sink, key, db)) {
        Verdict::Written => true,
        Verdict::Failed => false,
        Verdict::FailedNoCallback => {
            let key_name = match key.string() {
                StringValue::Bytes(b) => b.to_vec(),
                StringValue::Int(n) => n.to_string().into_bytes(),
            };
            let line = module_rewrite::no_callback_line(value.module_type_name(), &key_name, db);
            aof_glue::log::write(Level::Warning, line);
            false
        }
    }
}

/// The value's module key metadata, written by each metadata class's callback through a
/// rio that appends to the buffer (as a module type's value is).
#[cfg(key_metadata)]
fn write_key_metadata(out: &mut RewriteOut<'_>, db: i32, key: &[u8], value: Value) -> bool {
    if !value.has_module_metadata() {
        return true;
    }
    module_value::with_key_object(key, |k| {
        let buffer = out.w.sink_mut();
        rio_sink::with_callback_rio(
            |bytes| {
                buffer.put(bytes);
                !buffer.failed
            },
            |rio| module_value::rewrite_key_metadata(rio, k, value, db),
        )
    })
}

/// Releases before 8.6 have no key metadata.
#[cfg(not(key_metadata))]
fn write_key_metadata(_: &mut RewriteOut<'_>, _: i32, _: &[u8], _: Value) -> bool {
    true
}

/// One key of the rewrite walk: [`write_object`], then, in the fork child, the pages of
/// what was written may go back to the OS (upstream's `dismissObject`, told how many
/// bytes the key produced).
fn write_key(out: &mut RewriteOut<'_>, db: i32, key: &[u8], value: Value, expire: i64) -> bool {
    let before = out.produced();
    if !write_object(out, db, key, value, expire) {
        return false;
    }
    if server::in_fork_child() != 0 {
        value.dismiss(out.produced() - before);
    }
    true
}

/// The dataset could not be written to the sink: a write failed (`errno` says why, and the
/// caller reports it), or a value has no command form (logged where it was found).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteFailed;

/// Upstream's `rewriteAppendOnlyFileRio`: the timestamp annotation (when enabled), the
/// function libraries, then every db's keys.
pub fn rewrite_dataset(sink: &RioSink<'_>) -> Result<(), WriteFailed> {
    let mut out = RewriteOut::new(sink);
    // A command-form BASE written with checksums on carries them too (issue #31): the
    // child inherits the setting from the parent at the fork.
    if aof_glue::config::aof_checksum() {
        let buffer = out.w.sink_mut();
        buffer.annotate(checksum::BEGIN);
        buffer.digest = Some(Digest::default());
    }
    if server::aof_timestamp_enabled() != 0 {
        if let Some(ts) = crate::aof::write::next_timestamp_annotation(true) {
            out.w.timestamp_annotation(ts);
        }
    }
    let functions_ok = functions::for_each_function_library(|code| {
        out.w.raw(b"*3\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n");
        out.bulk_bytes(code);
        out.no_write_failed()
    });
    if !functions_ok {
        return Err(WriteFailed);
    }

    let (dbnum, key_delay) = (server::dbnum(), server::rdb_key_save_delay());
    let mut progress = Progress::new();
    let mut skipped: u64 = 0;
    for (db, keys) in (0..dbnum).filter_map(|index| Some((index, Db::of_index(index)?))) {
        if keys.size() == 0 {
            continue;
        }
        out.w.raw(b"*2\r\n$6\r\nSELECT\r\n");
        out.w.bulk(Arg::Int(db.into()));
        let ok = keyspace_walk::for_each_key(keys, &mut skipped, |key, value, expire| {
            if !write_key(&mut out, db, key.bytes(), value, expire) {
                return false;
            }
            out.w.sink_mut().close_range(false);
            if let Some(done) = progress.key_written(runtime::mstime) {
                child_info::report_keys_done(done as usize);
            }
            if key_delay != 0 {
                loading::debug_delay(key_delay);
            }
            true
        });
        if !ok {
            return Err(WriteFailed);
        }
    }
    // 8.6 reports the walk (slot migration's tests wait for this line); 8.0 does not.
    if cfg!(rewrite_done_log) {
        aof_glue::server_log!(
            Level::Notice,
            "AOF rewrite done, {} keys saved, {skipped} keys skipped.",
            progress.keys()
        );
    }
    out.w.sink_mut().close_range(true);
    if out.flush() {
        Ok(())
    } else {
        Err(WriteFailed)
    }
}

/// Upstream's `rewriteAppendOnlyFile`: writes the new BASE to `temp-rewriteaof-<pid>.aof`
/// and renames it to `filename` only once it is complete and fsynced.
pub fn rewrite_to_file(filename: &[u8]) -> Result<(), Reported> {
    let temp = aof_manifest::temp_rewrite_file_name(std::process::id().into());
    let mut file = match RioFile::create(temp.as_bytes()) {
        Ok(f) => f,
        Err(errno) => {
            aof_glue::server_log!(
                Level::Warning,
                "Opening the temp file for AOF rewrite in rewriteAppendOnlyFile(): {}",
                errno.message()
            );
            return Err(Reported);
        }
    };
    if server::aof_rewrite_incremental_fsync() != 0 {
        file.enable_incremental_fsync();
    }
    child_info::start_saving();

    let rdb_preamble = server::aof_use_rdb_preamble() != 0;
    if !rdb_preamble {
        file.unbuffered();
    }
    let written = if rdb_preamble {
        super::rdb_preamble::write(&mut file)
    } else if rewrite_dataset(&file.sink()).is_ok() {
        Ok(())
    } else {
        Err(Errno::last())
    };
    let written = written.and_then(|()| file.flush_and_sync());
    let written = written.map(|()| {
        if let Err(errno) = file.reclaim_page_cache() {
            aof_glue::server_log!(
                Level::Notice,
                "Unable to reclaim page cache: {}",
                errno.message()
            );
        }
    });
    let written = written.and_then(|()| file.close());
    if let Err(errno) = written {
        aof_glue::server_log!(
            Level::Warning,
            "Write error writing append only file on disk: {}",
            errno.message()
        );
        let _ = std::fs::remove_file(&temp);
        child_info::stop_saving(false);
        return Err(Reported);
    }

    if let Err(errno) = sys::rename(temp.as_bytes(), filename) {
        Line::new("Error moving temp append only file on the final destination: ")
            .text(&errno.message())
            .write(Level::Warning);
        let _ = std::fs::remove_file(&temp);
        child_info::stop_saving(false);
        return Err(Reported);
    }
    child_info::stop_saving(true);
    Ok(())
}
