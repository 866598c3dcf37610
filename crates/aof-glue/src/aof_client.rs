//! The fake client that replays an AOF: commands run in its context exactly as upstream
//! runs them while loading (lookup, MULTI queueing, direct `proc` call, no replies).

use super::arg_pool::ArgPool;
use super::bindings::{self, client, robj};
use super::command::{command_table_may_change, Command};
use super::db::Db;
use super::process;
use crate::unwritten::{unwritten_string, UnwrittenBytes};

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

    /// Upstream's `createAOFClient` for C callers: ownership goes to the caller.
    pub fn into_raw(self) -> *mut client {
        let raw = self.raw;
        std::mem::forget(self);
        raw
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

    /// Moves the objects `args` of `pool` (built on the reading thread, see
    /// [`super::arg_pool::ArgPool`]) after the arguments the client holds; the client owns
    /// them from here on, as with [`push_args`](Self::push_args). Objects already taken
    /// are skipped (none are, for the ranges of distinct commands).
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
            (*self.raw).cmd = cmd.as_ptr();
            (*self.raw).lastcmd = cmd.as_ptr();
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
