//! The fake client that replays an AOF: commands run in its context exactly as upstream
//! runs them while loading (lookup, MULTI queueing, direct `proc` call, no replies).

use super::bindings::{self, client, redisCommand, robj};
use super::process;

/// A command found in the command table.
#[derive(Clone, Copy)]
pub struct Command(*mut redisCommand);

impl Command {
    fn proc_address(&self) -> usize {
        // SAFETY: commands from lookupCommand live as long as the command table.
        unsafe { (*self.0).proc_ }.map_or(0, |f| f as usize)
    }

    pub fn is_multi(&self) -> bool {
        self.proc_address() == bindings::multiCommand as *const () as usize
    }

    pub fn is_exec(&self) -> bool {
        self.proc_address() == bindings::execCommand as *const () as usize
    }

    /// Whether `argc` arguments (the name included) fit the command's arity, as
    /// `processCommand` checks before running anything a client sends.
    pub fn accepts_argc(&self, argc: usize) -> bool {
        // SAFETY: as in proc_address.
        let arity = i64::from(unsafe { (*self.0).arity });
        let argc = argc as i64;
        if arity > 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Whether the command is found by its name alone, whatever the arguments after it:
    /// neither a container (`CONFIG` without arguments) nor a subcommand (`CONFIG|SET`,
    /// which a lookup of the same name with other arguments would not return).
    pub fn is_found_by_name_alone(&self) -> bool {
        // SAFETY: as in proc_address.
        unsafe { (*self.0).subcommands_dict.is_null() && (*self.0).parent.is_null() }
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

    /// The db the client's commands run in (changed by SELECT).
    pub fn db(&self) -> *mut bindings::redisDb {
        // SAFETY: plain field read of a live client.
        unsafe { (*self.raw).db }
    }

    /// Gives the client a new argument vector (one string object per argument, built the
    /// way the network path builds them: small strings in a single allocation). The array
    /// left by the previous command is reused when it is large enough (MULTI queueing
    /// takes it away, a command may replace it; both leave `argv`/`argv_len` saying so).
    pub fn set_argv<'a>(&mut self, args: impl ExactSizeIterator<Item = &'a [u8]>) {
        let argc = args.len();
        // SAFETY: the array holds at least `argc` pointers and is filled before use; the
        // client owns it (freeClient, queueMultiCommand or a command replacing it
        // releases it).
        unsafe {
            let c = &mut *self.raw;
            if c.argv.is_null() || (c.argv_len as usize) < argc {
                bindings::zfree(c.argv.cast());
                c.argv = bindings::zmalloc(std::mem::size_of::<*mut robj>() * argc).cast();
                c.argv_len = argc as i32;
            }
            let kept_name = std::mem::replace(&mut self.kept_name, std::ptr::null_mut());
            for (j, arg) in args.enumerate() {
                *c.argv.add(j) = if j == 0 && is_same_string(kept_name, arg) {
                    kept_name
                } else {
                    if j == 0 && !kept_name.is_null() {
                        bindings::decrRefCount(kept_name);
                    }
                    bindings::createStringObject(arg.as_ptr().cast(), arg.len())
                };
            }
            if argc == 0 && !kept_name.is_null() {
                bindings::decrRefCount(kept_name);
            }
            c.argc = argc as i32;
        }
    }

    pub fn lookup_command(&self) -> Option<Command> {
        // SAFETY: argv/argc were set by set_argv.
        let cmd = unsafe { bindings::lookupCommand((*self.raw).argv, (*self.raw).argc) };
        (!cmd.is_null()).then_some(Command(cmd))
    }

    /// The first argument's bytes (the command name), for error messages.
    pub fn command_name(&self) -> Vec<u8> {
        // SAFETY: argv[0] is a string object created by set_argv.
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
        // SAFETY: a live client with a looked-up command and its argv; the command's proc
        // is upstream's implementation for exactly this client type.
        unsafe {
            (*self.raw).cmd = cmd.0;
            (*self.raw).lastcmd = cmd.0;
            if self.in_multi() && !cmd.is_exec() {
                bindings::queueMultiCommand(self.raw, (*cmd.0).flags);
            } else if let Some(proc_) = (*cmd.0).proc_ {
                proc_(self.raw);
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
                if j == 0 && self.kept_name.is_null() && (*arg).refcount == 1 {
                    self.kept_name = arg;
                } else {
                    bindings::decrRefCount(arg);
                }
            }
            c.argc = 0;
            c.cmd = std::ptr::null_mut();
            c.iolookedcmd = std::ptr::null_mut();
            c.argv_len_sum = 0;
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

/// Whether `o` (possibly NULL) is a raw or embstr string object holding exactly `bytes`.
///
/// # Safety
/// `o` must be NULL or a live object.
unsafe fn is_same_string(o: *mut robj, bytes: &[u8]) -> bool {
    if o.is_null() {
        return false;
    }
    // SAFETY: per the caller, a live object.
    match unsafe { super::object::string_value(o) } {
        super::object::StringValue::Bytes(b) => b == bytes,
        super::object::StringValue::Int(_) => false,
    }
}

/// Upstream's `createAOFClient` for C callers: ownership goes to the caller.
pub fn create_raw() -> *mut client {
    let c = AofClient::create();
    let raw = c.raw;
    std::mem::forget(c);
    raw
}
