//! Replaying one AOF file (upstream's `loadSingleAppendOnlyFile`).
//!
//! The file is read in large blocks and framed in place by [`aof_core::framer`] (the
//! [`BlockReader`] its window, the AOF client's argument vector its store, as on the
//! reading thread, [`read_ahead`], with the batch as the store); arguments become string
//! objects straight from the read buffer (one allocation for small strings), and an
//! argument too large for the buffer is read from the file straight into its own string,
//! so the buffer never grows: loading a value of N bytes takes N bytes and a constant, as
//! upstream's. The bookkeeping (position, the offset a short file is cut back to,
//! MULTI/EXEC, how the replay ended and what `aof-load-truncated` makes of it) is
//! [`aof_core::load_machine`]'s; this module does
//! what touches Redis: files, the RDB part, the AOF client, command lookup and execution,
//! progress, serving clients, cutting the file, and upstream's log lines. Outcomes:
//! - a clean end: `Ok` (an unfinished MULTI at the end is reverted like a short read);
//! - a short read at the end: with `aof-load-truncated yes` the file is cut back to the
//!   end of the last complete command and `Truncated` is returned, else `Failed`;
//! - bad framing or an unknown command: `Failed`, the file untouched.

use crate::aof::block_reader::{BlockReader, FileSource};
use crate::aof::checksum;
use crate::aof::files;
use crate::aof::rdb_read_ahead;
use crate::aof::read_ahead::{self, Feed, Item};
use crate::aof::replay_prefetch::UpcomingPrefetch;
use crate::aof::status::LoadStatus;
use aof_core::checksum::TailPlan;
use aof_core::framer::{ArgStore, Frame, Framer, ReadWindow};
use aof_core::load_machine::{
    self, CommandKind, CorruptTail, LoadMachine, ShortFile, Stop, Verdict,
};
use aof_glue::aof_client::AofClient;
use aof_glue::command::Command;
use aof_glue::current_client::CurrentAofClient;
use aof_glue::log::{Level, Line};
use aof_glue::sys::{self, Errno};
use aof_glue::unwritten::UnwrittenBytes;
use aof_glue::{loading, process, server};
use std::convert::Infallible;
use std::fs::File;
use std::io::Read;
use std::ops::Range;

/// Clients are served (and progress reported) once per this many items.
const ITEMS_BETWEEN_EVENTS: u64 = 1024;
/// How a file's replay ended, before upstream's reporting turns it into a status.
enum Ending {
    /// The reading stopped by itself (a clean end, a short file, bad framing): the
    /// machine's ending.
    Replayed(load_machine::Ending),
    ReadFailed(Errno),
    UnknownCommand(Vec<u8>),
    /// A command with more or fewer arguments than it takes. Upstream runs it anyway and
    /// its implementation reads past the argument vector (a crash, or worse); refused
    /// here with a line that names it, the file left as it is.
    WrongArity(Vec<u8>),
    RdbFailed,
}

/// Upstream's `loadSingleAppendOnlyFile`.
pub fn load_single_file(name: &[u8]) -> LoadStatus {
    load_file(name, ShortFile::MayCut)
}

/// Loads one file; `short_file` says whether a short one may be cut back.
pub fn load_file(name: &[u8], short_file: ShortFile) -> LoadStatus {
    let path = files::path_in_aof_dir(name);
    let file = match File::open(sys::os_path(&path)) {
        Ok(f) => f,
        Err(open_err) => {
            let open_errno = Errno::from_io_or_zero(&open_err);
            return match std::fs::metadata(sys::os_path(&path)) {
                Err(stat_err) if stat_err.raw_os_error() == Some(libc::ENOENT) => {
                    Line::new("The append log file ")
                        .bytes(name)
                        .text(" doesn't exist: ")
                        .text(&Errno(libc::ENOENT).message())
                        .write(Level::Warning);
                    LoadStatus::NotExist
                }
                _ => {
                    Line::new("Fatal error: can't open the append log file ")
                        .bytes(name)
                        .text(" for reading: ")
                        .text(&open_errno.message())
                        .write(Level::Warning);
                    LoadStatus::OpenErr
                }
            };
        }
    };
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    if file_len == 0 {
        return LoadStatus::Empty;
    }

    // 8.6 drops a loaded file's pages from the page cache once it is done with it, on the
    // bio thread, through a second descriptor (whatever the outcome; not for an empty file).
    #[cfg(load_reclaims_page_cache)]
    let reclaim = file.try_clone().ok().map(std::os::fd::OwnedFd::from);
    // While replaying, EXEC must not feed a MULTI into the very file being read.
    let old_aof_state = server::aof_state();
    server::set_aof_state(server::AofState::Off);
    let client = aof_client().into_current();
    let mut replay = Replay::new(name, client);
    replay.last_file = short_file == ShortFile::MayCut;
    let ending = replay.run(file, file_len, &path);
    // A command that cannot run, in a file whose later checksummed ranges verify: the
    // bytes before them are damaged (upstream's line names the command; this one says
    // it is corruption and where).
    if let (Ending::UnknownCommand(_) | Ending::WrongArity(_), Some(plan)) = (&ending, replay.plan)
    {
        if replay.machine.position() < plan.boundary {
            checksum::unrunnable_line(&path, replay.machine.position(), plan.boundary);
        }
    }
    let status = report(name, &path, ending, short_file, file_len);
    if status == LoadStatus::Ok || status.is_cut() {
        loading::add_progress((replay.machine.position() - replay.progress_reported) as i64);
        server::set_aof_state(old_aof_state);
    }
    // The server's current client is the previous one again before this one is freed.
    drop(replay);
    #[cfg(load_reclaims_page_cache)]
    if let Some(fd) = reclaim {
        aof_glue::runtime::bio_reclaim_and_close(fd);
    }
    status
}

/// The last command looked up, by its exact name: an AOF repeats the same few commands.
/// Only one of the server's own commands is kept ([`Command::is_native`]: a module's may
/// be freed by a MODULE UNLOAD in the file, after which upstream's lookup finds nothing),
/// and only one found by its name alone: a container's lookup depends on the argument
/// after the name (`FUNCTION LOAD` and `FUNCTION DELETE` are two commands).
#[derive(Default)]
struct LastCommand {
    name: Vec<u8>,
    command: Option<Command>,
}

impl LastCommand {
    /// The command the client's arguments name: the one kept when the name is the same,
    /// else the command table's (kept for next time when it may be).
    #[inline]
    fn look_up(&mut self, client: &AofClient) -> Option<Command> {
        let name = client.arg(0)?;
        self.found_again(name).or_else(|| {
            let cmd = client.lookup_command()?;
            self.remember(name, cmd);
            Some(cmd)
        })
    }

    fn found_again(&self, name: &[u8]) -> Option<Command> {
        self.command.filter(|_| self.name == name)
    }

    fn remember(&mut self, name: &[u8], command: Command) {
        if !command.is_native() || !command.is_found_by_name_alone() {
            return;
        }
        self.name.clear();
        self.name.extend_from_slice(name);
        self.command = Some(command);
    }
}

/// The state of one file's replay.
struct Replay<'n> {
    name: &'n [u8],
    client: CurrentAofClient,
    framer: Framer,
    last_command: LastCommand,
    prefetch: UpcomingPrefetch,
    /// Position, cut-back offset, MULTI/EXEC: everything the replay decides by.
    machine: LoadMachine,
    progress_reported: u64,
    items: u64,
    /// The checksum plan the replay runs under (issue #31).
    plan: Option<TailPlan>,
    /// The last file of the load (the only one that may end in a torn append).
    last_file: bool,
}

impl<'n> Replay<'n> {
    fn new(name: &'n [u8], client: CurrentAofClient) -> Replay<'n> {
        Replay {
            name,
            client,
            framer: Framer::new(),
            last_command: LastCommand::default(),
            prefetch: UpcomingPrefetch::new(),
            machine: LoadMachine::new(0),
            progress_reported: 0,
            items: 0,
            plan: None,
            last_file: true,
        }
    }

    fn run(&mut self, mut file: File, file_len: u64, path: &[u8]) -> Ending {
        let mut signature = [0u8; 5];
        let is_rdb = file.read_exact(&mut signature).is_ok() && &signature == b"REDIS";
        let start = if is_rdb {
            match self.load_rdb_part(path) {
                Ok(end) => end,
                Err(ending) => return ending,
            }
        } else {
            0
        };
        if let Err(errno) = seek(&mut file, start) {
            return Ending::ReadFailed(errno);
        }
        self.machine = LoadMachine::new(start);
        // Checksummed ranges (issue #31): the last verified boundary and whether what
        // follows it is a torn append are decided first, so that a torn tail's commands
        // are never run; the replay then reads no further than that boundary.
        self.plan = checksum::plan(&file, start, file_len);
        // Only the last file can end in a torn append: in an earlier one the writer moved
        // on to the next file, so its failing last range is corruption (the replay meets
        // it and fails there).
        if !self.last_file {
            if let Some(plan) = &mut self.plan {
                plan.torn = false;
            }
        }
        self.framer.start_at(start, self.plan);
        let read_len = match self.plan {
            Some(plan) if plan.torn => plan.boundary,
            _ => file_len,
        };
        self.replay_commands(BlockReader::new(FileSource(file), read_len, start))
    }

    /// An RDB BASE (or old RDB preamble) goes through upstream's RDB loader; commands may
    /// follow it (old style only, but any file is read on to its end).
    fn load_rdb_part(&mut self, path: &[u8]) -> Result<u64, Ending> {
        let old_style = self.name == server::aof_filename();
        aof_glue::server_log!(
            Level::Notice,
            "{}",
            if old_style {
                "Reading RDB preamble from AOF file..."
            } else {
                "Reading RDB base file on AOF loading..."
            }
        );
        let loaded = read_ahead::enabled()
            .then(|| rdb_read_ahead::load(path))
            .flatten()
            .map(|loaded| match loaded {
                Ok(Some(end)) => Ok(end),
                Ok(None) => Err(0),
                Err(errno) => Err(errno.0),
            })
            .unwrap_or_else(|| loading::load_rdb_file(path));
        match loaded {
            Ok(end) => {
                loading::set_absolute_progress(end as i64);
                self.progress_reported = end;
                if old_style {
                    aof_glue::server_log!(Level::Notice, "Reading the remaining AOF tail...");
                }
                Ok(end)
            }
            Err(_) => {
                let what = if old_style {
                    "Error reading the RDB preamble of the AOF file "
                } else {
                    "Error reading the RDB base file "
                };
                Line::new(what)
                    .bytes(self.name)
                    .text(", AOF loading aborted")
                    .write(Level::Warning);
                Err(Ending::RdbFailed)
            }
        }
    }

    fn replay_commands(&mut self, reader: BlockReader) -> Ending {
        let ending = if read_ahead::enabled() {
            let framer = std::mem::take(&mut self.framer);
            match read_ahead::with_reading_thread(reader, framer, |feed| self.replay_items(feed)) {
                Ok(ending) => ending,
                Err(unstarted) => {
                    let (mut reader, framer) = *unstarted;
                    self.framer = framer;
                    self.replay_commands_until_end(&mut reader)
                }
            }
        } else {
            let mut reader = reader;
            self.replay_commands_until_end(&mut reader)
        };
        // A command cut off by the end (or an error) leaves the pieces read so far.
        self.client.free_argv();
        ending
    }

    fn replay_commands_until_end(&mut self, reader: &mut BlockReader) -> Ending {
        let key_load_delay = server::key_load_delay();
        let stop = loop {
            let items = self.items;
            let (machine, progress_reported) = (&self.machine, &mut self.progress_reported);
            // Clients are served before an item's first parse, again after each refill its
            // first line needed, never inside a command.
            let frame = self
                .framer
                .next(reader, &mut ClientArgs(&mut self.client), || {
                    if items.is_multiple_of(ITEMS_BETWEEN_EVENTS) {
                        serve_clients(machine, progress_reported);
                    }
                });
            match frame {
                Frame::Command { consumed } => {
                    self.items += 1;
                    let found = self.last_command.look_up(&self.client);
                    self.machine.consumed(consumed);
                    self.hint_upcoming(reader);
                    let ran = self.run_command(found, key_load_delay);
                    self.client.free_argv();
                    if let Err(ending) = ran {
                        return ending;
                    }
                }
                Frame::Annotation { consumed } => {
                    self.items += 1;
                    self.machine.consumed(consumed);
                }
                Frame::Stop { stop, consumed } => {
                    self.machine.consumed(consumed);
                    break stop;
                }
                Frame::ReadFailed(errno) => return Ending::ReadFailed(errno),
                Frame::Declined(never) => match never {},
            }
        };
        self.finish_replay(stop)
    }

    /// The reading stopped: how the replay ended, with upstream's line for a reverted
    /// MULTI.
    fn finish_replay(&mut self, stop: Stop) -> Ending {
        // The machine follows MULTI/EXEC from what each command was; the client's own
        // flag is the truth upstream decides by.
        process::assert(
            self.machine.in_multi() == self.client.in_multi(),
            c"the load machine's MULTI state is the AOF client's",
        );
        if stop == Stop::TornTail {
            if let Some(plan) = self.plan {
                checksum::torn_tail_line(self.name, plan.boundary);
            }
        }
        let ending = self.machine.finish(stop);
        if let load_machine::Ending::Short {
            reverted_multi: true,
            ..
        } = ending
        {
            Line::new("Revert incomplete MULTI/EXEC transaction in AOF file ")
                .bytes(self.name)
                .write(Level::Warning);
        }
        Ending::Replayed(ending)
    }

    /// The pipelined replay: the reading thread's items (see [`read_ahead`]), run in file
    /// order with the same machine steps, events and checks as
    /// [`replay_commands_until_end`](Self::replay_commands_until_end).
    fn replay_items(&mut self, feed: &mut Feed) -> Ending {
        let key_load_delay = server::key_load_delay();
        let stop = loop {
            if self.items.is_multiple_of(ITEMS_BETWEEN_EVENTS) {
                serve_clients(&self.machine, &mut self.progress_reported);
            }
            let (seq, item) = feed.take_next();
            match item {
                Item::Annotation { consumed } => {
                    self.items += 1;
                    self.machine.consumed(consumed);
                }
                Item::Command { args, consumed, .. } => {
                    self.items += 1;
                    feed.take_args(&mut self.client, args);
                    let found = self.last_command.look_up(&self.client);
                    self.machine.consumed(consumed);
                    self.prefetch
                        .before_running_item(self.client.db(), seq, |seq| feed.key_hash(seq));
                    let ran = self.run_command(found, key_load_delay);
                    feed.release_args(&mut self.client);
                    if let Err(ending) = ran {
                        return ending;
                    }
                }
                Item::Stop { stop, consumed } => {
                    self.machine.consumed(consumed);
                    break stop;
                }
                Item::ReadFailed(errno) => return Ending::ReadFailed(errno),
            }
        };
        self.finish_replay(stop)
    }

    /// The cache hints before running the command that ends where the window starts.
    #[inline(always)]
    fn hint_upcoming(&mut self, reader: &BlockReader) {
        self.prefetch
            .before_running(self.client.db(), reader.window(), self.machine.position());
    }

    /// Runs the command whose arguments the client holds (`found`: already looked up),
    /// which ended at the machine's position. Inlined into both callers: it is the
    /// per-command path of the replay loop.
    #[inline(always)]
    fn run_command(&mut self, found: Option<Command>, key_load_delay: i32) -> Result<(), Ending> {
        let args_len = self.client.argc();
        let Some(cmd) = found.or_else(|| self.client.lookup_command()) else {
            return Err(Ending::UnknownCommand(self.client.command_name()));
        };
        if !cmd.accepts_argc(args_len) {
            return Err(Ending::WrongArity(self.client.command_name()));
        }
        let kind = if cmd.is_multi() {
            CommandKind::Multi
        } else if cmd.is_exec() {
            CommandKind::Exec
        } else {
            CommandKind::Other
        };
        self.client.execute(cmd);
        self.machine.executed(kind);
        if key_load_delay != 0 {
            loading::debug_delay(key_load_delay);
        }
        Ok(())
    }
}

/// Between items, every [`ITEMS_BETWEEN_EVENTS`]: reports progress (the machine's
/// position; `progress_reported` is what was reported so far), serves clients and applies
/// a planned keyspace size once the tables exist.
fn serve_clients(machine: &LoadMachine, progress_reported: &mut u64) {
    let position = machine.position();
    loading::add_progress((position - *progress_reported) as i64);
    *progress_reported = position;
    loading::serve_clients();
    crate::aof::presize::apply_planned();
}

/// The AOF client's argument vector, where the one-thread replay's framer puts each
/// command's arguments.
/// Upstream's `createAOFClient`: the fake client a replay runs commands in (also what C
/// callers get from the export; module code and tests create one the same way).
pub fn aof_client() -> AofClient {
    AofClient::create()
}

struct ClientArgs<'c>(&'c mut AofClient);

impl ArgStore<BlockReader> for ClientArgs<'_> {
    type Declined = Infallible;

    #[inline]
    fn push(&mut self, arg: &[u8]) {
        self.0.push_args(std::iter::once(arg));
    }

    #[inline]
    fn push_spans(&mut self, window: &[u8], spans: &[Range<usize>]) {
        self.0
            .push_args(spans.iter().map(|span| &window[span.clone()]));
    }

    #[inline]
    fn push_payload<E>(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut UnwrittenBytes<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.0.push_filled_arg(len, fill)
    }
}

fn seek(file: &mut File, offset: u64) -> Result<(), Errno> {
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(offset))
        .map(|_| ())
        .map_err(|e| Errno::from_io_or_eio(&e))
}

/// Turns how the replay ended into upstream's status, with upstream's log lines, cutting
/// a short file back when the machine's verdict says so.
fn report(
    name: &[u8],
    path: &[u8],
    ending: Ending,
    short_file: ShortFile,
    file_len: u64,
) -> LoadStatus {
    let ending = match ending {
        Ending::Replayed(ending) => ending,
        Ending::RdbFailed => return LoadStatus::Failed,
        Ending::UnknownCommand(command) => {
            Line::new("Unknown command '")
                .bytes(&command)
                .text("' reading the append only file ")
                .bytes(name)
                .write(Level::Warning);
            return LoadStatus::Failed;
        }
        Ending::WrongArity(command) => {
            Line::new("Wrong number of arguments for command '")
                .bytes(&command)
                .text("' reading the append only file ")
                .bytes(name)
                .write(Level::Warning);
            return LoadStatus::Failed;
        }
        Ending::ReadFailed(errno) => {
            Line::new("Unrecoverable error reading the append only file ")
                .bytes(name)
                .text(": ")
                .text(&errno.message())
                .write(Level::Warning);
            return LoadStatus::Failed;
        }
    };
    let corrupt_tail = CorruptTail {
        max_size: corrupt_tail_max_size(),
        file_len,
    };
    let load_truncated = server::aof_load_truncated() != 0;
    // Upstream tracks the offset it names only while either setting is on; else it says 0.
    let tracked = load_truncated || corrupt_tail.max_size != 0;
    match ending.verdict_with(load_truncated, corrupt_tail, short_file) {
        Verdict::Loaded => return LoadStatus::Ok,
        Verdict::Corrupt(failure) => {
            checksum::corruption_line(path, failure);
            return LoadStatus::Failed;
        }
        Verdict::BadFormat => {
            bad_format(name, path, ending, file_len, tracked);
            return LoadStatus::Failed;
        }
        Verdict::CutCorruptTail { to, remaining } => {
            corrupt_tail_warning();
            Line::new("!!! Truncating the AOF ")
                .bytes(path)
                .text(&format!(" at offset {to} (remaining {remaining}) !!!"))
                .write(Level::Warning);
            if cut_file(path, to) {
                Line::new("AOF ")
                    .bytes(path)
                    .text(" loaded anyway because aof-load-corrupt-tail-max-size is enabled")
                    .write(Level::Warning);
                return LoadStatus::BrokenRecovered;
            }
            bad_format(name, path, ending, file_len, tracked);
            return LoadStatus::Failed;
        }
        Verdict::ShortRefused => {}
        Verdict::ShortKept => {
            short_read_warning(name);
            return LoadStatus::Truncated;
        }
        Verdict::CutBack { to } => {
            short_read_warning(name);
            if truncate_short_file(name, path, to) {
                return LoadStatus::Truncated;
            }
        }
    }
    Line::new("Unexpected end of file reading the append only file ")
        .bytes(name)
        .text(
            ". You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix \
             <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' \
             configuration option to yes and restart the server.",
        )
        .write(Level::Warning);
    LoadStatus::Failed
}

/// 8.4's `aof-load-corrupt-tail-max-size` (0, forgiving nothing, before 8.4).
fn corrupt_tail_max_size() -> u64 {
    #[cfg(corrupt_tail_recovery)]
    let limit = server::aof_load_corrupt_tail_max_size().max(0) as u64;
    #[cfg(not(corrupt_tail_recovery))]
    let limit = 0;
    limit
}

/// Upstream's line for bad framing that is not forgiven: 8.4 names the full path, the
/// offset of the last command that ran and the size of the rest (for the setting it
/// suggests); 8.0 the file's name only.
fn bad_format(
    name: &[u8],
    path: &[u8],
    ending: load_machine::Ending,
    file_len: u64,
    tracked: bool,
) {
    if cfg!(corrupt_tail_recovery) {
        let valid_up_to = match ending {
            load_machine::Ending::BadFormat { valid_up_to, .. } if tracked => valid_up_to,
            _ => 0,
        };
        // Upstream's literal continues over two source lines with `\`, which keeps the
        // next line's indentation: hence the runs of spaces.
        Line::new("Bad file format reading the append only file ")
            .bytes(path)
            .text(&format!(
                " at offset {valid_up_to}.          make a backup of your AOF file, then use \
                 ./redis-check-aof --fix <filename.manifest>.          Alternatively you can \
                 set the 'aof-load-corrupt-tail-max-size' configuration option to {} and \
                 restart the server.",
                file_len.saturating_sub(valid_up_to)
            ))
            .write(Level::Warning);
    } else {
        Line::new("Bad file format reading the append only file ")
            .bytes(name)
            .text(": make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>")
            .write(Level::Warning);
    }
}

fn corrupt_tail_warning() {
    Line::new("!!! Warning: corrupt AOF file tail!!!").write(Level::Warning);
}

/// A short file `aof-load-truncated` forgives.
fn short_read_warning(name: &[u8]) {
    Line::new("!!! Warning: short read while loading the AOF file ")
        .bytes(name)
        .text("!!!")
        .write(Level::Warning);
}

/// Cuts the file back to `valid_up_to` and points `aof_fd` at the new end. Returns
/// whether loading may go on.
fn truncate_short_file(name: &[u8], path: &[u8], valid_up_to: u64) -> bool {
    Line::new("!!! Truncating the AOF ")
        .bytes(name)
        .text(&format!(" at offset {valid_up_to} !!!"))
        .write(Level::Warning);
    // 8.4 names the file by its full path in these lines, 8.0 by its name.
    let named = if cfg!(corrupt_tail_recovery) {
        path
    } else {
        name
    };
    if !cut_file_naming(path, named, valid_up_to) {
        return false;
    }
    Line::new("AOF ")
        .bytes(named)
        .text(" loaded anyway because aof-load-truncated is enabled")
        .write(Level::Warning);
    true
}

/// Upstream's `truncateAppendOnlyFile` (8.4): cuts the file at `path` back to `to` and
/// points `aof_fd` at the new end, naming the file by its path in any error line.
fn cut_file(path: &[u8], to: u64) -> bool {
    cut_file_naming(path, path, to)
}

fn cut_file_naming(path: &[u8], named: &[u8], to: u64) -> bool {
    if let Err(errno) = sys::truncate(path, to) {
        Line::new("Error truncating the AOF file ")
            .bytes(named)
            .text(": ")
            .text(&errno.message())
            .write(Level::Warning);
        return false;
    }
    let aof_fd = server::aof_fd();
    if aof_fd != -1 {
        if let Err(errno) = sys::seek_to_end(aof_fd) {
            Line::new("Can't seek the end of the AOF file ")
                .bytes(named)
                .text(": ")
                .text(&errno.message())
                .write(Level::Warning);
            return false;
        }
    }
    true
}
