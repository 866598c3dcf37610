//! Pipelined loading: a reading thread reads, frames and builds each command's argument
//! objects a bounded distance ahead of the main thread, which runs them in file order.
//!
//! The reading thread touches no server state: it owns the file and the framer and
//! builds string objects as upstream's IO threads build a query's (see
//! [`aof_glue::arg_pool::ArgPool`]). Everything else stays on the main thread, in file
//! order, exactly as in the one-thread loop of [`crate::aof::load_file`]: command lookup
//! and execution, the load machine (positions, MULTI/EXEC, endings), the cache hints,
//! serving clients, progress, truncation and every log line. The thread hands over
//! [`Item`]s that mirror the machine calls that loop makes, so both give the same
//! outcomes (the round-trip and corrupt-corpus tests run both).
//!
//! The reading thread also hashes each command's key for the cache hints, and frees the
//! argument objects the commands left to no one when their batch comes back: memory the
//! reading thread allocated returns to its own allocator cache, where freeing it on the
//! main thread would cross jemalloc's thread caches (which costs the main thread more than
//! building the objects).
//!
//! Memory in flight is bounded by a budget of file bytes, [`IN_FLIGHT_BUDGET`], plus the
//! batch being built and the command being read. A batch closes at [`BATCH_FILE_BYTES`]
//! of the file or [`BATCH_COMMANDS`] commands; at most [`BATCHES_QUEUED`] wait in the
//! channel; and a batch counts against the budget from its hand-over until it is back on
//! the reading thread with its spent objects, which the thread frees then (the main thread
//! returns each batch as soon as it has run it, before it waits for the next). After each
//! hand-over the thread waits for batches to come back while those in flight exceed the
//! budget, and before it reads a large argument that would take them past it, so a file of
//! many large arguments holds at most one of them beyond the budget, where without the
//! budget each queued batch could hold one (a large argument is read once, straight into
//! its own string, as without the thread). When nothing is in flight, anything goes: the
//! largest command is read whatever its size, as the one-thread loop reads it. Once the
//! thread has ended, the main thread frees each batch as it finishes it.
//!
//! The thread is scoped: [`with_reading_thread`] returns only after it has ended, on
//! every path. When the main thread stops early (a bad command), it drops its end of the
//! channel, and the thread ends at its next hand-over or wait for room.
//!
//! When: the thread pays only when it runs beside the main thread, so a load uses it only
//! when the server may run on two CPUs or more (its CPU affinity and cgroup quota, as
//! `std::thread::available_parallelism` reads them, at each load: `server-cpulist` is
//! applied after the start-up load). On one CPU the two threads would take turns on it,
//! and the hand-overs would make the load slower than the one-thread loop (figures:
//! `bench/MEASUREMENTS.md`, "The thread on one CPU").
//! The switch: `REDIS_AOF_LOAD_THREAD=no` in the server's environment at start-up turns
//! the thread off, `yes` turns it on whatever the CPUs (the variable is read once);
//! anything else, or nothing, leaves the choice to the CPUs.

use crate::aof::block_reader::BlockReader;
use aof_core::framer::{ArgStore, Frame, Framer};
use aof_core::load_machine::Stop;
use aof_glue::aof_client::AofClient;
use aof_glue::arena::Arena;
use aof_glue::arg_pool::ArgPool;
use aof_glue::prefetch::KeyHash;
use aof_glue::sys::Errno;
use aof_glue::unwritten::UnwrittenBytes;
use std::ops::Range;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender, TryRecvError};
use std::sync::OnceLock;

/// A batch closes once it holds this many bytes of the file...
pub const BATCH_FILE_BYTES: u64 = 256 << 10;
/// ...or this many commands.
pub const BATCH_COMMANDS: usize = 2048;
/// Batches the reading thread may finish before the main thread takes one.
pub const BATCHES_QUEUED: usize = 4;
/// File bytes the batches handed over and not back yet may hold before the reading thread
/// waits for some to come back. The queue, the batch the main thread runs and the one it
/// holds ahead for the hints fit in it with room to spare when their commands are small
/// (7 batches of 256 KiB, 1.75 MiB, and the command that closed each), so the budget
/// throttles only large commands.
pub const IN_FLIGHT_BUDGET: u64 = 4 << 20;

/// The environment variable that turns the reading thread off (`no`) or on (`yes`).
pub const SWITCH_VARIABLE: &str = "REDIS_AOF_LOAD_THREAD";

/// What the switch says: the thread off, on, or left to the CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Switch {
    Off,
    On,
    ByCpus,
}

impl Switch {
    fn of(value: Option<&[u8]>) -> Switch {
        match value {
            Some(b"no") => Switch::Off,
            Some(b"yes") => Switch::On,
            _ => Switch::ByCpus,
        }
    }
}

/// Whether this load uses the reading thread: the switch (read once, at the first load),
/// else whether two CPUs are there to run it beside the main thread.
pub fn enabled() -> bool {
    static SWITCH: OnceLock<Switch> = OnceLock::new();
    let switch = *SWITCH.get_or_init(|| {
        Switch::of(
            std::env::var_os(SWITCH_VARIABLE)
                .as_ref()
                .map(|v| v.as_encoded_bytes()),
        )
    });
    match switch {
        Switch::Off => false,
        Switch::On => true,
        Switch::ByCpus => std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2),
    }
}

/// What the reading thread hands over, in file order: the same steps the one-thread loop
/// takes on the load machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// An annotation of `consumed` bytes (the machine consumes it; nothing runs).
    Annotation { consumed: usize },
    /// A whole command: its argument objects in the batch's pool, its bytes (all its
    /// pieces), and the hash of its key (second argument) for the cache hints.
    Command {
        args: Range<usize>,
        consumed: usize,
        key_hash: Option<KeyHash>,
    },
    /// The reading stopped; `consumed` bytes of an unfinished command were consumed
    /// before it (the one-thread loop consumes pieces as they come). Always last.
    Stop { stop: Stop, consumed: usize },
    /// Reading the file failed. Always last.
    ReadFailed(Errno),
}

impl Item {
    fn ends_reading(&self) -> bool {
        matches!(self, Item::Stop { .. } | Item::ReadFailed(_))
    }
}

/// Items in file order and the argument objects of their commands.
struct Batch {
    items: Vec<Item>,
    args: ArgPool,
    /// The bytes of the file its items cover (set at the hand-over; for the budget).
    file_bytes: u64,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            items: Vec::with_capacity(BATCH_COMMANDS + 1),
            args: ArgPool::with_capacity(3 * BATCH_COMMANDS),
            file_bytes: 0,
        }
    }

    /// A batch with no room, which allocates nothing.
    fn empty() -> Batch {
        Batch {
            items: Vec::new(),
            args: ArgPool::with_capacity(0),
            file_bytes: 0,
        }
    }

    /// Frees the objects and forgets the items, keeping the room.
    fn clear(&mut self) {
        self.items.clear();
        self.args.clear();
        self.file_bytes = 0;
    }

    /// The item of a command whose objects are `args` in the pool, with its key's hash.
    fn command(&self, args: Range<usize>, consumed: usize) -> Item {
        let key_hash = (args.len() > 1)
            .then(|| self.args.arg(args.start + 1).map(KeyHash::of))
            .flatten();
        Item::Command {
            args,
            consumed,
            key_hash,
        }
    }

    /// The hash of item `index`'s key, for the cache hints.
    fn key_hash(&self, index: usize) -> Option<KeyHash> {
        match self.items.get(index)? {
            Item::Command { key_hash, .. } => *key_hash,
            _ => None,
        }
    }
}

/// The main thread's end: the batch being run and, when the thread has it ready, the
/// next one.
pub struct Feed {
    from_thread: Receiver<Batch>,
    /// Batches run, back to the reading thread, which frees their objects (see
    /// [`Feed::release_args`]) and reuses their room.
    to_thread: Sender<Batch>,
    current: Batch,
    /// Index in `current` of the next item to take.
    cursor: usize,
    ahead: Option<Batch>,
    /// Sequence number of the next item to take (items are numbered from 0 in file order).
    next_seq: u64,
}

/// Items the main thread wants to see beyond the one it runs, for the cache hints (their
/// depth and one more): the next batch is taken from the channel early when it is ready.
const PREFETCH_ITEMS: usize = crate::aof::replay_prefetch::DEPTH + 1;

impl Feed {
    /// The next item and its sequence number. A reading thread that ended without a last
    /// item cannot happen (it always sends one); it is reported as a failed read.
    pub fn take_next(&mut self) -> (u64, Item) {
        if self.cursor == self.current.items.len() {
            // Back first, then wait for the next: a reading thread waiting for room in
            // its budget may be waiting for this one. A thread that has ended leaves the
            // batch to be freed here.
            let done = std::mem::replace(&mut self.current, Batch::empty());
            let _ = self.to_thread.send(done);
            self.cursor = 0;
            self.current = match self.ahead.take() {
                Some(batch) => batch,
                None => match self.from_thread.recv() {
                    Ok(batch) => batch,
                    Err(_) => return (self.next_seq, Item::ReadFailed(Errno(libc::EIO))),
                },
            };
        }
        if self.ahead.is_none() && self.current.items.len() - self.cursor <= PREFETCH_ITEMS {
            match self.from_thread.try_recv() {
                Ok(batch) => self.ahead = Some(batch),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => {}
            }
        }
        let item = self.current.items[self.cursor].clone();
        self.cursor += 1;
        // The next command's objects, while this one runs.
        if let Some(Item::Command { args, .. }) = self.current.items.get(self.cursor) {
            self.current.args.hint(args.clone());
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        (seq, item)
    }

    /// Moves the argument objects of the command just taken to `client`.
    pub fn take_args(&mut self, client: &mut AofClient, args: Range<usize>) {
        client.take_args(&mut self.current.args, args);
    }

    /// Releases the arguments of the command that ran: the objects the command left to
    /// no one go back with the batch, to be freed by the thread that built them.
    pub fn release_args(&mut self, client: &mut AofClient) {
        client.release_args_into(&mut self.current.args);
    }

    /// The hash of item `seq`'s key (`Some(None)`: an item without one), if it was handed
    /// over and not taken yet.
    pub fn key_hash(&self, seq: u64) -> Option<Option<KeyHash>> {
        let offset = usize::try_from(seq.checked_sub(self.next_seq)?).ok()?;
        let in_current = self.current.items.len() - self.cursor;
        if offset < in_current {
            let index = self.cursor + offset;
            return Some(self.current.key_hash(index));
        }
        let ahead = self.ahead.as_ref()?;
        let index = offset - in_current;
        (index < ahead.items.len()).then(|| ahead.key_hash(index))
    }
}

/// Runs `replay` with a reading thread working on `reader` with `framer` (set up for the
/// file: where its commands start, its checksum plan), and returns what it returns once
/// the thread has ended. `Err`: the thread could not be started (the caller replays on
/// its own thread instead, with the same reader and framer).
pub fn with_reading_thread<R>(
    reader: BlockReader,
    framer: Framer,
    replay: impl FnOnce(&mut Feed) -> R,
) -> Result<R, Box<(BlockReader, Framer)>> {
    let (to_main, from_thread) = sync_channel::<Batch>(BATCHES_QUEUED);
    // Unbounded, but holds no more than the batches handed over: each comes back once.
    let (to_thread, from_main) = channel::<Batch>();
    // The reader goes to the thread only once it runs, so a failed start keeps it.
    let (give_reader, take_reader) = sync_channel::<(BlockReader, Framer)>(1);
    // The objects the thread builds go into the dataset: from the main thread's arena, as
    // the one-thread load allocates them (see aof_glue::arena).
    let arena = Arena::of_this_thread();
    std::thread::scope(|scope| {
        let started = std::thread::Builder::new()
            .name("aof-load-read".into())
            .spawn_scoped(scope, move || {
                if let Some(arena) = arena {
                    arena.bind_this_thread();
                }
                if let Ok((reader, framer)) = take_reader.recv() {
                    read_ahead(reader, framer, &to_main, &from_main);
                }
            });
        if started.is_err() {
            return Err(Box::new((reader, framer)));
        }
        give_reader
            .send((reader, framer))
            .unwrap_or_else(|_| unreachable!("the thread waits for the reader"));
        let mut feed = Feed {
            from_thread,
            to_thread,
            current: Batch::empty(),
            cursor: 0,
            ahead: None,
            next_seq: 0,
        };
        let result = replay(&mut feed);
        // Unblocks a thread waiting to hand over a batch; what was handed over and not
        // run (after an early stop) is freed here.
        drop(feed);
        Ok(result)
    })
}

/// The reading thread's account of the batches it handed over: the file bytes they hold
/// until they come back, and the room of the last one back, for reuse.
struct InFlight<'r> {
    from_main: &'r Receiver<Batch>,
    file_bytes: u64,
    spare: Option<Batch>,
}

impl InFlight<'_> {
    fn handed_over(&mut self, file_bytes: u64) {
        self.file_bytes += file_bytes;
    }

    /// A batch back from the main thread: its spent objects are freed here, where they
    /// were allocated.
    fn came_back(&mut self, mut batch: Batch) {
        self.file_bytes -= batch.file_bytes;
        batch.clear();
        self.spare = Some(batch);
    }

    /// Takes back, without waiting, what the main thread has returned; then, while `more`
    /// bytes would take what is in flight past [`IN_FLIGHT_BUDGET`], waits for more to
    /// come back (nothing in flight: anything fits). `false`: the main thread stopped
    /// taking items (it frees what it holds).
    fn make_room(&mut self, more: u64) -> bool {
        while let Ok(batch) = self.from_main.try_recv() {
            self.came_back(batch);
        }
        while self.file_bytes > 0 && self.file_bytes + more > IN_FLIGHT_BUDGET {
            match self.from_main.recv() {
                Ok(batch) => self.came_back(batch),
                Err(_) => return false,
            }
        }
        true
    }

    /// An empty batch to fill next: the room of one back, or a new one.
    fn next_batch(&mut self) -> Batch {
        self.spare.take().unwrap_or_else(Batch::new)
    }
}

/// The batch the reading thread fills, as the framer's store: arguments go into its
/// pool; a large argument waits for room in the budget first.
struct Filling<'r> {
    batch: Batch,
    in_flight: InFlight<'r>,
    /// The bytes of the file the batch's items cover so far.
    batch_bytes: u64,
}

/// The main thread stopped taking items (see [`InFlight::make_room`]).
struct MainStopped;

impl ArgStore<BlockReader> for Filling<'_> {
    type Declined = MainStopped;

    #[inline]
    fn push(&mut self, arg: &[u8]) {
        self.batch.args.push(arg);
    }

    #[inline]
    fn push_spans(&mut self, window: &[u8], spans: &[Range<usize>]) {
        self.batch.args.push_spans(window, spans);
    }

    #[inline]
    fn push_payload<E>(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut UnwrittenBytes<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.batch.args.push_filled(len, fill)
    }

    /// What this batch holds once the argument is read, besides what is in flight: wait
    /// for room first.
    #[inline]
    fn before_payload(&mut self, command_bytes: u64) -> Result<(), MainStopped> {
        if self.in_flight.make_room(self.batch_bytes + command_bytes) {
            Ok(())
        } else {
            Err(MainStopped)
        }
    }
}

/// The reading thread: frames the file and hands over batches of items until the
/// reading stops or the main thread stops taking them.
fn read_ahead(
    mut reader: BlockReader,
    mut framer: Framer,
    to_main: &SyncSender<Batch>,
    from_main: &Receiver<Batch>,
) {
    let mut filling = Filling {
        batch: Batch::new(),
        in_flight: InFlight {
            from_main,
            file_bytes: 0,
            spare: None,
        },
        batch_bytes: 0,
    };
    let mut batch_commands = 0usize;
    // Where the current command's objects start in the batch's pool. A batch is handed
    // over only between items, so a command's pieces all land in one pool.
    let mut args_start = 0usize;
    loop {
        let item = match framer.next(&mut reader, &mut filling, || {}) {
            Frame::Command { consumed } => filling
                .batch
                .command(args_start..filling.batch.args.len(), consumed),
            Frame::Annotation { consumed } => Item::Annotation { consumed },
            // The pieces of an unfinished command consumed before the stop (and, when a
            // large payload came short, not that piece: the one-thread loop has not
            // consumed it then either).
            Frame::Stop { stop, consumed } => Item::Stop { stop, consumed },
            Frame::ReadFailed(errno) => Item::ReadFailed(errno),
            Frame::Declined(MainStopped) => return,
        };
        let last = item.ends_reading();
        match &item {
            Item::Command { consumed, .. } => {
                batch_commands += 1;
                filling.batch_bytes += *consumed as u64;
            }
            Item::Annotation { consumed } => filling.batch_bytes += *consumed as u64,
            _ => {}
        }
        filling.batch.items.push(item);
        args_start = filling.batch.args.len();
        if last || filling.batch_bytes >= BATCH_FILE_BYTES || batch_commands >= BATCH_COMMANDS {
            let batch_bytes = std::mem::take(&mut filling.batch_bytes);
            filling.batch.file_bytes = batch_bytes;
            filling.in_flight.handed_over(batch_bytes);
            let full = std::mem::replace(&mut filling.batch, Batch::empty());
            // Handed over at once (holding it back frees nothing); then room for the next
            // batch before reading on. Stop when the main thread stopped taking items (it
            // frees what it was sent), or the reading is over.
            if to_main.send(full).is_err() || last || !filling.in_flight.make_room(0) {
                return;
            }
            filling.batch = filling.in_flight.next_batch();
            batch_commands = 0;
            args_start = 0;
        }
    }
}

#[cfg(test)]
mod switch_tests {
    use super::Switch;

    #[test]
    fn only_no_and_yes_override_the_cpus() {
        assert_eq!(Switch::of(Some(b"no")), Switch::Off);
        assert_eq!(Switch::of(Some(b"yes")), Switch::On);
        for other in [&b""[..], b"NO", b"0", b"off", b"true"] {
            assert_eq!(Switch::of(Some(other)), Switch::ByCpus);
        }
        assert_eq!(Switch::of(None), Switch::ByCpus);
    }
}
