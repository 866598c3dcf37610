//! The fake client that replays an AOF: commands run in its context exactly as upstream
//! runs them while loading (lookup, MULTI queueing, direct `proc` call, no replies).

use super::bindings::{self, client, redisCommand, robj};
use super::db::Db;
use super::{process, server};
use crate::unwritten::UnwrittenBytes;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts the moments at which a module's command may have been freed: every command run
/// (MODULE UNLOAD frees the module's commands, `moduleUnregisterCommands`) and every round
/// of serving other clients while loading. Process-wide, as `aof_buf`'s flag is.
static COMMAND_TABLE_EPOCH: AtomicU64 = AtomicU64::new(0);

/// The command table may have changed: a module's [`Command`] looked up before is stale.
pub(super) fn command_table_may_change() {
    COMMAND_TABLE_EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// A command found in the command table. The server's own commands live for the whole
/// process: upstream builds them once at start-up (`populateCommandTable`) and renames
/// them only from the configuration file, before loading; only a module's commands are
/// ever freed (`moduleUnregisterCommands`, on MODULE UNLOAD, which an AOF may hold). So a
/// module's command is usable only until the next command runs (or clients are served),
/// and every use checks that, aborting rather than reading a freed command.
#[derive(Clone, Copy)]
pub struct Command {
    cmd: *mut redisCommand,
    native: bool,
    epoch: u64,
}

impl Command {
    /// # Safety
    /// `cmd` must be a command of the table, just looked up.
    unsafe fn found(cmd: *mut redisCommand) -> Command {
        Command {
            cmd,
            // SAFETY: just looked up, so live.
            native: unsafe { (*cmd).module_cmd.is_null() },
            epoch: COMMAND_TABLE_EPOCH.load(Ordering::Relaxed),
        }
    }

    /// The command, checked live (see the type).
    #[inline]
    fn get(&self) -> &redisCommand {
        process::assert(
            self.native || self.epoch == COMMAND_TABLE_EPOCH.load(Ordering::Relaxed),
            c"a module command is not used after the command table may have changed",
        );
        // SAFETY: a native command lives for the process; a module's was looked up since
        // the last moment the table could change (checked above).
        unsafe { &*self.cmd }
    }

    #[inline]
    fn proc_address(&self) -> usize {
        self.get().proc_.map_or(0, |f| f as usize)
    }

    #[inline]
    pub fn is_multi(&self) -> bool {
        self.proc_address() == bindings::multiCommand as *const () as usize
    }

    #[inline]
    pub fn is_exec(&self) -> bool {
        self.proc_address() == bindings::execCommand as *const () as usize
    }

    /// Whether `argc` arguments (the name included) fit the command's arity, as
    /// `processCommand` checks before running anything a client sends.
    pub fn accepts_argc(&self, argc: usize) -> bool {
        let arity = i64::from(self.get().arity);
        let argc = argc as i64;
        if arity > 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Whether the command is one of the server's own (not a module's), which may be
    /// looked up once and reused for the whole load (see the type).
    pub fn is_native(&self) -> bool {
        self.native
    }

    /// Whether the command is found by its name alone, whatever the arguments after it:
    /// neither a container (`CONFIG` without arguments) nor a subcommand (`CONFIG|SET`,
    /// which a lookup of the same name with other arguments would not return).
    pub fn is_found_by_name_alone(&self) -> bool {
        let cmd = self.get();
        cmd.subcommands_dict.is_null() && cmd.parent.is_null()
    }
}

/// Upstream's AOF client (`createAOFClient`): never blocked, never replied to.
pub struct AofClient {
    raw: *mut client,
    /// The previous command's name object, kept when nothing else holds it: an AOF
    /// repeats a few command names, so the next argv[0] is usually this very string.
    kept_name: *mut robj,
}

impl AofClient {
    pub fn create() -> AofClient {
        // SAFETY: createClient(NULL) makes a client with no connection; the fields set
        // here are plain data of that fresh client.
        unsafe {
            let c = bindings::createClient(std::ptr::null_mut());
            // So modules can tell the AOF client apart.
            (*c).id = bindings::redis_aof_shim_client_id_aof();
            // Blocking it could deadlock loading or reorder commands.
            (*c).flags = bindings::CLIENT_DENY_BLOCKING;
            // A replica waiting for its sync never gets replies written to it.
            (*c).replstate = bindings::SLAVE_STATE_WAIT_BGSAVE_START as i32;
            AofClient {
                raw: c,
                kept_name: std::ptr::null_mut(),
            }
        }
    }

    pub fn as_ptr(&self) -> *mut client {
        self.raw
    }

    /// Makes this client `server.current_client` and `server.executing_client` (as
    /// upstream's loader does, so commands see who runs them) for as long as the returned
    /// wrapper lives; dropping it puts the previous ones back, then frees the client, so
    /// the server never points at a freed client.
    pub fn into_current(self) -> CurrentAofClient {
        // SAFETY: a live client, owned by the wrapper and freed only after the old
        // values are back.
        let previous = unsafe {
            (
                server::replace_current_client(self.raw),
                server::replace_executing_client(self.raw),
            )
        };
        CurrentAofClient {
            client: self,
            previous,
        }
    }

    /// The db the client's commands run in (changed by SELECT).
    pub fn db(&self) -> Option<Db> {
        // SAFETY: plain field read of a live client, whose `db` is NULL or set by selectDb
        // to an element of server.db.
        unsafe { Db::from_raw((*self.raw).db) }
    }

    /// Appends arguments to the client's argument vector (one string object per argument,
    /// built the way the network path builds them: small strings in a single allocation).
    /// A command comes in one call, or in pieces when the read window cuts it. The array
    /// left by the previous command is reused when it is large enough (MULTI queueing
    /// takes it away, a command may replace it; both leave `argv`/`argv_len` saying so).
    pub fn push_args<'a>(&mut self, args: impl ExactSizeIterator<Item = &'a [u8]>) {
        let first = self.reserve_args(args.len());
        // SAFETY: reserve_args made room for these arguments after the first `first`; the
        // client owns the array and the objects (freeClient, queueMultiCommand or a
        // command replacing argv releases them).
        unsafe {
            let argv = (*self.raw).argv;
            let mut argc = first;
            for arg in args {
                *argv.add(argc) = if argc == 0 {
                    self.name_object(arg)
                } else {
                    bindings::createStringObject(arg.as_ptr().cast(), arg.len())
                };
                argc += 1;
            }
            // Creating an object cannot fail (an allocation failure aborts the process),
            // so the count is set once, after the vector is filled.
            (*self.raw).argc = argc as i32;
        }
    }

    /// Moves the objects `args` of `pool` (built on the reading thread, see [`ArgPool`])
    /// after the arguments the client holds; the client owns them from here on, as with
    /// [`push_args`](Self::push_args). Objects already taken are skipped (none are, for
    /// the ranges of distinct commands).
    pub fn take_args(&mut self, pool: &mut ArgPool, args: std::ops::Range<usize>) {
        let Some(objects) = pool.objects.get_mut(args) else {
            return;
        };
        let first = self.reserve_args(objects.len());
        let mut argc = first;
        // SAFETY: reserve_args made room for these objects after the first `first`; each
        // moves from the pool (nulled there, so its drop frees none) to the client.
        unsafe {
            let argv = (*self.raw).argv;
            for slot in objects {
                let obj = std::mem::replace(slot, std::ptr::null_mut());
                if !obj.is_null() {
                    *argv.add(argc) = obj;
                    argc += 1;
                }
            }
            (*self.raw).argc = argc as i32;
        }
    }

    /// Appends an argument of `len` bytes that `fill` writes in place (a large argument
    /// read straight from the file into its own string, as upstream's loader reads every
    /// argument). The argument is part of the vector whether `fill` succeeds or not, so
    /// [`free_argv`](Self::free_argv) releases it either way. Returns what `fill` returns.
    pub fn push_filled_arg<E>(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut UnwrittenBytes) -> Result<(), E>,
    ) -> Result<(), E> {
        let at = self.reserve_args(1);
        // SAFETY: reserve_args made room at index `at`; the object is new (see
        // unwritten_string) and its bytes are all written (`finish`) before the argument
        // can be read; the client frees it as any argument.
        unsafe {
            let (obj, bytes) = unwritten_string(len);
            let c = &mut *self.raw;
            *c.argv.add(at) = obj;
            c.argc = at as i32 + 1;
            let mut bytes = UnwrittenBytes::new(bytes);
            let filled = fill(&mut bytes);
            bytes.finish();
            filled
        }
    }

    /// Makes room for `more` arguments after those the client holds; returns the index of
    /// the first. Growth at least doubles, so a command in many pieces is copied a
    /// bounded number of times.
    #[inline]
    fn reserve_args(&mut self, more: usize) -> usize {
        // SAFETY: live client; argv is NULL or an array of argv_len pointers from
        // zmalloc, of which the first argc are set (zrealloc keeps them).
        unsafe {
            let c = &mut *self.raw;
            let first = c.argc.max(0) as usize;
            let needed = first + more;
            if c.argv.is_null() || (c.argv_len as usize) < needed {
                let len = if first == 0 {
                    needed
                } else {
                    needed.max(2 * c.argv_len.max(0) as usize)
                };
                let size = std::mem::size_of::<*mut robj>() * len;
                c.argv = if first == 0 {
                    bindings::zfree(c.argv.cast());
                    bindings::zmalloc(size).cast()
                } else {
                    bindings::zrealloc(c.argv.cast(), size).cast()
                };
                c.argv_len = len as i32;
            }
            first
        }
    }

    /// The object for a command name: the previous command's name object when it holds
    /// the same bytes (an AOF repeats a few names), else a new one.
    ///
    /// # Safety
    /// Called for argv[0] only, so the kept name is given to at most one vector.
    #[inline]
    unsafe fn name_object(&mut self, name: &[u8]) -> *mut robj {
        let kept_name = std::mem::replace(&mut self.kept_name, std::ptr::null_mut());
        // SAFETY: the kept name is NULL or a live object this client alone holds.
        unsafe {
            if is_same_string(kept_name, name) {
                return kept_name;
            }
            if !kept_name.is_null() {
                bindings::decrRefCount(kept_name);
            }
            bindings::createStringObject(name.as_ptr().cast(), name.len())
        }
    }

    /// Arguments the client holds (a command put together from pieces has some before its
    /// last piece).
    pub fn argc(&self) -> usize {
        // SAFETY: plain field read of a live client.
        unsafe { (*self.raw).argc.max(0) as usize }
    }

    /// The bytes of argument `index` the client holds (every argument a loader builds is
    /// a raw or embstr string object; `None` past the arguments).
    pub fn arg(&self, index: usize) -> Option<&[u8]> {
        if index >= self.argc() {
            return None;
        }
        // SAFETY: the first argc entries of argv are live objects the client owns, left
        // as they are until free_argv or a command run, both of which take `&mut self`.
        match unsafe { super::object::string_value(*(*self.raw).argv.add(index)) } {
            super::object::StringValue::Bytes(bytes) => Some(bytes),
            super::object::StringValue::Int(_) => None,
        }
    }

    pub fn lookup_command(&self) -> Option<Command> {
        // SAFETY: argv/argc were set by push_args.
        let cmd = unsafe { bindings::lookupCommand((*self.raw).argv, (*self.raw).argc) };
        // SAFETY: lookupCommand returns NULL or a command of the table.
        (!cmd.is_null()).then(|| unsafe { Command::found(cmd) })
    }

    /// The first argument's bytes (the command name), for error messages.
    pub fn command_name(&self) -> Vec<u8> {
        // SAFETY: argv[0] is a string object created by push_args.
        unsafe {
            if (*self.raw).argc == 0 {
                return Vec::new();
            }
            match super::object::string_value(*(*self.raw).argv) {
                super::object::StringValue::Bytes(b) => b.to_vec(),
                super::object::StringValue::Int(n) => n.to_string().into_bytes(),
            }
        }
    }

    pub fn in_multi(&self) -> bool {
        // SAFETY: plain field read of a live client.
        unsafe { (*self.raw).flags & bindings::CLIENT_MULTI as u64 != 0 }
    }

    /// Runs (or, inside MULTI, queues) the command, then checks upstream's invariants:
    /// the AOF client got no reply and was not blocked.
    pub fn execute(&mut self, cmd: Command) {
        let flags = cmd.get().flags;
        let proc_ = cmd.get().proc_;
        let queue = self.in_multi() && !cmd.is_exec();
        // From here on a module's command may be freed (the command run may be MODULE
        // UNLOAD): it is not used again.
        command_table_may_change();
        // SAFETY: a live client with a looked-up, live command (checked by `get`) and its
        // argv; the command's proc is upstream's implementation for exactly this client
        // type.
        unsafe {
            (*self.raw).cmd = cmd.cmd;
            (*self.raw).lastcmd = cmd.cmd;
            if queue {
                #[cfg(pending_commands)]
                pend_current_command(&mut *self.raw);
                bindings::queueMultiCommand(self.raw, flags);
            } else if let Some(proc_) = proc_ {
                proc_(self.raw);
                // Nothing else clears it for a client whose commands are not read from a
                // connection, as upstream's loader notes; freeClient checks it.
                #[cfg(pending_commands)]
                {
                    (*self.raw).all_argv_len_sum = 0;
                }
            }
            process::assert(
                (*self.raw).bufpos == 0 && super::adlist::len((*self.raw).reply) == 0,
                c"fakeClient->bufpos == 0 && listLength(fakeClient->reply) == 0",
            );
            process::assert(
                (*self.raw).flags & bindings::CLIENT_BLOCKED as u64 == 0,
                c"(fakeClient->flags & CLIENT_BLOCKED) == 0",
            );
        }
    }

    /// Releases the arguments as [`free_argv`](Self::free_argv) does, except that an
    /// object no one else holds (reference count 1: the command kept no reference, and no
    /// shared object has that count) goes to `pool`, to be freed with it, on the thread
    /// that drops or clears the pool: the reading thread that built it, whose allocator
    /// cache it returns to (freeing it here would hand it across threads in the
    /// allocator, which costs more than building it).
    pub fn release_args_into(&mut self, pool: &mut ArgPool) {
        // SAFETY: live client; its first `argc` argv entries are objects it owns (zero
        // when MULTI queueing took the array). An object with reference count 1 is held
        // by argv alone, so moving it to the pool moves its only reference.
        unsafe {
            let c = &mut *self.raw;
            for j in 0..c.argc.max(0) as usize {
                let arg = *c.argv.add(j);
                if super::object::refcount(arg) == 1 {
                    pool.objects.push(arg);
                } else {
                    bindings::decrRefCount(arg);
                }
            }
            forget_args(c);
        }
    }

    /// Releases the arguments as `freeClientArgv` does, but keeps the array for the next
    /// command (commands may have replaced argv; the client's own view is what is freed).
    pub fn free_argv(&mut self) {
        // SAFETY: live client; its first `argc` argv entries are objects it owns (zero
        // when MULTI queueing took the array).
        unsafe {
            let c = &mut *self.raw;
            for j in 0..c.argc.max(0) as usize {
                let arg = *c.argv.add(j);
                // Only a name this client alone holds, unchanged (refcount 1: no command
                // kept it, and a command that replaced argv[0] left another object here).
                if j == 0 && self.kept_name.is_null() && super::object::refcount(arg) == 1 {
                    self.kept_name = arg;
                } else {
                    bindings::decrRefCount(arg);
                }
            }
            forget_args(c);
        }
    }
}

impl Drop for AofClient {
    fn drop(&mut self) {
        // SAFETY: the client was created by createClient and is freed once; the kept
        // name is an object this client alone holds.
        unsafe {
            if !self.kept_name.is_null() {
                bindings::decrRefCount(self.kept_name);
            }
            bindings::freeClient(self.raw)
        }
    }
}

/// An [`AofClient`] that is the server's current and executing client (see
/// [`AofClient::into_current`]).
pub struct CurrentAofClient {
    client: AofClient,
    previous: (*mut client, *mut client),
}

impl std::ops::Deref for CurrentAofClient {
    type Target = AofClient;
    fn deref(&self) -> &AofClient {
        &self.client
    }
}

impl std::ops::DerefMut for CurrentAofClient {
    fn deref_mut(&mut self) -> &mut AofClient {
        &mut self.client
    }
}

impl Drop for CurrentAofClient {
    fn drop(&mut self) {
        // SAFETY: the values that were there before into_current, put back before the
        // client itself is freed (the field drops after this).
        unsafe {
            server::replace_current_client(self.previous.0);
            server::replace_executing_client(self.previous.1);
        }
    }
}

/// After its arguments are released: no arguments, no command, as `freeClientArgv`
/// leaves a client (the array stays for the next command).
fn forget_args(c: &mut client) {
    c.argc = 0;
    c.cmd = std::ptr::null_mut();
    #[cfg(not(pending_commands))]
    {
        c.iolookedcmd = std::ptr::null_mut();
        c.argv_len_sum = 0;
    }
    #[cfg(pending_commands)]
    {
        c.lookedcmd = std::ptr::null_mut();
    }
}

/// `queueMultiCommand` moves the client's first pending command into the transaction
/// (and takes the client's argv with it), so the loader hands it one, as upstream's
/// loader does: a new `pendingCommand` holding the client's current command and argv,
/// queued on the client's list (where `freeClient` reclaims whatever is left).
///
/// # Safety
/// `c` is a live client whose `argv` holds its current command's `argc` arguments.
#[cfg(pending_commands)]
unsafe fn pend_current_command(c: &mut client) {
    // SAFETY: zmalloc returns memory for one pendingCommand (it aborts on failure), which
    // initPendingCommand clears; addPendingCommand links it into the client's own list,
    // which owns it from then on.
    unsafe {
        let pcmd = bindings::zmalloc(std::mem::size_of::<bindings::pendingCommand>())
            as *mut bindings::pendingCommand;
        bindings::initPendingCommand(pcmd);
        bindings::addPendingCommand(&mut c.pending_cmds, pcmd);
        (*pcmd).argc = c.argc;
        (*pcmd).argv_len = c.argv_len;
        (*pcmd).argv = c.argv;
        (*pcmd).cmd = c.cmd;
    }
}

/// Whether `o` (possibly NULL) is a raw or embstr string object holding exactly `bytes`.
///
/// # Safety
/// `o` must be NULL or a live object.
unsafe fn is_same_string(o: *mut robj, bytes: &[u8]) -> bool {
    if o.is_null() {
        return false;
    }
    // SAFETY: `o` is NULL or a live object (this fn's # Safety) and was checked non-null
    // above; `string_value`'s result is used only for the comparison, while nothing runs
    // that could modify the object.
    match unsafe { super::object::string_value(o) } {
        super::object::StringValue::Bytes(b) => b == bytes,
        super::object::StringValue::Int(_) => false,
    }
}

/// The argument objects of a batch of commands built away from the main thread (by the
/// pipelined loader's reading thread), owned here until [`AofClient::take_args`] moves a
/// command's to the AOF client on the main thread; `drop` frees those not taken. One
/// vector serves a whole batch, so a command costs no allocation besides its objects.
///
/// Building them off the main thread is what upstream's own IO threads do with every
/// query since 8.0: `processInputBuffer` runs on an IO thread (`running_tid` is not the
/// main thread's, networking.c) and its `processMultibulkBuffer` calls the same
/// `createStringObject` (`sdsnewlen` and `createObject` underneath, which the pool calls
/// directly for a large argument), which allocate through zmalloc (thread-safe: each
/// thread counts its memory in its own slot, zmalloc.c) and set no field from server state
/// (`createObject` sets `lru` to 0). The objects are new, so nothing else refers to them
/// until they are handed over through a channel, which orders their writes before the
/// main thread's reads.
pub struct ArgPool {
    /// The objects in the order built; a taken one is null.
    objects: Vec<*mut robj>,
}

// SAFETY: the objects are owned by the pool alone (see the type); moving the pool to
// another thread moves that ownership, and `sdsnewlen`/`createObject`/`decrRefCount` of
// such an unshared string object are thread-safe as explained on the type.
unsafe impl Send for ArgPool {}

impl ArgPool {
    pub fn with_capacity(capacity: usize) -> ArgPool {
        ArgPool {
            objects: Vec::with_capacity(capacity),
        }
    }

    /// Objects built (taken or not).
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Appends an argument (one string object, built as [`AofClient::push_args`] builds
    /// it).
    pub fn push(&mut self, arg: &[u8]) {
        // SAFETY: createStringObject copies `arg` into a new object (see the type for why
        // any thread may call it).
        let obj = unsafe { bindings::createStringObject(arg.as_ptr().cast(), arg.len()) };
        self.objects.push(obj);
    }

    /// Appends the arguments `spans` of `window` (a parser's argument spans).
    pub fn push_spans(&mut self, window: &[u8], spans: &[std::ops::Range<usize>]) {
        for span in spans {
            self.push(&window[span.clone()]);
        }
    }

    /// Appends an argument of `len` bytes that `fill` writes in place, as
    /// [`AofClient::push_filled_arg`] does; the argument is in the pool whether `fill`
    /// succeeds or not.
    pub fn push_filled<E>(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut UnwrittenBytes) -> Result<(), E>,
    ) -> Result<(), E> {
        // SAFETY: the object is new (see unwritten_string) and its bytes are all written
        // (`finish`) before the pool can hand it out; the pool frees it as any.
        unsafe {
            let (obj, bytes) = unwritten_string(len);
            self.objects.push(obj);
            let mut bytes = UnwrittenBytes::new(bytes);
            let filled = fill(&mut bytes);
            bytes.finish();
            filled
        }
    }

    /// Frees the objects, keeping the vector's room for the next batch.
    pub fn clear(&mut self) {
        for &obj in self.objects.iter().filter(|obj| !obj.is_null()) {
            // SAFETY: objects this pool alone owns (see the type), released once.
            unsafe { bindings::decrRefCount(obj) };
        }
        self.objects.clear();
    }

    /// Cache hints for the objects `args` (not taken yet): the reading thread wrote them
    /// on another core, so the main thread's first touch of each would otherwise wait for
    /// the line to come over. Each object's header and the start of its string (an
    /// embstr's string follows its header in the same allocation) are hinted.
    pub fn hint(&self, args: std::ops::Range<usize>) {
        for &obj in self.objects.get(args).unwrap_or(&[]) {
            super::prefetch::hint(obj.cast());
            super::prefetch::hint(obj.cast::<u8>().wrapping_add(64));
        }
    }

    /// The bytes of object `index`, unless taken (every object is a raw or embstr string).
    pub fn arg(&self, index: usize) -> Option<&[u8]> {
        let obj = *self.objects.get(index)?;
        if obj.is_null() {
            return None;
        }
        // SAFETY: an object this pool owns and nothing modifies while it is borrowed.
        match unsafe { super::object::string_value(obj) } {
            super::object::StringValue::Bytes(bytes) => Some(bytes),
            super::object::StringValue::Int(_) => None,
        }
    }
}

impl Drop for ArgPool {
    fn drop(&mut self) {
        for &obj in self.objects.iter().filter(|obj| !obj.is_null()) {
            // SAFETY: objects this pool alone owns (see the type), released once.
            unsafe { bindings::decrRefCount(obj) };
        }
    }
}

/// Upstream's `createAOFClient` for C callers: ownership goes to the caller.
pub fn create_raw() -> *mut client {
    let c = AofClient::create();
    let raw = c.raw;
    std::mem::forget(c);
    raw
}

/// A new string object of `len` bytes that nothing has written yet, made as upstream's
/// loader makes each argument (`createObject(OBJ_STRING, sdsnewlen(SDS_NOINIT, len))`,
/// raw-encoded whatever its length), and those bytes.
///
/// # Safety
/// The bytes are the string's own: `sdsnewlen` returns an sds whose `len` bytes follow its
/// header in one allocation, and under `SDS_NOINIT` skips the `memset` that clears them
/// (sds.c: `if (init==SDS_NOINIT) init = NULL;`), writing only the header and the
/// terminator; `createObject` stores that sds as `ptr` without touching it. Until all
/// `len` bytes are written ([`UnwrittenBytes::finish`]) nothing may read the string, and
/// the caller, who owns the one reference to the object, must not free it while the slice
/// is in use; the slice's lifetime is the caller's to bound. (Freeing reads only the
/// header: `decrRefCount` → `sdsfree`.)
unsafe fn unwritten_string<'a>(len: usize) -> (*mut robj, &'a mut [MaybeUninit<u8>]) {
    // SAFETY: `SDS_NOINIT` is sds.c's `const char *SDS_NOINIT = "SDS_NOINIT";`, which
    // nothing assigns after load, so reading the static races with no writer. `sdsnewlen`
    // takes it as its marker, not as bytes to copy, and never returns NULL (`_sdsnewlen`
    // with `trymalloc` 0 asserts the size does not overflow and allocates with
    // `s_malloc_usable`, which aborts on OOM).
    let s = unsafe { bindings::sdsnewlen(bindings::SDS_NOINIT.cast(), len) };
    // SAFETY: `s` is the new sds just made, referred to by nothing else; `createObject`
    // (object.c) zmallocs the header, stores `s` as `ptr` without reading it and gives the
    // object refcount 1, so the caller owns its one reference (this fn's # Safety).
    let obj = unsafe { bindings::createObject(bindings::OBJ_STRING as i32, s.cast()) };
    // SAFETY: `sdsnewlen` returned `s` pointing at the first of `len` bytes of its own
    // allocation (header before, terminator after), uninitialised under `SDS_NOINIT`,
    // which `MaybeUninit<u8>` admits; nothing else refers to them (the object is new and
    // not read until `finish`), and the caller keeps the object alive for `'a` (this fn's
    // # Safety), so a unique slice for `'a` is sound.
    let bytes = unsafe { std::slice::from_raw_parts_mut(s.cast(), len) };
    (obj, bytes)
}
